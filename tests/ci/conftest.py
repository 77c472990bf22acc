"""Fixtures for the CI tests: actionlint."""

import pytest

from tests.conftest import built_tool


@pytest.fixture(scope="session")
def actionlint() -> str:
    """The actionlint binary that tools/build.py builds from its Go module (no PyPI wheel works here)."""
    return str(built_tool("actionlint") / "bin" / "actionlint")
