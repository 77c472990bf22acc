"""The judge on samples the real Prometheus (pinned version) computes from backfilled series.

One Prometheus for the module, with one service per scenario of the issue: a
healthy canary, a bad canary (critical), a warning-level canary, a canary with
a handful of requests, a canary with no instance up. `api` is the staging
stack's own service, bad in the first phase and healthy in the second, for the
command: a verdict replayed at a past moment (`--at`), and `apply`.
"""

import io
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from components.app.settings import ServiceConfig
from components.prometheus.alerts import AlertsConfig
from rollout.cli import main
from rollout.judge import Action, Decision, StepHistory, judge
from rollout.prometheus import PrometheusReader
from tests.ci.helpers import changed_leaves, changed_lines
from tests.engine.engine import Engine
from tests.engine.project import StackFileProject
from tests.rollout.conftest import data_end
from tests.rollout.synthetic import Phase, TrackTraffic, openmetrics

PHASE_S = 20 * 60
INTO_PHASE = timedelta(minutes=10)
REPO = Path(__file__).resolve().parents[2]


def healthy(rps: float, **changes: object) -> TrackTraffic:
    fields: dict[str, object] = {
        "rps": rps,
        "error_ratio": 0.01,
        "latency_s": 0.3,
        "quality": 0.85,
        "cache_hit_ratio": 0.4,
        "tokens_per_request": 60,
    }
    return TrackTraffic(**{**fields, **changes})  # type: ignore[arg-type]


# Canary at weight 10 against 9 req/s on stable: 300 canary requests per 5m window.
SCENARIOS: dict[str, tuple[TrackTraffic, TrackTraffic | None]] = {
    "healthy": (healthy(9), healthy(1)),
    "critical": (healthy(9), healthy(1, error_ratio=0.10)),
    "warning": (healthy(9, error_ratio=0.02), healthy(1, error_ratio=0.03)),
    "handful": (healthy(0.9), healthy(0.1)),
    "down": (healthy(9), healthy(0, instances_up=0)),
}
EXPECTED = {
    "healthy": (Action.PROMOTE, 50),
    "critical": (Action.ROLLBACK, 0),
    "warning": (Action.STEP_BACK, 0),
    "handful": (Action.HOLD, 10),
    "down": (Action.ROLLBACK, 0),
}


@dataclass(frozen=True)
class Scenario:
    url: str
    bad_phase: datetime
    """A moment in the first phase: api's canary fails 10 % of its requests."""
    good_phase: datetime
    """A moment in the second phase: every canary as SCENARIOS says."""


@pytest.fixture(scope="module")
def scenario(backfilled_prometheus: Callable[[str], str]) -> Scenario:
    end = data_end()
    first = Phase(
        end - 2 * PHASE_S,
        end - PHASE_S,
        {("api", "stable"): healthy(7.5), ("api", "canary"): healthy(2.5, error_ratio=0.10)},
    )
    tracks = {("api", "stable"): healthy(7.5), ("api", "canary"): healthy(2.5)}
    for name, (stable, canary) in SCENARIOS.items():
        tracks[(name, "stable")] = stable
        if canary is not None:
            tracks[(name, "canary")] = canary
    second = Phase(end - PHASE_S, end, tracks)
    url = backfilled_prometheus(openmetrics([first, second]))
    return Scenario(
        url,
        datetime.fromtimestamp(first.start, UTC) + INTO_PHASE,
        datetime.fromtimestamp(second.start, UTC) + INTO_PHASE,
    )


def verdict(scenario: Scenario, name: str) -> Decision:
    config = ServiceConfig.model_validate(
        {"image": "ghcr.io/example/api", "stable": {"version": "1"}, "canary": {"version": "2", "weight": 10}}
    )
    at = scenario.good_phase
    samples = PrometheusReader(scenario.url).samples(AlertsConfig(), config.rollout.interval, at)
    return judge(name, config, AlertsConfig(), False, at, StepHistory(at - timedelta(hours=1)), samples[name])


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_scenario_gets_its_verdict_from_the_real_prometheus(scenario: Scenario, name: str) -> None:
    decision = verdict(scenario, name)
    assert (decision.action, decision.next_weight) == EXPECTED[name], decision.reason


