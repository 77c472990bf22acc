"""The servers the tests start are the versions the stacks deploy.

tools/build.py builds Prometheus, Alertmanager and Jaeger from their Go modules
(tools/go/<name>/go.mod); components/platform/images.toml pins the images.
A pin that moves without its tool, or a tool that moves without its pin,
fails here.
"""

import re
import subprocess

import pytest

from components.platform.images import IMAGES
from tests.conftest import built_tool

# (image pinned in images.toml, tool built by tools/build.py, binary, version flag)
TOOLS_OF_IMAGES = [
    ("prometheus", "prometheus", "prometheus", "--version"),
    ("prometheus", "prometheus", "promtool", "--version"),
    ("alertmanager", "alertmanager", "alertmanager", "--version"),
    ("alertmanager", "alertmanager", "amtool", "--version"),
    ("jaeger", "jaeger", "jaeger", "version"),
]


def reported_version(output: str) -> str:
    """The first x.y.z in a tool's version output, without a leading 'v'."""
    match = re.search(r"v?(\d+\.\d+\.\d+)", output)
    assert match, f"no version in:\n{output}"
    return match.group(1)


@pytest.mark.parametrize(
    ("image", "tool", "binary", "flag"), TOOLS_OF_IMAGES, ids=[t[2] for t in TOOLS_OF_IMAGES]
)
def test_built_tool_is_the_pinned_image_version(image: str, tool: str, binary: str, flag: str) -> None:
    result = subprocess.run(
        [str(built_tool(tool) / "bin" / binary), flag],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    pinned = re.sub(r"^v|-.*$", "", IMAGES[image].version)
    assert reported_version(result.stdout + result.stderr) == pinned
