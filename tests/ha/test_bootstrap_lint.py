"""bootstrap.sh is portable POSIX sh (busybox ash in the image, dash on Debian)."""

import subprocess
from pathlib import Path

from tests.conftest import require_tool

BOOTSTRAP = Path(__file__).resolve().parents[2] / "components" / "redis" / "bootstrap.sh"


def test_bootstrap_passes_shellcheck_as_posix_sh() -> None:
    result = subprocess.run(
        [require_tool("shellcheck"), "--shell=sh", "--severity=style", str(BOOTSTRAP)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
