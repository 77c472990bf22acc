"""The rule file: promtool accepts it, and every alert fires exactly as the catalog says."""

import re
from pathlib import Path

import pytest
import yaml

from components.prometheus.alerts import AlertsConfig, alert_catalog
from components.prometheus.rules import RECORDING_RULES, RULES_FILE_NAME, render_rules

from .alert_scenarios import (
    cache_scenario,
    canary_errors_scenario,
    canary_latency_scenario,
    expected_alert,
    for_minutes,
    past,
    rule_test_group,
    scenarios,
    series_minutes,
    unit_test_file,
)
from .tools import assert_ok, run_tool

CATALOG = alert_catalog(AlertsConfig())
BY_NAME = {spec.name: spec for spec in CATALOG}
NAMES = list(BY_NAME)


def run_rule_tests(rules_dir: Path, groups: list[dict], name: str) -> None:
    test_file = rules_dir / f"{name}.test.yml"
    test_file.write_text(unit_test_file(RULES_FILE_NAME, groups))
    assert_ok(run_tool("promtool", "test", "rules", str(test_file)))


def test_promtool_accepts_the_rule_file(rules_dir: Path) -> None:
    assert_ok(run_tool("promtool", "check", "rules", str(rules_dir / RULES_FILE_NAME)))


def test_recording_rule_names_follow_level_metric_operations() -> None:
    for name, _ in RECORDING_RULES:
        assert re.fullmatch(r"[a-z_]+:[a-z_]+:[a-z0-9_]+", name), name


def test_rule_file_holds_every_catalog_alert_once(alerts_cfg: AlertsConfig) -> None:
    groups = yaml.safe_load(render_rules(alerts_cfg))["groups"]
    alerts = [rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule]
    assert alerts == NAMES


def test_every_catalog_alert_has_a_generated_promtool_scenario(alerts_cfg: AlertsConfig) -> None:
    # Adding an alert to the catalog without a way to prove it fires must fail here.
    assert set(scenarios(alerts_cfg)) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_alert_fires_once_past_threshold_for_its_for_duration(
    name: str, alerts_cfg: AlertsConfig, rules_dir: Path
) -> None:
    spec = BY_NAME[name]
    scenario = scenarios(alerts_cfg)[name](alerts_cfg, "firing", series_minutes(spec))
    fires_at = scenario.active_from + for_minutes(spec)
    group = rule_test_group(name, scenario, [(name, fires_at, [expected_alert(spec, scenario)])])
    run_rule_tests(rules_dir, [group], f"{name}-fires")


@pytest.mark.parametrize("name", NAMES)
def test_alert_stays_silent_while_past_threshold_for_less_than_for(
    name: str, alerts_cfg: AlertsConfig, rules_dir: Path
) -> None:
    spec = BY_NAME[name]
    scenario = scenarios(alerts_cfg)[name](alerts_cfg, "firing", series_minutes(spec))
    last_pending = scenario.active_from + for_minutes(spec) - 1  # one evaluation before `for` has passed
    group = rule_test_group(name, scenario, [(name, last_pending, [])])
    run_rule_tests(rules_dir, [group], f"{name}-pending")


@pytest.mark.parametrize("name", NAMES)
def test_alert_stays_silent_just_short_of_threshold(
    name: str, alerts_cfg: AlertsConfig, rules_dir: Path
) -> None:
    spec = BY_NAME[name]
    scenario = scenarios(alerts_cfg)[name](alerts_cfg, "quiet", series_minutes(spec))
    late = scenario.active_from + for_minutes(spec) + 5
    group = rule_test_group(name, scenario, [(name, late, [])])
    run_rule_tests(rules_dir, [group], f"{name}-quiet")


def canary_checks(name: str, minute: int) -> list[tuple[str, int, list]]:
    return [(name, minute, [])]


