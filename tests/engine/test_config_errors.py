"""Bad config and missing secrets stop the real engine with the messages the mock tests assert.

The program validates everything before declaring a resource; under the real
CLI that must still be what the operator reads, and nothing may be created.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.loader import ConfigError
from infra.mockrun import run_program
from tests.conftest import KNOWN_SECRETS
from tests.engine.engine import Engine
from tests.engine.project import PulumiProject

pytestmark = pytest.mark.engine


def mock_problems(overrides: dict[str, object], secrets: dict[str, str]) -> list[str]:
    """The problems the mocked run reports for the same config (what tests/foundation asserts)."""
    with pytest.raises(ConfigError) as error:
        run_program("production", overrides=overrides, secrets=secrets, placeholder_secrets=False)
    return error.value.problems


def assert_refused_with(project: PulumiProject, problems: list[str]) -> None:
    """preview and up both fail, print every problem line, and leave no resource in the state."""
    for operation in ("preview", "up"):
        result, _ = project.operate(operation, check=False)
        output = result.stdout + result.stderr
        assert result.returncode != 0, output
        for problem in problems:
            assert problem in output, output
    assert set(project.declared_types()) <= {"pulumi:pulumi:Stack"}, project.declared_types()


def test_a_missing_secret_stops_preview_and_up_with_the_command_that_sets_it(
    tmp_path: Path, engine: Engine
) -> None:
    project = PulumiProject(tmp_path, engine, stack="production", kubeconfig=None)
    given = {k: v for k, v in KNOWN_SECRETS.items() if k != "redisPassword"}
    project.set_secrets(given)

    problems = mock_problems({}, given)

    assert any("pulumi config set --secret perfstack:redisPassword" in p for p in problems)
    assert_refused_with(project, problems)


def test_a_bad_value_stops_preview_and_up_naming_its_key(tmp_path: Path, engine: Engine) -> None:
    project = PulumiProject(tmp_path, engine, stack="production", kubeconfig=None)
    project.set_secrets()
    project.set_path("redis.maxmemory", "lots")

    problems = mock_problems({"redis.maxmemory": "lots"}, KNOWN_SECRETS)

    assert [p.split(":", 2)[1] for p in problems] == ["redis.maxmemory"]
    assert_refused_with(project, problems)
