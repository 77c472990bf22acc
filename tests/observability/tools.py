"""Running the real consumers of the generated files: promtool, amtool, prometheus."""

import shutil
import subprocess
from pathlib import Path

import pytest


def run_tool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a CLI tool and capture its output; fail (not skip) when it is missing, CI installs it."""
    if shutil.which(args[0]) is None:
        pytest.fail(
            f"{args[0]} is not on PATH: install Debian's prometheus / prometheus-alertmanager packages"
        )
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=120, check=False)


def describe(result: subprocess.CompletedProcess[str]) -> str:
    """The command, its exit code and everything it printed, for assertion messages."""
    return (
        f"$ {' '.join(str(a) for a in result.args)}\nexit {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    """The tool succeeded; otherwise show what it said."""
    assert result.returncode == 0, describe(result)
