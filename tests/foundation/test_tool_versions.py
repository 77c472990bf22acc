"""The programs the tests run are the versions the stacks deploy.

tools/build.py builds Prometheus, Alertmanager and Jaeger from their Go modules
(tools/go/<name>/go.mod); components/platform/images.toml pins the images.
The Pulumi CLI is the release the workflows install, the Kubernetes provider
the release of the Python SDK in requirements.txt. A pin that moves without
its tool, or a tool that moves without its pin, fails here.
"""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from components.platform.images import IMAGES
from tests.conftest import built_tool
from tests.engine.engine import Engine, provider_binary
from tools.build import kubernetes_provider_release, pulumi_release

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


def test_the_built_cli_reports_the_release_tools_go_pulumi_requires() -> None:
    result = subprocess.run(
        [str(built_tool("pulumi") / "bin" / "pulumi"), "version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"},
    )

    assert result.stdout.strip() == pulumi_release()


def test_the_built_provider_serves_the_release_tools_go_pulumi_kubernetes_pins(
    engine: Engine, tmp_path: Path
) -> None:
    # The schema the provider serves over its gRPC interface carries the version
    # stamped at build time; the CLI asks it the way it does for a program. That
    # release is the Python SDK's pin (tests/foundation/test_project_files.py).
    provider = provider_binary(built_tool("pulumi-kubernetes"))
    result = subprocess.run(
        [str(engine.cli_dir / "pulumi"), "package", "get-schema", str(provider)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=tmp_path,
        env={**os.environ, "PULUMI_HOME": str(engine.pulumi_home), "PULUMI_SKIP_UPDATE_CHECK": "true"},
    )

    assert json.loads(result.stdout)["version"] == kubernetes_provider_release()
