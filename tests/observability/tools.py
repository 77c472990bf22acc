"""Running the real consumers of the generated files: promtool, amtool, prometheus, jaeger.

Every one of them is the version the stacks deploy, built by tools/build.py;
a distribution's older promtool or amtool on PATH is never used.
"""

import subprocess
from pathlib import Path

from tests.conftest import built_tool

BUILT_BY = {
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "alertmanager": "alertmanager",
    "amtool": "alertmanager",
    "jaeger": "jaeger",
}
"""Binary name to the tools/build.py tool that builds it."""


def tool_path(binary: str) -> str:
    """The built binary (skips, or fails in CI, when tools/build.py has not built it)."""
    return str(built_tool(BUILT_BY[binary]) / "bin" / binary)


def run_tool(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a built CLI tool and capture its output."""
    return subprocess.run(
        [tool_path(args[0]), *args[1:]], capture_output=True, text=True, cwd=cwd, timeout=timeout, check=False
    )


def describe(result: subprocess.CompletedProcess[str]) -> str:
    """The command, its exit code and everything it printed, for assertion messages."""
    return (
        f"$ {' '.join(str(a) for a in result.args)}\nexit {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    """The tool succeeded; otherwise show what it said."""
    assert result.returncode == 0, describe(result)
