"""land_change.py: a rollback lands on main at once, a reviewed stack's promotion as a pull request,
a re-run lands nothing."""

import io
from pathlib import Path

import pytest

from tests.ci.helpers import GIT_IDENTITY, commit_file, git, load_script

land = load_script("land_change")

STACK_FILE = "Pulumi.production.yaml"


@pytest.fixture(autouse=True)
def identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """The script commits as whoever the job configured; here, the test identity."""
    for name, value in GIT_IDENTITY.items():
        monkeypatch.setenv(name, value)


AT_50 = "config:\n  perfstack:services:\n    api:\n      canary: {version: '1.5.0', weight: 50}\n"


@pytest.mark.parametrize(
    ("action", "stack", "route"),
    [
        ("rollback", "production", "main"),
        ("step_back", "production", "main"),
        ("canary-off", "production", "main"),
        ("promote", "production", "pull-request"),
        ("promote", "staging", "main"),
    ],
)
def test_the_route_of_each_change(action: str, stack: str, route: str) -> None:
    assert land.route(action, stack, changed=True) == route


def test_an_unchanged_stack_file_lands_nothing_whatever_the_verdict() -> None:
    assert land.route("rollback", "production", changed=False) == "nothing"


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A checkout of main whose origin is a bare repository (GitHub's part)."""
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "-q", "-b", "main")
    commit_file(seed, STACK_FILE, AT_50, "canary at 50")
    git(tmp_path, "clone", "-q", "--bare", str(seed), "origin.git")
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), "work")
    return tmp_path / "work"


def origin_main(clone: Path) -> str:
    return git(clone, "ls-remote", "origin", "refs/heads/main").split()[0]


def edit(clone: Path, weight: int) -> None:
    (clone / STACK_FILE).write_text(AT_50.replace("weight: 50", f"weight: {weight}"))


def test_a_rollback_lands_as_one_commit_on_main_changing_only_the_stack_file(clone: Path) -> None:
    before = origin_main(clone)
    edit(clone, 0)

    landed = land.land(clone, "production", "rollback", "rollout(production/api): rollback 50 -> 0", "api")

    assert (landed.route, landed.sha) == ("main", origin_main(clone))
    assert git(clone, "rev-list", "--count", f"{before}..{landed.sha}") == "1"
    assert git(clone, "diff", "--name-only", before, landed.sha) == STACK_FILE
    assert git(clone, "log", "-1", "--format=%s", landed.sha) == "rollout(production/api): rollback 50 -> 0"


def test_a_re_run_after_a_failed_update_lands_nothing_and_applies_mains_head(clone: Path) -> None:
    edit(clone, 0)
    first = land.land(clone, "production", "rollback", "rollback", "api")

    again = land.land(clone, "production", "hold", "")

    assert (again.route, again.sha) == ("nothing", first.sha)
    assert origin_main(clone) == first.sha


def test_a_rollback_is_replayed_on_top_of_a_main_that_moved(clone: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), "other")
    merged = commit_file(other, "docs/x.md", "x\n", "a merge meanwhile")
    git(other, "push", "-q", "origin", "HEAD:main")
    edit(clone, 0)

    landed = land.land(clone, "production", "rollback", "rollback", "api")

    assert git(clone, "rev-parse", f"{landed.sha}~1") == merged
    assert origin_main(clone) == landed.sha


def test_a_promotion_on_a_reviewed_stack_goes_to_a_branch_and_leaves_main_alone(clone: Path) -> None:
    before = origin_main(clone)
    edit(clone, 100)

    landed = land.land(clone, "production", "promote", "rollout(production/api): promote 50 -> 100", "api")

    assert (landed.route, landed.branch, landed.sha) == ("pull-request", "rollout/production/api", before)
    assert origin_main(clone) == before
    branch = git(clone, "ls-remote", "origin", "refs/heads/rollout/production/api").split()[0]
    assert git(clone, "diff", "--name-only", before, branch) == STACK_FILE
    assert (clone / STACK_FILE).read_text() == AT_50


def test_any_other_changed_file_is_refused_and_nothing_pushed(clone: Path) -> None:
    before = origin_main(clone)
    edit(clone, 0)
    (clone / "Pulumi.yaml").write_text("name: perfstack\n")

    with pytest.raises(land.LandError, match=r"files besides Pulumi.production.yaml changed \(Pulumi.yaml\)"):
        land.land(clone, "production", "rollback", "rollback", "api")

    assert origin_main(clone) == before


def test_the_cli_writes_route_sha_and_branch(
    clone: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
    edit(clone, 0)

    code = land.main(
        ["--stack", "production", "--action", "canary-off",
         "--message", "rollback(production): canary-off api", "--project-dir", str(clone)],
        stdout=io.StringIO(),
    )  # fmt: skip

    assert code == 0
    assert (tmp_path / "output").read_text() == f"route=main\nsha={origin_main(clone)}\nbranch=\n"