def test_the_samples_are_the_windows_requests(scenario: Scenario) -> None:
    samples = PrometheusReader(scenario.url).samples(AlertsConfig(), "5m", scenario.good_phase)["healthy"]
    assert samples.canary is not None and samples.stable is not None
    assert samples.canary.requests == pytest.approx(300)  # 1 req/s for 5 minutes, probes excluded
    assert samples.stable.requests == pytest.approx(2700)
    assert samples.canary.error_ratio == pytest.approx(0.01)


def test_a_critical_verdict_names_the_failing_check_with_its_evidence(scenario: Scenario) -> None:
    check = next(c for c in verdict(scenario, "critical").checks if c.failed and c.name == "error_rate")
    assert (check.observed, check.threshold, check.sample) == pytest.approx((0.10, 0.05, 300))


def test_a_canary_with_no_instance_up_is_critical_not_missing_data(scenario: Scenario) -> None:
    failed = {c.name for c in verdict(scenario, "down").checks if c.failed}
    assert "instances_up" in failed


def slo_verdict(scenario: Scenario, objective: float) -> Decision:
    # A 30-minute objective: the healthy service's data (1 % errors on both tracks) began 10 minutes
    # before the moment judged, so the window holds all of it.
    pair = {"longWindow": "30m", "shortWindow": "5m", "burnRate": 2.0, "severity": "page"}
    slo = {
        "window": "30m",
        "latency": None,
        "availability": {"objective": objective},
        "burnRateAlerts": [pair],
    }
    config = ServiceConfig.model_validate(
        {"image": "ghcr.io/example/api", "stable": {"version": "1"}, "slo": slo,
         "canary": {"version": "2", "weight": 10}}
    )  # fmt: skip
    assert config.slo is not None
    at = scenario.good_phase
    reader = PrometheusReader(scenario.url)
    samples = reader.samples(AlertsConfig(), config.rollout.interval, at)["healthy"]
    samples = replace(samples, budgets=reader.error_budgets(AlertsConfig(), "healthy", config.slo, at))
    return judge("healthy", config, AlertsConfig(), False, at, StepHistory(at - timedelta(hours=1)), samples)


def test_a_spent_error_budget_holds_the_healthy_canarys_promotion(scenario: Scenario) -> None:
    # 1 % errors against a 99.9 % objective: ten budgets spent, nine of them overspent.
    decision = slo_verdict(scenario, 0.999)
    (check,) = [c for c in decision.checks if c.name == "error_budget_availability"]
    assert decision.action is Action.HOLD and "error budget" in decision.reason
    assert check.observed == pytest.approx(-9) and check.sample == pytest.approx(6000)


def test_a_budget_left_lets_the_healthy_canary_through(scenario: Scenario) -> None:
    # 1 % errors against a 95 % objective: a fifth of the budget spent.
    decision = slo_verdict(scenario, 0.95)
    (check,) = [c for c in decision.checks if c.name == "error_budget_availability"]
    assert (decision.action, decision.next_weight) == (Action.PROMOTE, 50)
    assert check.observed == pytest.approx(0.8)


def test_the_warning_canary_is_within_the_comparison_margin(scenario: Scenario) -> None:
    decision = verdict(scenario, "warning")
    compare = next(c for c in decision.checks if c.name == "compare_error_rate")
    assert not compare.failed and compare.p_value is not None
    assert {c.tier for c in decision.checks if c.failed} == {"warning"}


# --- the command against the same Prometheus --------------------------------------------------


@pytest.fixture
def staging_project(tmp_path: Path, pulumi_cli: Engine) -> StackFileProject:
    """A copy of the project with the committed staging stack file, on a file backend."""
    return StackFileProject(tmp_path, pulumi_cli, "staging", (REPO / "Pulumi.staging.yaml").read_text())


def decide_json(scenario: Scenario, at: datetime) -> list[dict[str, object]]:
    out, err = io.StringIO(), io.StringIO()
    started = (at - timedelta(hours=1)).isoformat()
    argv = [
        "decide",
        "staging",
        "--prometheus",
        scenario.url,
        "--at",
        at.isoformat(),
        "--step-started",
        started,
    ]
    status = main([*argv, "--json"], stdout=out, stderr=err)
    assert status == 0, err.getvalue()
    return json.loads(out.getvalue())


def test_decide_prints_one_json_object_per_service(scenario: Scenario) -> None:
    (decision,) = decide_json(scenario, scenario.good_phase)
    assert (decision["service"], decision["action"], decision["weight"], decision["next_weight"]) == (
        "api",
        "promote",
        25,
        50,
    )
    assert decision["checks"]


