"""rollout_report.py and rollout_ci.py: the verdict and its evidence as reviewers and the job summary
see them; the judge's change landed by its route."""

import io
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.ci.helpers import GIT_IDENTITY, REPO, commit_file, git, load_script

report = load_script("rollout_report")
rollout_ci = load_script("rollout_ci")

WEIGHTS = (10, 50, 100)


def check(name: str, status: str, tier: str = "critical") -> dict[str, Any]:
    return {"name": name, "tier": tier, "operator": ">", "threshold": 0.05, "observed": 0.01, "sample": 400,
            "baseline": None, "p_value": None, "status": status}  # fmt: skip


def decision(action: str, weight: int, next_weight: int, **extra: Any) -> dict[str, Any]:
    return {
        "service": "api", "action": action, "weight": weight, "next_weight": next_weight,
        "key": "perfstack:services.api.canary.weight", "reason": "why", "at": "2026-12-03T14:12:00Z",
        "step_started": "2026-12-03T14:10:00Z", "eligible_at": None,
        "checks": [check("error_rate", "pass"), check("p95_latency_ms", "pass")], **extra,
    }  # fmt: skip


def test_a_soaking_step_says_where_it_stands_when_it_may_move_and_that_checks_pass() -> None:
    soaking = decision("hold", 50, 50, eligible_at="2026-12-03T14:20:00Z")

    assert (
        report.headline(soaking, WEIGHTS)
        == "**api**: step 2 of 3 (50 %), eligible at 14:20 UTC, checks passing"
    )


def test_a_failing_canary_names_the_failing_check_and_the_rollback() -> None:
    failing = decision(
        "rollback", 50, 0, checks=[check("p95_latency_ms", "fail"), check("error_rate", "pass")]
    )

    assert (
        report.headline(failing, WEIGHTS)
        == "**api**: step 2 of 3 (50 %), ROLL BACK to 0 %, FAILING: critical p95_latency_ms"
    )


def test_a_rolled_back_canary_is_at_0() -> None:
    assert report.position(0, WEIGHTS) == "canary at 0 % (rolled back or not started)"


def test_a_weight_that_is_not_a_step_waits_for_a_person() -> None:
    assert report.position(25, WEIGHTS) == "25 % (not a step: held until a person sets one)"


def test_the_report_carries_every_checks_evidence_and_its_marker() -> None:
    text = report.render("production", [decision("promote", 10, 50)], {"api": WEIGHTS})

    assert text.startswith("<!-- perfstack-rollout:production -->\n")
    assert "| error_rate | critical | 0.01 | > 0.05 | 400 | - | - | pass |" in text
    assert "promote to 50 %" in text


def test_without_prometheus_the_steps_are_shown_from_the_stack_file(tmp_path: Path) -> None:
    out = io.StringIO()

    code = report.main(["--stack", "production", "--why", "no Prometheus"], stdout=out)

    assert code == 0
    assert out.getvalue().splitlines()[3] == "**api**: step 1 of 3 (10 %), no checks ran (no Prometheus)"


# --- rollout_ci: the judge's change landed by its route -------------------------------------


@pytest.fixture
def clone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """main with the real production stack file, and its bare origin."""
    for name, value in GIT_IDENTITY.items():
        monkeypatch.setenv(name, value)
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "-q", "-b", "main")
    shutil.copy(REPO / "Pulumi.yaml", seed)
    commit_file(seed, "Pulumi.production.yaml", (REPO / "Pulumi.production.yaml").read_text(), "production")
    git(tmp_path, "clone", "-q", "--bare", str(seed), "origin.git")
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), "work")
    return tmp_path / "work"


def fake_judge(action: str, new_weight: int) -> Any:
    """The judge's answer, with its edit made as `rollout apply` would make it (the CLI itself: tests/e2e)."""

    def judge(
        project_dir: Path, stack: str, prometheus: str | None, service: str | None
    ) -> list[dict[str, Any]]:
        stack_file = project_dir / f"Pulumi.{stack}.yaml"
        answer = decision(action, 10, new_weight)
        if new_weight != 10:
            stack_file.write_text(stack_file.read_text().replace("weight: 10", f"weight: {new_weight}", 1))
            answer |= {
                "applied": True,
                "commit_message": f"rollout({stack}/api): {action} 10 -> {new_weight}",
            }
        return [answer]

    return judge


def test_a_rollback_from_the_judge_lands_on_main(clone: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rollout_ci, "judge", fake_judge("rollback", 0))

    _, landed, summary = rollout_ci.run(clone, "production")

    assert landed.route == "main"
    assert git(clone, "ls-remote", "origin", "refs/heads/main").split()[0] == landed.sha
    assert "ROLL BACK to 0 %" in summary
    assert f"committed to main as {landed.sha[:12]}" in summary


def test_a_promotion_on_production_becomes_a_pull_request_branch(
    clone: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = git(clone, "rev-parse", "HEAD")
    monkeypatch.setattr(rollout_ci, "judge", fake_judge("promote", 50))

    _, landed, summary = rollout_ci.run(clone, "production")

    assert (landed.route, landed.sha, landed.branch) == ("pull-request", before, "rollout/production/api")
    assert "pushed to rollout/production/api for a pull request" in summary


def test_a_hold_lands_nothing_and_still_names_mains_head_to_apply(
    clone: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rollout_ci, "judge", fake_judge("hold", 10))

    _, landed, _ = rollout_ci.run(clone, "production")

    assert (landed.route, landed.sha) == ("nothing", git(clone, "rev-parse", "HEAD"))


def test_an_unreadable_prometheus_fails_the_job_with_the_judges_code(clone: Path, tmp_path: Path) -> None:
    err = io.StringIO()

    code = rollout_ci.main(
        ["--stack", "production", "--prometheus", "http://127.0.0.1:9", "--project-dir", str(clone)],
        stderr=err,
    )

    assert code == 3
    assert "never a healthy canary" in err.getvalue()
