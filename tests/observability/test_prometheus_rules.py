"""The rule file: promtool accepts it, and every alert fires exactly as the catalog says."""

import re
from pathlib import Path

import pytest
import yaml

from components.platform.telemetry import REQUEST_RATE
from components.prometheus.alerts import AlertsConfig, AlertSpec, MonitoredDeployment, alert_catalog
from components.prometheus.rules import RECORDING_RULES, RULES_FILE_NAME, recording_rules, render_rules

from .alert_scenarios import (
    ALWAYS_FIRING,
    APP,
    BUSY,
    DEPLOYMENT,
    FAILOVER_AT,
    PROMETHEUS_TARGET,
    REDIS_TARGET,
    Scenario,
    cache_scenario,
    canary_errors_scenario,
    canary_latency_scenario,
    counter,
    expected_alert,
    failover_scenario,
    for_minutes,
    gauge,
    latency_series,
    past,
    request_series,
    rule_test_group,
    scenarios,
    selector,
    series_minutes,
    track_down_scenario,
    unit_test_file,
)
from .tools import assert_ok, run_tool

CATALOG = alert_catalog(AlertsConfig(), DEPLOYMENT)
BY_NAME = {spec.name: spec for spec in CATALOG}
NAMES = list(BY_NAME)
WITH_FOR = [name for name in NAMES if for_minutes(BY_NAME[name]) > 0]
WITH_QUIET_SIDE = [name for name in NAMES if name not in ALWAYS_FIRING]


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
    groups = yaml.safe_load(render_rules(alerts_cfg, DEPLOYMENT))["groups"]
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


@pytest.mark.parametrize("name", WITH_FOR)
def test_alert_stays_silent_while_past_threshold_for_less_than_for(
    name: str, alerts_cfg: AlertsConfig, rules_dir: Path
) -> None:
    spec = BY_NAME[name]
    scenario = scenarios(alerts_cfg)[name](alerts_cfg, "firing", series_minutes(spec))
    last_pending = scenario.active_from + for_minutes(spec) - 1  # one evaluation before `for` has passed
    group = rule_test_group(name, scenario, [(name, last_pending, [])])
    run_rule_tests(rules_dir, [group], f"{name}-pending")


@pytest.mark.parametrize("name", WITH_QUIET_SIDE)
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


def test_error_alert_ignores_a_track_below_the_minimum_request_rate(
    alerts_cfg: AlertsConfig, rules_dir: Path
) -> None:
    # At night: half the minimum rate, and half of those few requests fail.
    spec = BY_NAME["ErrorRateCritical"]
    trickle = alerts_cfg.error_rate_min_request_rate * 60 * 0.5
    scenario = Scenario(request_series(APP, 0.5, series_minutes(spec), per_minute=trickle), APP, 1, 0.5)
    minute = scenario.active_from + for_minutes(spec) + 1
    run_rule_tests(rules_dir, [rule_test_group(spec.name, scenario, [(spec.name, minute, [])])], "night")


def test_error_alert_fires_at_the_minimum_request_rate(alerts_cfg: AlertsConfig, rules_dir: Path) -> None:
    spec = BY_NAME["ErrorRateCritical"]
    per_minute = alerts_cfg.error_rate_min_request_rate * 60 * 1.02
    ratio = past(alerts_cfg.error_rate_critical, True, "firing")
    scenario = Scenario(
        request_series(APP, ratio, series_minutes(spec), per_minute=per_minute), APP, 1, ratio
    )
    # rate() extrapolates little over a window not yet covered: the 5m rate is whole from minute 4.
    minute = 4 + for_minutes(spec) + 1
    group = rule_test_group(spec.name, scenario, [(spec.name, minute, [expected_alert(spec, scenario)])])
    run_rule_tests(rules_dir, [group], "min-rate")


def probe_series(minutes: int, code: str) -> list[tuple[str, str]]:
    """Busy probe and scrape routes answering `code`, as an app that counts them would report."""
    return [
        (selector("http_requests_total", {**APP, "route": route, "code": code}), counter(BUSY, minutes))
        for route in ("/health", "/ready", "/metrics")
    ]


def test_failing_probes_do_not_count_as_user_errors(alerts_cfg: AlertsConfig, rules_dir: Path) -> None:
    # A pod failing readiness answers 503 to its probes; users' requests all succeed.
    spec = BY_NAME["ErrorRateWarning"]
    minutes = series_minutes(spec)
    series = request_series({**APP, "route": "/chat"}, 0, minutes, with_5xx=False) + probe_series(
        minutes, "503"
    )
    scenario = Scenario(series, APP, 1, 0)
    minute = scenario.active_from + for_minutes(spec) + 1
    run_rule_tests(rules_dir, [rule_test_group(spec.name, scenario, [(spec.name, minute, [])])], "probes-5xx")