def test_decide_at_a_past_moment_replays_that_moments_verdict(scenario: Scenario) -> None:
    (decision,) = decide_json(scenario, scenario.bad_phase)
    assert (decision["action"], decision["next_weight"]) == ("rollback", 0)
    assert decision["at"] == scenario.bad_phase.isoformat().replace("+00:00", "Z")


def apply(
    project: StackFileProject, scenario: Scenario, at: datetime, started: datetime
) -> subprocess.CompletedProcess[str]:
    """`python -m rollout apply staging` on the project, judged at `at`, as the workflow would run it."""
    return subprocess.run(
        [sys.executable, "-m", "rollout", "apply", "staging", "--prometheus", scenario.url,
         "--at", at.isoformat(), "--step-started", started.isoformat(), "--project-dir", str(project.dir)],
        cwd=REPO, env=project.env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.mark.engine
def test_apply_writes_the_rollback_as_one_line_and_prints_the_evidence(
    scenario: Scenario, staging_project: StackFileProject
) -> None:
    cli = staging_project
    before = cli.stack_file.read_text()
    result = apply(cli, scenario, scenario.bad_phase, scenario.bad_phase - timedelta(hours=1))
    assert result.returncode == 0, result.stderr
    after = cli.stack_file.read_text()
    assert len(changed_lines(before, after)) == 2  # one line out, one in
    leaf = ("config", "perfstack:services", "api", "canary", "weight")
    assert changed_leaves(before, after) == {leaf: (25, 0)}
    assert "rollout(staging/api): rollback canary.weight 25 -> 0" in result.stdout
    assert "critical error_rate: 0.1 > 0.05" in result.stdout


@pytest.mark.engine
def test_apply_of_a_hold_leaves_the_stack_file_alone(
    scenario: Scenario, staging_project: StackFileProject
) -> None:
    cli = staging_project
    before = cli.stack_file.read_text()
    text = yaml.safe_load(before)
    assert text["config"]["perfstack:services"]["api"]["canary"]["weight"] == 25
    result = apply(cli, scenario, scenario.good_phase, scenario.good_phase)  # soaking: the step just began
    assert result.returncode == 0, result.stderr
    assert "nothing to apply" in result.stdout
    assert cli.stack_file.read_text() == before


@pytest.mark.engine
def test_apply_refuses_an_edit_that_would_touch_another_line_and_restores_the_file(
    scenario: Scenario, tmp_path: Path, pulumi_cli: Engine
) -> None:
    # Two spaces before a comment: `pulumi config set` rewrites that line too.
    text = (
        (REPO / "Pulumi.staging.yaml").read_text().replace("platform: docker", "platform: docker  # one host")
    )
    project = StackFileProject(tmp_path, pulumi_cli, "staging", text)
    before = project.stack_file.read_bytes()

    result = apply(project, scenario, scenario.bad_phase, scenario.bad_phase - timedelta(hours=1))

    assert result.returncode == 2
    assert "perfstack:services.api.canary.weight: `pulumi config set` would change 2 lines" in result.stderr
    assert project.stack_file.read_bytes() == before


@pytest.mark.engine
def test_a_failing_canary_is_rolled_back_even_when_the_history_cannot_say_when_its_step_began(
    scenario: Scenario, staging_project: StackFileProject
) -> None:
    # The project copy is no git repository: no step start, which only a promotion needs.
    argv = [
        "-m",
        "rollout",
        "apply",
        "staging",
        "--prometheus",
        scenario.url,
        "--at",
        scenario.bad_phase.isoformat(),
    ]
    result = subprocess.run(
        [sys.executable, *argv, "--project-dir", str(staging_project.dir)],
        cwd=REPO, env=staging_project.env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "rollback canary.weight 25 -> 0" in result.stdout


def test_a_healthy_canary_without_a_readable_history_is_an_error_naming_the_way_out(
    scenario: Scenario, tmp_path: Path
) -> None:
    shutil.copy(REPO / "Pulumi.staging.yaml", tmp_path)
    out, err = io.StringIO(), io.StringIO()
    argv = ["decide", "staging", "--prometheus", scenario.url, "--at", scenario.good_phase.isoformat()]
    status = main([*argv, "--project-dir", str(tmp_path)], stdout=out, stderr=err)
    assert status == 2
    assert "--step-started" in err.getvalue()
