"""Shared fixtures: the whole program run under mocks, once per stack."""

import shutil

import pytest

from infra.mockrun import ProgramRun, run_program

# Recognisable values, so a test can search every output for them.
KNOWN_SECRETS = {
    "redisPassword": "redis-Secret-Value-4711",
    "grafanaAdminPassword": "grafana-Secret-Value-4712",
    "slackWebhookUrl": "https://hooks.slack.invalid/services/SECRET-4713",
    "smtpPassword": "smtp-Secret-Value-4714",
    "pagerdutyRoutingKey": "pagerduty-Secret-Value-4715",
}


def run_stack(stack: str, **kwargs: object) -> ProgramRun:
    """Run the program for ``stack`` with the known secrets set."""
    kwargs.setdefault("secrets", KNOWN_SECRETS)
    return run_program(stack, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def staging() -> ProgramRun:
    return run_stack("staging")


@pytest.fixture(scope="session")
def production() -> ProgramRun:
    return run_stack("production")


@pytest.fixture(params=["staging", "production"])
def stack_run(request: pytest.FixtureRequest, staging: ProgramRun, production: ProgramRun) -> ProgramRun:
    return {"staging": staging, "production": production}[request.param]


def require_tool(name: str) -> str:
    """The path of a tool the tests need; CI installs them, so a missing one is a failure."""
    path = shutil.which(name)
    assert path, f"{name} is not installed (see .ci/run for the install step)"
    return path
