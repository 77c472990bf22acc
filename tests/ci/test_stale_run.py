"""stale_run.py: a run applies only what main says now; one that main has moved past skips itself."""

import io
from pathlib import Path

import pytest

from tests.ci.helpers import commit_file, git, load_script

stale = load_script("stale_run")

RUN, MAIN = "a" * 40, "b" * 40


@pytest.mark.parametrize(
    ("path", "deployed"),
    [
        ("Pulumi.production.yaml", True),
        ("Pulumi.staging.yaml", False),
        ("components/app/component.py", True),
        ("requirements.txt", True),
        ("Pulumi.yaml", True),
        ("docs/ci-cd.md", False),
        ("README.md", False),
        ("tests/ci/test_stale_run.py", False),
        (".github/workflows/deploy.yml", False),
    ],
)
def test_what_a_path_change_means_for_production(path: str, deployed: bool) -> None:
    assert stale.deployed_by(path, "production") is deployed


def test_a_run_of_mains_head_is_current() -> None:
    assert not stale.freshness("production", MAIN, MAIN, True, []).stale


def test_a_run_behind_main_only_by_docs_is_current() -> None:
    verdict = stale.freshness("production", RUN, MAIN, True, ["docs/ci-cd.md", "Pulumi.staging.yaml"])

    assert not verdict.stale


def test_a_run_behind_main_by_its_stack_file_is_stale_and_says_which_commit_replaces_it() -> None:
    verdict = stale.freshness("production", RUN, MAIN, True, ["Pulumi.production.yaml"])

    assert verdict.stale
    assert verdict.message == (
        f"production: skipped, stale: main moved on to {MAIN[:12]}, which changes Pulumi.production.yaml; "
        f"applying {RUN[:12]} would undo that. The run for {MAIN[:12]} applies it"
    )


def test_a_run_behind_main_by_the_program_is_stale() -> None:
    assert stale.freshness("staging", RUN, MAIN, True, ["components/app/component.py"]).stale


def test_a_run_whose_commit_left_mains_history_is_stale() -> None:
    verdict = stale.freshness("staging", RUN, MAIN, False, [])

    assert verdict.stale
    assert "not in main's history any more" in verdict.message


# --- with git: the orders that matter -------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    commit_file(tmp_path, "Pulumi.production.yaml", "config: {w: 50}\n", "base")
    return tmp_path


def run_cli(repo: Path, sha: str) -> tuple[int, str]:
    out = io.StringIO()
    code = stale.main(
        ["--stack", "production", "--sha", sha, "--main", "main", "--project-dir", str(repo)], stdout=out
    )
    return code, out.getvalue()


def test_a_deploy_waiting_for_approval_while_a_rollback_landed_skips_itself(repo: Path) -> None:
    merged = commit_file(
        repo, "components/x.py", "x = 1\n", "a merge: its deploy waits for production approval"
    )
    rollback = commit_file(
        repo, "Pulumi.production.yaml", "config: {w: 0}\n", "rollback(production): canary-off api"
    )

    code, out = run_cli(repo, merged)

    assert code == 0
    assert f"skipped, stale: main moved on to {rollback[:12]}, which changes Pulumi.production.yaml" in out


def test_the_rollbacks_own_run_is_current(repo: Path) -> None:
    rollback = commit_file(
        repo, "Pulumi.production.yaml", "config: {w: 0}\n", "rollback(production): canary-off api"
    )

    _, out = run_cli(repo, rollback)

    assert out.startswith(f"production: {rollback[:12]} is main's head; applying it")


def test_a_rollback_run_re_run_after_a_docs_merge_still_applies(repo: Path) -> None:
    rollback = commit_file(repo, "Pulumi.production.yaml", "config: {w: 0}\n", "rollback")
    commit_file(repo, "docs/x.md", "x\n", "docs")

    _, out = run_cli(repo, rollback)

    assert "only by changes production does not deploy; applying it" in out


def test_the_verdict_reaches_the_next_steps_as_an_output(
    repo: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    older = git(repo, "rev-parse", "HEAD")
    commit_file(repo, "Pulumi.production.yaml", "config: {w: 0}\n", "rollback")
    output = tmp_path_factory.mktemp("gh") / "output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))

    run_cli(repo, older)

    assert output.read_text() == "stale=true\n"


def test_an_unknown_commit_is_an_error_not_a_verdict(repo: Path) -> None:
    err = io.StringIO()

    code = stale.main(
        ["--stack", "production", "--sha", "f" * 40, "--main", "main", "--project-dir", str(repo)], stderr=err
    )

    assert code == 2
    assert "fetch-depth 0" in err.getvalue()
