"""Shared fixtures: the whole program run under mocks, once per stack; the built tools on PATH."""

import os
import shutil
from pathlib import Path

import pytest

from infra.mockrun import ProgramRun, run_program
from tests.engine.engine import Engine
from tools.build import TOOLS, installed

REQUIRE_TOOLS_ENV = "PERFSTACK_REQUIRE_TOOLS"
"""Set to 1 (CI does) to turn a tool that `tools/build.py` has not built into a failure, not a skip."""

# The tools/build.py cache comes first on PATH, so the servers and CLIs the
# tests run are the versions the stacks pin, never a distribution's older ones.
os.environ["PATH"] = os.pathsep.join(
    [*(str(d / "bin") for d in map(installed, TOOLS) if d), os.environ.get("PATH", "")]
)

# Recognisable values, so a test can search every output for them.
KNOWN_SECRETS = {
    "redisPassword": "redis-Secret-Value-4711",
    "grafanaAdminPassword": "grafana-Secret-Value-4712",
    "slackWebhookUrl": "https://hooks.slack.invalid/services/SECRET-4713",
    "smtpPassword": "smtp-Secret-Value-4714",
    "pagerdutyRoutingKey": "pagerduty-Secret-Value-4715",
    "deadMansSwitchUrl": "https://heartbeat.invalid/ping/SECRET-4716",
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


@pytest.fixture(scope="session")
def dev() -> ProgramRun:
    return run_stack("dev")


@pytest.fixture(params=["dev", "staging", "production"])
def stack_run(request: pytest.FixtureRequest) -> ProgramRun:
    """Each stack file's mocked run in turn."""
    return request.getfixturevalue(request.param)


def built_tool(name: str) -> Path:
    """The cache directory of a tool that `python3 tools/build.py` builds (``bin/``, ``share/``).

    Skips with the build command when it is missing, or fails when
    ``PERFSTACK_REQUIRE_TOOLS=1`` (CI builds every tool first).
    """
    directory = installed(name)
    if directory is None:
        message = f"{name} is not built: run `python3 tools/build.py --only {name}`"
        if os.environ.get(REQUIRE_TOOLS_ENV) == "1":
            pytest.fail(message)
        pytest.skip(message)
    return directory


def require_tool(name: str) -> str:
    """The path of a tool the tests need; CI installs them, so a missing one is a failure."""
    path = shutil.which(name)
    assert path, f"{name} is not installed (see .ci/run for the install step)"
    return path


@pytest.fixture(scope="session")
def pulumi_cli(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """The built CLI with an empty plugin home: enough for CLI-only commands (`config set --path`).

    Skips when it is not built, or fails under ``PERFSTACK_REQUIRE_TOOLS=1``.
    """
    return Engine(cli_dir=built_tool("pulumi") / "bin", pulumi_home=tmp_path_factory.mktemp("pulumi-home"))


@pytest.fixture(scope="session")
def engine(pulumi_cli: Engine) -> Engine:
    """The built CLI with the built Kubernetes provider in its plugin home, shared by the session.

    Skips when either is not built, or fails under ``PERFSTACK_REQUIRE_TOOLS=1``.
    """
    return Engine.with_provider(pulumi_cli.cli_dir, built_tool("pulumi-kubernetes"), pulumi_cli.pulumi_home)