def test_request_rate_counts_user_routes_only(rules_dir: Path) -> None:
    minutes = 10
    series = request_series({**APP, "route": "/chat"}, 0, minutes, per_minute=60, with_5xx=False)
    series += probe_series(minutes, "200")
    group = {
        "name": "request rate",
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in series],
        "promql_expr_test": [
            {
                "expr": REQUEST_RATE,
                "eval_time": "6m",
                "exp_samples": [{"labels": selector(REQUEST_RATE, APP), "value": 1}],
            }
        ],
    }
    run_rule_tests(rules_dir, [group], "request-rate")


def test_fast_probes_do_not_pull_the_p95_down(alerts_cfg: AlertsConfig, rules_dir: Path) -> None:
    spec = BY_NAME["P95LatencyCritical"]
    minutes = series_minutes(spec)
    p95 = past(alerts_cfg.p95_critical_ms / 1000, True, "firing")
    probes = [
        s
        for route in ("/health", "/ready", "/metrics")
        for s in latency_series({**APP, "route": route}, 0.001, minutes, per_minute=BUSY * 10)
    ]
    scenario = Scenario(latency_series({**APP, "route": "/chat"}, p95, minutes) + probes, APP, 1, p95)
    minute = scenario.active_from + for_minutes(spec)
    group = rule_test_group(spec.name, scenario, [(spec.name, minute, [expected_alert(spec, scenario)])])
    run_rule_tests(rules_dir, [group], "probes-fast")


def test_stable_track_alert_fires_when_every_instance_fails_its_scrape(rules_dir: Path) -> None:
    spec = BY_NAME["NoStableInstanceUp"]
    scenario = track_down_scenario("stable", 0, series_minutes(spec))
    minute = scenario.active_from + for_minutes(spec)
    group = rule_test_group(spec.name, scenario, [(spec.name, minute, [expected_alert(spec, scenario)])])
    run_rule_tests(rules_dir, [group], "stable-all-down")


def test_track_alert_stays_silent_while_one_instance_is_up(rules_dir: Path) -> None:
    spec = BY_NAME["NoCanaryInstanceUp"]
    minutes = series_minutes(spec)
    labels = {"job": "app", "service": "api", "track": "canary"}
    series = [
        (selector("up", {**labels, "instance": "api-canary-0:8000"}), gauge(0, minutes)),
        (selector("up", {**labels, "instance": "api-canary-1:8000"}), gauge(1, minutes)),
    ]
    scenario = Scenario(series, {"service": "api", "track": "canary"}, 0, 1)
    minute = for_minutes(spec) + 1
    run_rule_tests(rules_dir, [rule_test_group(spec.name, scenario, [(spec.name, minute, [])])], "one-up")


def test_track_alerts_are_left_out_for_tracks_that_do_not_run(alerts_cfg: AlertsConfig) -> None:
    names = {s.name for s in alert_catalog(alerts_cfg, MonitoredDeployment(tracks=(("api", "stable"),)))}
    assert "NoStableInstanceUp" in names
    assert "NoCanaryInstanceUp" not in names


def test_redis_failover_alert_resolves_within_its_window(alerts_cfg: AlertsConfig, rules_dir: Path) -> None:
    spec = BY_NAME["RedisFailover"]
    window = for_minutes(AlertSpec(**{**vars(spec), "for_": alerts_cfg.redis_failover_window}))
    scenario = failover_scenario(FAILOVER_AT + window + 5)
    checks = [
        (spec.name, FAILOVER_AT - 1, []),
        (spec.name, FAILOVER_AT, [expected_alert(spec, scenario)]),
        (spec.name, FAILOVER_AT + window - 2, [expected_alert(spec, scenario)]),
        (spec.name, FAILOVER_AT + window, []),
    ]
    run_rule_tests(rules_dir, [rule_test_group(spec.name, scenario, checks)], "failover-window")


def test_no_alertmanager_discovered_raises_not_connected(rules_dir: Path) -> None:
    spec = BY_NAME["PrometheusNotConnectedToAlertmanagers"]
    minutes = series_minutes(spec)
    series = [
        (selector("prometheus_notifications_alertmanagers_discovered", PROMETHEUS_TARGET), gauge(0, minutes))
    ]
    scenario = Scenario(series, PROMETHEUS_TARGET, 0, 0)
    minute = for_minutes(spec)
    group = rule_test_group(spec.name, scenario, [(spec.name, minute, [expected_alert(spec, scenario)])])
    run_rule_tests(rules_dir, [group], "no-alertmanager")


