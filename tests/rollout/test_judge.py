"""The judge as a decision table: every tier, low traffic, a missing canary, freeze, each step up and down."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from components.app.settings import ServiceConfig
from components.prometheus.alerts import AlertsConfig
from rollout.checks import Status
from rollout.judge import Action, Decision, StepHistory, judge
from rollout.samples import ErrorBudget, ServiceSamples, TrackSample

ALERTS = AlertsConfig()
NOW = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)  # a Thursday
INF = float("inf")


def histogram(total: float, latency_s: float) -> tuple[tuple[float, float], ...]:
    """Every request in the bucket just above `latency_s`."""
    bounds = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, INF)
    return tuple((le, total if le >= latency_s else 0.0) for le in bounds)


def track(requests: float = 1000, latency_s: float = 0.4, **changes: Any) -> TrackSample:
    """A healthy track: 1 % errors, P95 at the latency, good quality, cache and tokens."""
    sample = TrackSample(
        requests=requests,
        instances_up=1,
        error_ratio=0.01,
        p95_s=latency_s,
        buckets=histogram(requests, latency_s),
        quality=0.85,
        cache_hit_ratio=0.40,
        tokens_per_request=60,
    )
    return replace(sample, **changes)


HEALTHY = ServiceSamples(stable=track(9000), canary=track(1000))


def service(weight: int | None = 10, **rollout: Any) -> ServiceConfig:
    """The api service with its canary at `weight` (None: no canary) and the given rollout settings."""
    data: dict[str, Any] = {
        "image": "ghcr.io/example/api",
        "stable": {"version": "1.4.2"},
        "rollout": rollout,
    }
    if weight is not None:
        data["canary"] = {"version": "1.5.0", "weight": weight}
    return ServiceConfig.model_validate(data)


def decide(
    weight: int | None = 10,
    samples: ServiceSamples = HEALTHY,
    soaked_for: timedelta | None = timedelta(minutes=30),
    previous: int | None = None,
    kill_switch: bool = False,
    now: datetime = NOW,
    **rollout: Any,
) -> Decision:
    step = None if soaked_for is None else StepHistory(now - soaked_for, previous)
    return judge("api", service(weight, **rollout), ALERTS, kill_switch, now, step, samples)


def canary(**changes: Any) -> ServiceSamples:
    return replace(HEALTHY, canary=replace(HEALTHY.canary, **changes))  # type: ignore[arg-type]


def failed(decision: Decision) -> set[tuple[str, str]]:
    return {(c.tier, c.name) for c in decision.checks if c.failed}


# --- promotion through the steps ----------------------------------------------------------


@pytest.mark.parametrize(("weight", "next_weight"), [(10, 50), (50, 100)])
def test_a_healthy_soaked_canary_is_promoted_to_the_next_step(weight: int, next_weight: int) -> None:
    decision = decide(weight)
    assert (decision.action, decision.next_weight) == (Action.PROMOTE, next_weight)


def test_a_healthy_canary_at_100_after_its_soak_is_complete_and_changes_nothing() -> None:
    decision = decide(100, ServiceSamples(stable=track(0, instances_up=1), canary=track(10000)))
    assert (decision.action, decision.next_weight) == (Action.COMPLETE, 100)
    assert not decision.changes_config
    assert "1.5.0" in decision.reason


def test_at_100_the_comparisons_with_stable_do_not_apply() -> None:
    decision = decide(100, ServiceSamples(stable=track(0), canary=track(10000)))
    compare = [c for c in decision.checks if c.name.startswith("compare_")]
    assert compare and all(c.status is Status.NOT_APPLICABLE for c in compare)


def test_a_weight_set_by_hand_is_promoted_to_the_next_step_above_it() -> None:
    assert decide(25).next_weight == 50


def test_custom_steps_are_walked_in_order() -> None:
    steps = [{"weight": 5, "soak": "5m"}, {"weight": 25, "soak": "5m"}, {"weight": 100, "soak": "5m"}]
    assert decide(5, steps=steps).next_weight == 25


@pytest.mark.parametrize(("weight", "soak_minutes"), [(10, 5), (50, 10), (100, 5)])
def test_each_step_holds_until_its_own_soak_has_passed(weight: int, soak_minutes: int) -> None:
    samples = HEALTHY if weight < 100 else ServiceSamples(stable=track(0), canary=track(10000))
    early = decide(weight, samples, soaked_for=timedelta(minutes=soak_minutes) - timedelta(seconds=1))
    on_time = decide(weight, samples, soaked_for=timedelta(minutes=soak_minutes))
    assert early.action is Action.HOLD and "soaking" in early.reason
    assert early.eligible_at == NOW + timedelta(seconds=1)
    assert on_time.action in (Action.PROMOTE, Action.COMPLETE)


# --- nothing to judge ---------------------------------------------------------------------


def test_a_service_without_a_canary_holds() -> None:
    decision = decide(None)
    assert (decision.action, decision.weight, decision.next_weight) == (Action.HOLD, 0, 0)


def test_a_canary_at_weight_0_holds_and_is_never_promoted_again_by_itself() -> None:
    decision = decide(0)
    assert (decision.action, decision.next_weight) == (Action.HOLD, 0)
    assert "first step, 10" in decision.reason


def test_the_kill_switch_holds() -> None:
    assert decide(50, kill_switch=True).action is Action.HOLD


# --- too little data: hold, never a verdict ------------------------------------------------


def test_a_canary_below_min_requests_holds_as_inconclusive_even_with_bad_numbers() -> None:
    samples = ServiceSamples(stable=track(180), canary=track(20, error_ratio=0.5, p95_s=9.0))
    decision = decide(samples=samples)
    assert (decision.action, decision.next_weight) == (Action.HOLD, 10)
    assert "inconclusive" in decision.reason
    assert not failed(decision)


def test_a_stable_track_below_min_requests_leaves_the_comparisons_inconclusive_and_holds() -> None:
    decision = decide(samples=replace(HEALTHY, stable=track(50)))
    assert decision.action is Action.HOLD
    assert {c.status for c in decision.checks if c.name.startswith("compare_")} == {Status.INCONCLUSIVE}


def test_min_requests_is_the_services_setting() -> None:
    low = ServiceSamples(stable=track(40), canary=track(40))
    assert decide(samples=low, minRequests=30).action is Action.PROMOTE
    assert decide(samples=low).action is Action.HOLD


def test_neither_track_in_prometheus_holds_rather_than_rolling_back() -> None:
    decision = decide(50, ServiceSamples(stable=None, canary=None))
    assert decision.action is Action.HOLD
    assert "no series" in decision.reason


def test_a_metric_the_app_does_not_report_is_not_measured_and_does_not_block() -> None:
    decision = decide(samples=canary(quality=None, cache_hit_ratio=None, tokens_per_request=None))
    assert decision.action is Action.PROMOTE
    assert {c.status for c in decision.checks if c.name == "quality"} == {Status.NOT_MEASURED}


# --- a canary that is routed but broken is critical, not "no data" --------------------------


def test_a_routed_canary_with_no_instance_up_is_rolled_back() -> None:
    decision = decide(50, canary(instances_up=0, requests=0))
    assert (decision.action, decision.next_weight) == (Action.ROLLBACK, 0)
    assert ("critical", "instances_up") in failed(decision)


def test_a_routed_canary_prometheus_has_never_seen_is_rolled_back() -> None:
    decision = decide(50, ServiceSamples(stable=track(9000), canary=None))
    assert decision.action is Action.ROLLBACK
    assert ("critical", "instances_up") in failed(decision)


def test_a_canary_whose_requests_never_reach_it_is_rolled_back() -> None:
    # Up and scraped, but the router fails its share: the app sees almost nothing.
    decision = decide(50, ServiceSamples(stable=track(5000), canary=track(10)))
    assert decision.action is Action.ROLLBACK
    assert ("critical", "traffic_delivered") in failed(decision)


def test_a_canary_getting_its_share_of_a_small_total_is_not_a_delivery_failure() -> None:
    decision = decide(10, ServiceSamples(stable=track(500), canary=track(30)))
    delivered = next(c for c in decision.checks if c.name == "traffic_delivered")
    assert delivered.status is Status.INCONCLUSIVE  # 10 % of 530 is below minRequests


# --- critical tier: roll back to 0 at once ----------------------------------------------------


CRITICAL = [
    ("error_rate", {"error_ratio": 0.06}),
    ("p95_latency_ms", {"p95_s": 3.0, "buckets": histogram(1000, 3.0)}),
    ("quality", {"quality": 0.70}),
    ("cache_hit_ratio", {"cache_hit_ratio": 0.10}),
]


@pytest.mark.parametrize(("check", "changes"), CRITICAL, ids=[c[0] for c in CRITICAL])
@pytest.mark.parametrize("weight", [10, 50, 100])
def test_a_critical_breach_rolls_back_to_0(weight: int, check: str, changes: dict[str, Any]) -> None:
    decision = decide(weight, canary(**changes), soaked_for=timedelta(seconds=30))
    assert (decision.action, decision.next_weight) == (Action.ROLLBACK, 0)
    assert ("critical", check) in failed(decision)


def test_a_critical_threshold_defaults_to_the_alert_catalog() -> None:
    decision = decide(samples=canary(error_ratio=ALERTS.error_rate_critical))
    check = next(c for c in decision.checks if (c.tier, c.name) == ("critical", "error_rate"))
    assert check.threshold == ALERTS.error_rate_critical
    assert check.status is Status.PASS  # at the threshold is not above it


def test_a_threshold_set_in_the_rollout_settings_wins_over_the_catalog() -> None:
    decision = decide(samples=canary(p95_s=1.2), checks={"critical": {"p95Ms": 1000}})
    assert decision.action is Action.ROLLBACK
    assert ("critical", "p95_latency_ms") in failed(decision)


def test_rollback_is_never_frozen_or_paused() -> None:
    freeze = [{"start": "00:00", "end": "24:00"}]
    decision = decide(50, canary(error_ratio=0.2), freeze=freeze, paused=True)
    assert decision.action is Action.ROLLBACK


# --- warning tier: step back 25 points and hold ---------------------------------------------

WARNING = [
    ("error_rate", {"error_ratio": 0.03}),
    ("p95_latency_ms", {"p95_s": 2.2, "buckets": histogram(1000, 2.2)}),
    ("quality", {"quality": 0.77}),
    ("tokens_per_request", {"tokens_per_request": 80}),
]


@pytest.mark.parametrize(("check", "changes"), WARNING, ids=[c[0] for c in WARNING])
def test_a_warning_steps_back_by_25_points(check: str, changes: dict[str, Any]) -> None:
    # The comparisons are relaxed so that only the warning tier speaks.
    relaxed = {"compare": {"errorRateMargin": 0.5, "latencyMargin": 10}}
    decision = decide(100, replace(canary(**changes), stable=track(0)), checks=relaxed)
    assert (decision.action, decision.next_weight) == (Action.STEP_BACK, 75)
    assert ("warning", check) in failed(decision)


@pytest.mark.parametrize(("weight", "next_weight"), [(50, 25), (10, 0)])
def test_stepping_back_never_goes_below_0(weight: int, next_weight: int) -> None:
    decision = decide(weight, canary(tokens_per_request=80))
    assert (decision.action, decision.next_weight) == (Action.STEP_BACK, next_weight)


def test_after_a_step_back_a_healthy_canary_holds_for_a_person() -> None:
    decision = decide(25, previous=50)
    assert (decision.action, decision.next_weight) == (Action.HOLD, 25)
    assert "stepped back from 50" in decision.reason


def test_after_a_step_back_a_still_warning_canary_steps_back_again() -> None:
    decision = decide(25, canary(tokens_per_request=80), previous=50)
    assert (decision.action, decision.next_weight) == (Action.STEP_BACK, 0)


# --- comparisons with stable, with their test and p-value -----------------------------------


def test_a_canary_failing_clearly_more_than_stable_is_rolled_back_with_its_p_value() -> None:
    decision = decide(samples=canary(error_ratio=0.049))  # under the absolute 5 %, 3.9 points over stable
    check = next(c for c in decision.checks if c.name == "compare_error_rate")
    assert decision.action is Action.ROLLBACK
    assert check.status is Status.FAIL
    assert check.test == "two-proportion z-test, one-sided"
    assert check.p_value is not None and check.p_value < 0.01
    assert check.baseline == pytest.approx(0.01)


def test_a_canary_over_the_margin_by_chance_alone_is_not_rolled_back() -> None:
    # 3.5 points over stable on 100 requests: above the margin, not significant at 99 %.
    samples = ServiceSamples(stable=track(900), canary=track(100, error_ratio=0.045))
    check = next(c for c in decide(samples=samples).checks if c.name == "compare_error_rate")
    assert check.status is Status.PASS
    assert check.p_value is not None and check.p_value > 0.05


def test_a_canary_slower_than_stable_by_more_than_the_margin_is_rolled_back() -> None:
    decision = decide(samples=canary(p95_s=0.9, buckets=histogram(1000, 0.9)))
    check = next(c for c in decision.checks if c.name == "compare_latency")
    assert decision.action is Action.ROLLBACK
    assert check.status is Status.FAIL
    assert check.test == "Mann-Whitney U on histogram buckets, one-sided"
    assert check.observed == pytest.approx(900)
    assert check.threshold == pytest.approx(400 * (1 + ALERTS.canary_latency_margin))


def test_a_canary_as_fast_as_stable_passes_the_latency_comparison() -> None:
    check = next(c for c in decide().checks if c.name == "compare_latency")
    assert check.status is Status.PASS


# --- freeze and pause: promotion waits -----------------------------------------------------


def test_a_weekly_freeze_window_holds_a_promotion_until_it_ends() -> None:
    decision = decide(freeze=[{"days": ["thu"], "start": "13:00", "end": "18:00", "reason": "release train"}])
    assert decision.action is Action.HOLD
    assert "frozen until 2026-12-03 18:00Z (release train)" in decision.reason


def test_a_weekly_freeze_window_on_another_day_does_not_hold() -> None:
    assert decide(freeze=[{"days": ["fri"], "start": "00:00", "end": "24:00"}]).action is Action.PROMOTE


def test_a_one_off_freeze_window_holds_a_promotion() -> None:
    window = {"since": "2026-12-03T00:00:00Z", "until": "2026-12-05T00:00:00Z"}
    decision = decide(freeze=[window])
    assert decision.action is Action.HOLD
    assert "frozen until 2026-12-05 00:00Z" in decision.reason


def test_a_freeze_window_ends_at_its_end() -> None:
    window = {"start": "13:00", "end": "14:00"}
    assert decide(freeze=[window]).action is Action.PROMOTE  # NOW is 14:00: the window is over


def test_a_warning_steps_back_during_a_freeze() -> None:
    decision = decide(50, canary(tokens_per_request=80), freeze=[{"start": "00:00", "end": "24:00"}])
    assert decision.action is Action.STEP_BACK


def test_a_paused_rollout_holds_a_healthy_canary() -> None:
    decision = decide(paused=True)
    assert decision.action is Action.HOLD
    assert "paused" in decision.reason


# --- a verdict says why, and is the same every time -----------------------------------------


def test_the_same_inputs_give_the_same_decision() -> None:
    assert decide(50, canary(error_ratio=0.03)) == decide(50, canary(error_ratio=0.03))


def test_every_check_carries_its_metric_threshold_observed_value_and_sample() -> None:
    for check in decide().checks:
        assert check.metric and check.operator in (">", "<")
        assert check.sample >= 0
        if check.status in (Status.PASS, Status.FAIL):
            assert check.threshold is not None and check.observed is not None


def test_the_json_of_a_decision_has_the_documented_fields() -> None:
    data = decide().to_json()
    assert {"service", "action", "weight", "next_weight", "checks"} <= data.keys()
    assert (data["service"], data["action"], data["weight"], data["next_weight"]) == (
        "api",
        "promote",
        10,
        50,
    )
    assert data["key"] == "perfstack:services.api.canary.weight"
    assert all(
        {"metric", "threshold", "observed", "sample", "status", "p_value"} <= c.keys() for c in data["checks"]
    )


# --- a flag's phases: the same machinery on the flag's share of canary users ------------------

FLAG_STEPS = [{"weight": 5, "soak": "5m"}, {"weight": 25, "soak": "10m"}, {"weight": 100, "soak": "5m"}]


def flag_service(flag_canary: dict[str, Any] | None, weight: int = 50) -> ServiceConfig:
    flag: dict[str, Any] = {"enabled": False, "rollout": 0}
    if flag_canary is not None:
        flag["canary"] = flag_canary
    return ServiceConfig.model_validate(
        {
            "image": "ghcr.io/example/api",
            "stable": {"version": "1.4.2"},
            "canary": {"version": "1.4.2", "weight": weight, "allowSameVersion": True},
            "features": {"promptOptimization": flag},
            "rollout": {"flag": "promptOptimization", "steps": FLAG_STEPS},
        }
    )


def decide_flag(config: ServiceConfig, samples: ServiceSamples = HEALTHY) -> Decision:
    return judge("api", config, ALERTS, False, NOW, StepHistory(NOW - timedelta(hours=1)), samples)


FLAG_KEY = "services.api.features.promptOptimization.canary.rollout"


def test_a_flag_rollout_promotes_the_flags_share_of_canary_users() -> None:
    decision = decide_flag(flag_service({"enabled": True, "rollout": 5}))
    assert (decision.action, decision.key, decision.weight, decision.next_weight) == (
        Action.PROMOTE,
        FLAG_KEY,
        5,
        25,
    )


def test_a_failing_flag_is_rolled_back_on_its_own_key_and_the_canary_keeps_its_traffic() -> None:
    decision = decide_flag(flag_service({"enabled": True, "rollout": 25}), canary(error_ratio=0.2))
    assert (decision.action, decision.key, decision.next_weight) == (Action.ROLLBACK, FLAG_KEY, 0)


def test_a_flag_off_on_the_canary_holds_with_how_to_start() -> None:
    decision = decide_flag(flag_service(None))
    assert (decision.action, decision.weight) == (Action.HOLD, 0)
    assert "features.promptOptimization.canary to {enabled: true, rollout: 5}" in decision.reason


def test_a_flag_rollout_holds_while_the_canary_gets_no_users() -> None:
    decision = decide_flag(flag_service({"enabled": True, "rollout": 25}, weight=0))
    assert decision.action is Action.HOLD
    assert "gets no users" in decision.reason


def test_a_flag_at_100_on_the_canary_is_complete_and_says_to_turn_it_on_for_both_tracks() -> None:
    decision = decide_flag(flag_service({"enabled": True, "rollout": 100}))
    assert decision.action is Action.COMPLETE
    assert "features.promptOptimization.enabled: true" in decision.reason


def test_a_flag_at_100_is_still_compared_with_stable() -> None:
    decision = decide_flag(flag_service({"enabled": True, "rollout": 100}))
    assert {c.status for c in decision.checks if c.name.startswith("compare_")} == {Status.PASS}


def test_a_person_restarting_at_a_lower_step_after_a_step_back_is_promoted_after_the_soak() -> None:
    decision = decide(10, previous=25)
    assert (decision.action, decision.next_weight) == (Action.PROMOTE, 50)


def test_a_canary_with_other_histogram_buckets_is_not_compared_on_latency() -> None:
    other = tuple((le * 2, count) for le, count in histogram(1000, 0.4))
    check = next(c for c in decide(samples=canary(buckets=other)).checks if c.name == "compare_latency")
    assert check.status is Status.NOT_MEASURED


# --- the error budget gates promotion ------------------------------------------------------


def budgets(**remaining: float | None) -> ServiceSamples:
    return replace(
        HEALTHY,
        budgets=tuple(ErrorBudget(slo, "30d", value, 250_000) for slo, value in remaining.items()),
    )


def test_a_spent_error_budget_holds_a_promotion_and_says_how_much_is_left() -> None:
    decision = decide(10, budgets(availability=-0.4, latency=0.6))
    assert (decision.action, decision.next_weight) == (Action.HOLD, 10)
    assert "error budget" in decision.reason and "error_budget_availability: -0.4 < 0" in decision.reason
    assert "latency" not in decision.reason


def test_a_budget_above_the_configured_floor_lets_the_promotion_through() -> None:
    decision = decide(10, budgets(availability=0.3), minErrorBudget=0.25)
    assert (decision.action, decision.next_weight) == (Action.PROMOTE, 50)
    (check,) = [c for c in decision.checks if c.tier == "promotion"]
    assert (check.observed, check.threshold, check.status) == (0.3, 0.25, Status.PASS)


def test_a_budget_below_the_configured_floor_holds() -> None:
    assert decide(10, budgets(availability=0.2), minErrorBudget=0.25).action is Action.HOLD


def test_an_unknown_budget_holds_a_promotion() -> None:
    decision = decide(50, budgets(availability=None))
    assert decision.action is Action.HOLD and "error_budget_availability" in decision.reason


def test_a_spent_budget_never_stops_a_rollback() -> None:
    samples = replace(budgets(availability=-1.0), canary=replace(HEALTHY.canary, error_ratio=0.2))  # type: ignore[arg-type]
    assert decide(10, samples).action is Action.ROLLBACK


def test_a_soaking_step_reports_the_soak_before_the_budget() -> None:
    # The soak is reported first: the budget matters only once a promotion is due.
    decision = decide(10, budgets(availability=-1.0), soaked_for=timedelta(minutes=1))
    assert "soaking" in decision.reason


def test_a_spent_budget_leaves_complete_at_100_alone() -> None:
    samples = replace(budgets(availability=-1.0), stable=track(0), canary=track(10000))
    assert decide(100, samples).action is Action.COMPLETE