def test_canary_error_alert_ignores_a_canary_below_the_minimum_request_rate(
    alerts_cfg: AlertsConfig, rules_dir: Path
) -> None:
    spec = BY_NAME["CanaryErrorRateAboveStable"]
    trickle = alerts_cfg.canary_min_request_rate * 60 * 0.5  # half the minimum, every request failing
    scenario = canary_errors_scenario(alerts_cfg, 1.0, series_minutes(spec), canary_per_minute=trickle)
    minute = scenario.active_from + for_minutes(spec) + 1
    run_rule_tests(
        rules_dir, [rule_test_group(spec.name, scenario, canary_checks(spec.name, minute))], "canary-idle"
    )


def test_canary_error_alert_ignores_a_stable_track_below_the_minimum_request_rate(
    alerts_cfg: AlertsConfig, rules_dir: Path
) -> None:
    spec = BY_NAME["CanaryErrorRateAboveStable"]
    trickle = alerts_cfg.canary_min_request_rate * 60 * 0.5
    scenario = canary_errors_scenario(alerts_cfg, 1.0, series_minutes(spec), stable_per_minute=trickle)
    minute = scenario.active_from + for_minutes(spec) + 1
    run_rule_tests(
        rules_dir, [rule_test_group(spec.name, scenario, canary_checks(spec.name, minute))], "stable-idle"
    )


def test_canary_latency_alert_ignores_a_canary_without_traffic(
    alerts_cfg: AlertsConfig, rules_dir: Path
) -> None:
    spec = BY_NAME["CanaryLatencyAboveStable"]
    trickle = alerts_cfg.canary_min_request_rate * 60 * 0.5
    scenario = canary_latency_scenario(alerts_cfg, 10.0, series_minutes(spec), canary_per_minute=trickle)
    minute = scenario.active_from + for_minutes(spec) + 1
    run_rule_tests(
        rules_dir, [rule_test_group(spec.name, scenario, canary_checks(spec.name, minute))], "latency-idle"
    )


def test_canary_error_alert_fires_when_stable_never_served_a_5xx(
    alerts_cfg: AlertsConfig, rules_dir: Path
) -> None:
    # Without a 5xx series stable's ratio must be 0, not absent, or a failing canary goes unnoticed.
    spec = BY_NAME["CanaryErrorRateAboveStable"]
    ratio = past(alerts_cfg.canary_error_rate_margin, True, "firing")
    scenario = canary_errors_scenario(alerts_cfg, ratio, series_minutes(spec), stable_with_5xx=False)
    minute = scenario.active_from + for_minutes(spec) + 1
    group = rule_test_group(spec.name, scenario, [(spec.name, minute, [expected_alert(spec, scenario)])])
    run_rule_tests(rules_dir, [group], "stable-no-5xx")


def test_cache_hit_rate_low_fires_when_nothing_ever_hit_the_cache(
    alerts_cfg: AlertsConfig, rules_dir: Path
) -> None:
    spec = BY_NAME["CacheHitRateLow"]
    scenario = cache_scenario(0.0, series_minutes(spec), with_hits=False)
    minute = scenario.active_from + for_minutes(spec) + 1
    group = rule_test_group(spec.name, scenario, [(spec.name, minute, [expected_alert(spec, scenario)])])
    run_rule_tests(rules_dir, [group], "cache-no-hits")


def test_stack_overrides_move_threshold_and_duration(tmp_path: Path) -> None:
    cfg = AlertsConfig(p95_critical_ms=3000, p95_critical_for="2m")
    (tmp_path / RULES_FILE_NAME).write_text(render_rules(cfg))
    spec = next(s for s in alert_catalog(cfg) if s.name == "P95LatencyCritical")
    below_old_threshold = scenarios(cfg)["P95LatencyCritical"](cfg, "quiet", 20)  # 2940 ms: fired under 2500
    above = scenarios(cfg)["P95LatencyCritical"](cfg, "firing", 20)
    groups = [
        rule_test_group("quiet below 3000ms", below_old_threshold, [(spec.name, 10, [])]),
        rule_test_group(
            "fires after 2m", above, [(spec.name, 2, []), (spec.name, 4, [expected_alert(spec, above)])]
        ),
    ]
    run_rule_tests(tmp_path, groups, "overrides")
