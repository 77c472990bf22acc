"""Each stack's generated files and workload settings, as the servers under test get them."""

from dataclasses import dataclass

import pytest

from infra.mockrun import ProgramRun
from infra.render import config_files

STACKS = ("staging", "production")


@dataclass(frozen=True)
class Stack:
    """One stack's mocked run and every file it deploys (`<component>/<file>`, secrets masked)."""

    name: str
    run: ProgramRun
    files: dict[str, str]


@pytest.fixture(scope="module", params=STACKS)
def stack(request: pytest.FixtureRequest, staging: ProgramRun, production: ProgramRun) -> Stack:
    """Both stacks in turn; module-scoped so each server starts once per stack and module."""
    run = {"staging": staging, "production": production}[request.param]
    return Stack(request.param, run, config_files(run))
