"""The step began with the commit that set the canary's current weight and version."""

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from rollout.history import HistoryError, step_history

STACK = "test"


def stack_file(weight: int, version: str = "1.5.0", stable: str = "1.4.2") -> str:
    service = {"image": "ghcr.io/example/api", "stable": {"version": stable}}
    service["canary"] = {"version": version, "weight": weight}
    return yaml.safe_dump({"config": {"perfstack:services": {"api": service}}})


class Repo:
    """A git repository holding Pulumi.test.yaml, committed at chosen times."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.git("init", "-q")

    def git(self, *args: str, when: int = 0) -> None:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
            "GIT_AUTHOR_DATE": f"@{when} +0000",
            "GIT_COMMITTER_DATE": f"@{when} +0000",
        }
        subprocess.run(["git", *args], cwd=self.root, env=env, check=True, capture_output=True)

    def commit(self, text: str, when: int) -> None:
        (self.root / f"Pulumi.{STACK}.yaml").write_text(text)
        self.git("add", ".")
        self.git("commit", "-q", "-m", f"at {when}", "--allow-empty", when=when)


T0 = 1_796_000_000


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)


def test_the_step_began_when_the_weight_was_committed(repo: Repo) -> None:
    repo.commit(stack_file(10), T0)
    repo.commit(stack_file(50), T0 + 600)
    history = step_history(repo.root, STACK, "api")
    assert (history.started_at, history.previous_weight) == (at(T0 + 600), 10)


def test_commits_that_leave_the_canary_alone_do_not_restart_the_step(repo: Repo) -> None:
    repo.commit(stack_file(10), T0)
    repo.commit(stack_file(10, stable="1.4.3"), T0 + 300)
    assert step_history(repo.root, STACK, "api").started_at == at(T0)


def test_a_new_canary_version_at_the_same_weight_starts_a_new_step(repo: Repo) -> None:
    repo.commit(stack_file(50, "1.5.0"), T0)
    repo.commit(stack_file(50, "1.5.1"), T0 + 300)
    history = step_history(repo.root, STACK, "api")
    assert (history.started_at, history.previous_weight) == (at(T0 + 300), None)


def test_a_step_back_is_visible_as_a_higher_previous_weight(repo: Repo) -> None:
    repo.commit(stack_file(50), T0)
    repo.commit(stack_file(25), T0 + 300)
    assert step_history(repo.root, STACK, "api").previous_weight == 50


def test_the_first_commit_of_a_canary_has_no_previous_weight(repo: Repo) -> None:
    repo.commit(stack_file(10), T0)
    assert step_history(repo.root, STACK, "api").previous_weight is None


def test_an_uncommitted_weight_is_refused_with_what_to_do(repo: Repo) -> None:
    repo.commit(stack_file(10), T0)
    (repo.root / f"Pulumi.{STACK}.yaml").write_text(stack_file(50))
    with pytest.raises(HistoryError, match=r"differs from its last commit.*--step-started"):
        step_history(repo.root, STACK, "api")


def test_a_stack_file_outside_git_is_refused_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / f"Pulumi.{STACK}.yaml").write_text(stack_file(10))
    with pytest.raises(HistoryError, match="--step-started"):
        step_history(tmp_path, STACK, "api")


def test_a_flag_rollout_step_began_when_the_flags_canary_share_was_committed(repo: Repo) -> None:
    def with_flag(rollout: int) -> str:
        document = yaml.safe_load(stack_file(50))
        api = document["config"]["perfstack:services"]["api"]
        api["features"] = {
            "promptOptimization": {"enabled": False, "canary": {"enabled": True, "rollout": rollout}}
        }
        return yaml.safe_dump(document)

    repo.commit(with_flag(5), T0)
    repo.commit(with_flag(25), T0 + 600)
    path = ("features", "promptOptimization", "canary", "rollout")
    history = step_history(repo.root, STACK, "api", path)
    assert (history.started_at, history.previous_weight) == (at(T0 + 600), 5)