def test_watchdog_fires_from_the_first_evaluation_without_any_input(rules_dir: Path) -> None:
    spec = BY_NAME["Watchdog"]
    scenario = Scenario([], {}, 0, 1)
    run_rule_tests(
        rules_dir,
        [rule_test_group(spec.name, scenario, [(spec.name, 0, [expected_alert(spec, scenario)])])],
        "watchdog",
    )


@pytest.mark.parametrize("window", ["5m", "30s", "2m"])
def test_every_recording_rule_rate_spans_the_rate_window(window: str) -> None:
    ranges = [
        found
        for _, expr in recording_rules(AlertsConfig(rate_window=window))
        for found in re.findall(r"\[([^\]]+)\]", expr)
    ]
    assert ranges and set(ranges) == {window}


def test_rate_window_defaults_to_5m() -> None:
    assert AlertsConfig().rate_window == "5m"
    assert recording_rules(AlertsConfig()) == RECORDING_RULES


def test_recording_rule_names_do_not_change_with_the_rate_window() -> None:
    names = [name for name, _ in recording_rules(AlertsConfig(rate_window="30s"))]
    assert names == [name for name, _ in RECORDING_RULES]


REDIS_NODE_0 = {**REDIS_TARGET, "instance": "redis-0.redis-headless:6379"}


def _redis_nodes(up: list[int], roles: list[str | None], minutes: int) -> list[tuple[str, str]]:
    """Data nodes with these `redis_up`; a node with a role reports `redis_instance_info` (one that is
    down reports none, as redis_exporter does)."""
    series = []
    for i, (node_up, role) in enumerate(zip(up, roles, strict=True)):
        node = {**REDIS_TARGET, "instance": f"redis-{i}.redis-headless:6379"}
        series.append((selector("redis_up", node), gauge(node_up, minutes)))
        if role is not None:
            series.append((selector("redis_instance_info", {**node, "role": role}), gauge(1, minutes)))
    return series


def test_redis_whose_only_node_is_down_raises_redis_down_not_no_master(rules_dir: Path) -> None:
    no_master, down = BY_NAME["RedisNoMaster"], BY_NAME["RedisDown"]
    minutes = series_minutes(no_master) + 2
    node = {**REDIS_TARGET, "instance": "redis-0.redis-headless:6379"}
    scenario = Scenario(_redis_nodes([0], [None], minutes), node, 0, 0)
    checks = [
        (no_master.name, minutes - 1, []),
        (down.name, minutes - 1, [expected_alert(down, scenario)]),
    ]
    run_rule_tests(rules_dir, [rule_test_group("only-node-down", scenario, checks)], "only-node-down")


def test_replicas_that_answer_without_a_master_raise_no_master_while_the_old_master_is_down(
    rules_dir: Path,
) -> None:
    spec = BY_NAME["RedisNoMaster"]
    minutes = series_minutes(spec) + 2
    series = _redis_nodes([0, 1, 1], [None, "slave", "slave"], minutes)
    scenario = Scenario(series, {"service": "redis"}, 0, 2)
    checks = [(spec.name, minutes - 1, [expected_alert(spec, scenario)])]
    run_rule_tests(rules_dir, [rule_test_group("master-down", scenario, checks)], "master-down")


def test_a_warm_lru_cache_at_maxmemory_raises_no_redis_alert(rules_dir: Path) -> None:
    # A healthy allkeys-lru cache: used = maxmemory, evicting, 90 % of lookups hit, resident at 70 % of
    # the container's limit, up for days. Every Redis alert must stay silent (RedisMemoryHigh fired here).
    assert DEPLOYMENT.redis_memory_limit_bytes is not None
    minutes = 30
    maxmemory = 512 * 2**20
    series = [
        *_redis_nodes([1], ["master"], minutes),
        (selector("redis_memory_max_bytes", REDIS_NODE_0), gauge(maxmemory, minutes)),
        (selector("redis_memory_used_bytes", REDIS_NODE_0), gauge(maxmemory, minutes)),
        (
            selector("redis_memory_used_rss_bytes", REDIS_NODE_0),
            gauge(0.7 * DEPLOYMENT.redis_memory_limit_bytes, minutes),
        ),
        (selector("redis_keyspace_hits_total", REDIS_NODE_0), counter(900, minutes)),
        (selector("redis_keyspace_misses_total", REDIS_NODE_0), counter(100, minutes)),
        (selector("redis_evicted_keys_total", REDIS_NODE_0), counter(50, minutes)),
        (selector("redis_uptime_in_seconds", REDIS_NODE_0), f"86400+60x{minutes}"),
    ]
    redis_alerts = [name for name in NAMES if name.startswith("Redis")]
    checks = [(name, minutes, []) for name in redis_alerts]
    scenario = Scenario(series, REDIS_NODE_0, 0, 0)
    run_rule_tests(rules_dir, [rule_test_group("warm-cache", scenario, checks)], "warm-cache")
