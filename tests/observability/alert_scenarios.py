"""promtool unit tests generated from the alert catalog.

For each alert a scenario builds input series whose value sits 2 % on the
firing side of the alert's threshold ("firing") or 2 % on the quiet side
("quiet"), with the labels scraping would add. The expected alert is derived
from the catalog entry (its static labels and annotation templates), so a
test checks the rule Prometheus really loads against the catalog's intent.
"""

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from components.platform.settings import duration_seconds
from components.platform.telemetry import REDIS_DATA_NODE, REDIS_KIND_LABEL, REDIS_SENTINEL, num
from components.prometheus.alerts import AlertsConfig, AlertSpec, MonitoredDeployment
from components.prometheus.rules import ALERTING_GROUP, RECORDING_GROUP
from components.prometheus.slo import SLO_BUDGET_GROUP, SLO_GROUP

Side = Literal["firing", "quiet"]

APP = {"service": "api", "track": "stable"}
CANARY = {"service": "api", "track": "canary"}
APP_TARGET = {"job": "app", "instance": "api-stable:8000", **APP}
REDIS_TARGET = {
    "job": "redis",
    "instance": "redis:6379",
    "service": "redis",
    REDIS_KIND_LABEL: REDIS_DATA_NODE,
}
SENTINEL_TARGET = {
    "job": "redis",
    "instance": "redis-sentinel-0.redis-sentinel-headless:26379",
    "service": "redis",
    REDIS_KIND_LABEL: REDIS_SENTINEL,
}
JAEGER_TARGET = {"job": "jaeger", "instance": "jaeger:8888", "service": "jaeger"}
PROMETHEUS_TARGET = {"job": "prometheus", "instance": "localhost:9090", "service": "prometheus"}
ALERTMANAGER_TARGET = {"job": "alertmanager", "instance": "alertmanager-0:9093", "service": "alertmanager"}
DEPLOYMENT = MonitoredDeployment(
    tracks=(("api", "stable"), ("api", "canary")),
    alertmanager_replicas=3,
    redis_memory_limit_bytes=768 * 2**20,
    redis_volume_bytes=2 * 2**30,
    redis_min_replicas_to_write=1,
)
"""What the scenarios assume runs: the api service with both tracks, three Alertmanagers, Redis in a
768 MiB container (the default for 512mb of maxmemory) with a 2 GiB volume, whose master needs one
replica to accept writes (production's Sentinel set)."""
ALWAYS_FIRING = frozenset({"Watchdog"})
"""Alerts without a quiet side."""
# Requests per minute of a busy track: 10 req/s, far above any minimum request rate.
BUSY = 600.0


@dataclass(frozen=True)
class Scenario:
    """Input series for one promtool test group and what the alert should then look like."""

    series: list[tuple[str, str]]
    """(series selector, promtool values) pairs."""
    alert_labels: dict[str, str]
    """Labels the alert gets from the data ($labels); the rule's static labels come on top."""
    active_from: int
    """Minute of the first evaluation at which the condition holds (rates need two samples: 1)."""
    value: float
    """The value the alert's $value shows."""
    extra: dict[str, Any] = field(default_factory=dict)


def past(threshold: float, fires_above: bool, side: Side) -> float:
    """A value 2 % beyond the threshold on the firing side, or 2 % short of it on the quiet side."""
    outward = (side == "firing") == fires_above
    return threshold * (1.02 if outward else 0.98)


def selector(name: str, labels: dict[str, str]) -> str:
    """A series selector as promtool input wants it: name{k="v",...}."""
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{inner}}}"


def counter(per_minute: float, minutes: int) -> str:
    """A counter growing by `per_minute` each 1m step."""
    return f"0+{num(per_minute)}x{minutes}"


def gauge(value: float, minutes: int) -> str:
    """A gauge constant at `value`."""
    return f"{num(value)}+0x{minutes}"


def latency_series(
    labels: dict[str, str], p95: float, minutes: int, per_minute: float = 100, quantile: float = 0.95
) -> list[tuple[str, str]]:
    """A histogram whose `quantile` is exactly `p95`: every observation in one bucket (0, le], Pq = q * le."""
    name = "http_request_duration_seconds_bucket"
    return [
        (selector(name, {**labels, "le": repr(p95 / quantile)}), counter(per_minute, minutes)),
        (selector(name, {**labels, "le": "+Inf"}), counter(per_minute, minutes)),
    ]


def mean_latency_series(
    labels: dict[str, str], mean: float, minutes: int, per_minute: float = 100
) -> list[tuple[str, str]]:
    """A histogram's _sum and _count whose mean observation is exactly `mean`."""
    return [
        (selector("http_request_duration_seconds_sum", labels), counter(per_minute * mean, minutes)),
        (selector("http_request_duration_seconds_count", labels), counter(per_minute, minutes)),
    ]


def request_series(
    labels: dict[str, str], error_ratio: float, minutes: int, per_minute: float = 1000, with_5xx: bool = True
) -> list[tuple[str, str]]:
    """http_requests_total with the given share of 5xx (no 5xx series at all when with_5xx is False)."""
    series = [
        (
            selector("http_requests_total", {**labels, "code": "200"}),
            counter(per_minute * (1 - error_ratio), minutes),
        )
    ]
    if with_5xx:
        series.append(
            (
                selector("http_requests_total", {**labels, "code": "500"}),
                counter(per_minute * error_ratio, minutes),
            )
        )
    return series


def _latency(threshold_ms: float) -> Callable[[AlertsConfig, Side, int], Scenario]:
    def build(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
        p95 = past(threshold_ms / 1000, True, side)
        return Scenario(latency_series(APP, p95, minutes), APP, 1, p95)

    return build


def _p50(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
    p50 = past(cfg.p50_warning_ms / 1000, True, side)
    return Scenario(latency_series(APP, p50, minutes, quantile=0.5), APP, 1, p50)


def _mean(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
    mean = past(cfg.mean_latency_warning_ms / 1000, True, side)
    return Scenario(mean_latency_series(APP, mean, minutes), APP, 1, mean)


def _errors(ratio: float) -> Callable[[AlertsConfig, Side, int], Scenario]:
    def build(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
        value = past(ratio, True, side)
        return Scenario(request_series(APP, value, minutes), APP, 1, value)

    return build


def _quality(score: float) -> Callable[[AlertsConfig, Side, int], Scenario]:
    def build(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
        value = past(score, False, side)
        return Scenario(
            [(selector("quality_score", {**APP, "intent": "summary"}), gauge(value, minutes))], APP, 0, value
        )

    return build


def cache_scenario(hit_ratio: float, minutes: int, with_hits: bool = True) -> Scenario:
    """Cache requests with the given hit ratio (no `hit` series at all when with_hits is False)."""
    series = [
        (selector("cache_requests_total", {**APP, "result": "miss"}), counter(100 * (1 - hit_ratio), minutes))
    ]
    if with_hits:
        series.append(
            (selector("cache_requests_total", {**APP, "result": "hit"}), counter(100 * hit_ratio, minutes))
        )
    return Scenario(series, APP, 1, hit_ratio)


def _cache(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
    return cache_scenario(past(cfg.cache_hit_rate_low, False, side), minutes)


def _tokens(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
    per_request = past(cfg.token_limit_per_request, True, side)
    series = [
        *request_series(APP, 0, minutes, per_minute=100, with_5xx=False),
        (
            selector("llm_tokens_total", {**APP, "direction": "input"}),
            counter(100 * per_request * 0.6, minutes),
        ),
        (
            selector("llm_tokens_total", {**APP, "direction": "output"}),
            counter(100 * per_request * 0.4, minutes),
        ),
    ]
    return Scenario(series, APP, 1, per_request)


def _app_down(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
    up = 0 if side == "firing" else 1
    return Scenario([(selector("up", APP_TARGET), gauge(up, minutes))], APP_TARGET, 0, up)


def _redis_down(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
    up = 0 if side == "firing" else 1
    return Scenario([(selector("redis_up", REDIS_TARGET), gauge(up, minutes))], REDIS_TARGET, 0, up)


def up_series(targets: list[dict[str, str]], up: int, minutes: int) -> list[tuple[str, str]]:
    """`up` of each target, constant."""
    return [(selector("up", target), gauge(up, minutes)) for target in targets]


def track_down_scenario(track: str, up: int | None, minutes: int) -> Scenario:
    """The api `track` with two instances at `up` (none scraped at all when None); the other track up."""
    labels = {"service": "api", "track": track}
    other = {"service": "api", "track": "canary" if track == "stable" else "stable"}
    targets = [{"job": "app", "instance": f"api-{track}-{i}:8000", **labels} for i in range(2)]
    series = up_series([{"job": "app", "instance": "api-other:8000", **other}], 1, minutes)
    if up is not None:
        series += up_series(targets, up, minutes)
    return Scenario(series, labels, 0, 1)


def _track_down(track: str) -> Callable[[AlertsConfig, Side, int], Scenario]:
    def build(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
        # Firing: the track's pods are Pending, so relabelling drops them and no `up` exists.
        return track_down_scenario(track, None if side == "firing" else 1, minutes)

    return build


def _sentinel_down(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
    up = 0 if side == "firing" else 1
    return Scenario([(selector("redis_up", SENTINEL_TARGET), gauge(up, minutes))], SENTINEL_TARGET, 0, up)


def roles_scenario(roles: list[str], minutes: int) -> Scenario:
    """Data nodes that answer, with these `role`s (master / slave); the alert labels are the service's."""
    series = []
    for i, role in enumerate(roles):
        node = {**REDIS_TARGET, "instance": f"redis-{i}.redis-headless:6379"}
        series.append((selector("redis_up", node), gauge(1, minutes)))
        series.append((selector("redis_instance_info", {**node, "role": role}), gauge(1, minutes)))
    return Scenario(series, {"service": "redis"}, 0, len(roles))


def _no_master(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
    return roles_scenario(
        ["slave", "slave", "slave"] if side == "firing" else ["master", "slave", "slave"], minutes
    )


def _multiple_masters(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
    if side == "firing":
        scenario = roles_scenario(["master", "master", "slave"], minutes)
        return Scenario(scenario.series, scenario.alert_labels, 0, 2)
    return roles_scenario(["master", "slave", "slave"], minutes)


FAILOVER_AT = 3
"""Minute at which the failover scenarios promote a new master."""


def failover_scenario(minutes: int, failover: bool = True) -> Scenario:
    """Two Sentinels report master `perfstack` at epoch 0; with `failover`, at FAILOVER_AT a new
    address at epoch 1 (the old address's series ends, as it does when Sentinel forgets it)."""
    series = []
    for sentinel in range(2):
        target = {**SENTINEL_TARGET, "instance": f"redis-sentinel-{sentinel}.redis-sentinel-headless:26379"}
        old = {**target, "master_name": "perfstack", "master_address": "10.0.0.1:6379"}
        new = {**target, "master_name": "perfstack", "master_address": "10.0.0.2:6379"}
        if failover:
            series.append((selector("redis_sentinel_master_config_epoch", old), f"0x{FAILOVER_AT - 1} stale"))
            series.append(
                (
                    selector("redis_sentinel_master_config_epoch", new),
                    f"_x{FAILOVER_AT} 1+0x{minutes - FAILOVER_AT}",
                )
            )
        else:
            series.append((selector("redis_sentinel_master_config_epoch", old), gauge(0, minutes)))
    return Scenario(series, {"service": "redis", "master_name": "perfstack"}, FAILOVER_AT, 1)


def _failover(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
    return failover_scenario(minutes, failover=side == "firing")


def _watchdog(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
    return Scenario([], {}, 0, 1)


def _target_down(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
    up = 0 if side == "firing" else 1
    return Scenario(up_series([JAEGER_TARGET], up, minutes), JAEGER_TARGET, 0, up)


def _rule_failures(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
    labels = {**PROMETHEUS_TARGET, "rule_group": "/etc/prometheus/rules/perfstack-rules.yml;perfstack.alerts"}
    per_minute = 1 if side == "firing" else 0
    # increase() over 5m of one failure a minute, extrapolated to the window: 5.
    return Scenario(
        [(selector("prometheus_rule_evaluation_failures_total", labels), counter(per_minute, minutes))],
        labels,
        1,
        5,
    )


def notifications_scenario(delivered_by: int | None, minutes: int, alertmanagers: int = 3) -> Scenario:
    """Prometheus sending to `alertmanagers`; only the one numbered `delivered_by` accepts (None: none)."""
    series = [
        (
            selector("prometheus_notifications_alertmanagers_discovered", PROMETHEUS_TARGET),
            gauge(alertmanagers, minutes),
        )
    ]
    for i in range(alertmanagers):
        labels = {**PROMETHEUS_TARGET, "alertmanager": f"http://alertmanager-{i}:9093/api/v2/alerts"}
        ok = i == delivered_by
        series.append(
            (selector("prometheus_notifications_sent_total", labels), counter(1 if ok else 0, minutes))
        )
        series.append(
            (selector("prometheus_notifications_errors_total", labels), counter(0 if ok else 1, minutes))
        )
    return Scenario(series, PROMETHEUS_TARGET, 1, 0)


def _not_connected(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
    return notifications_scenario(None if side == "firing" else 2, minutes)


def _notifications_failing(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
    labels = {**ALERTMANAGER_TARGET, "integration": "slack", "reason": "serverError"}
    per_minute = 6 if side == "firing" else 0
    series = [
        (selector("alertmanager_notifications_failed_total", labels), counter(per_minute, minutes)),
        (
            selector("alertmanager_notifications_failed_total", {**labels, "integration": "email"}),
            counter(0, minutes),
        ),
    ]
    return Scenario(series, {"service": "alertmanager", "integration": "slack"}, 1, per_minute / 60)


def _spans_not_stored(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
    failed = {**JAEGER_TARGET, "exporter": "jaeger_storage_exporter"}
    per_minute = 30 if side == "firing" else 0
    series = [
        (selector("otelcol_exporter_send_failed_spans_total", failed), counter(per_minute, minutes)),
        # Another exporter's failures are not the trace store's.
        (
            selector("otelcol_exporter_send_failed_spans_total", {**failed, "exporter": "debug"}),
            counter(60, minutes),
        ),
    ]
    where = {k: JAEGER_TARGET[k] for k in ("service", "instance")}
    return Scenario(series, where, 1, per_minute / 60)


def _cluster_members(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
    members = DEPLOYMENT.alertmanager_replicas - (1 if side == "firing" else 0)
    series = [(selector("alertmanager_cluster_members", ALERTMANAGER_TARGET), gauge(members, minutes))]
    return Scenario(series, ALERTMANAGER_TARGET, 0, members)


def _redis_memory_near_limit(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
    assert DEPLOYMENT.redis_memory_limit_bytes is not None
    ratio = past(cfg.redis_memory_limit_ratio, True, side)
    rss = DEPLOYMENT.redis_memory_limit_bytes * ratio
    return Scenario(
        [(selector("redis_memory_used_rss_bytes", REDIS_TARGET), gauge(rss, minutes))], REDIS_TARGET, 0, ratio
    )


def _status(metric: str) -> Callable[[AlertsConfig, Side, int], Scenario]:
    """A Redis status gauge: 0 (failed) on the firing side, 1 (ok) on the quiet side."""

    def build(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
        value = 0 if side == "firing" else 1
        return Scenario([(selector(metric, REDIS_TARGET), gauge(value, minutes))], REDIS_TARGET, 0, value)

    return build


def _redis_volume_filling(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
    assert DEPLOYMENT.redis_volume_bytes is not None
    ratio = past(cfg.redis_aof_volume_ratio, True, side)
    size = DEPLOYMENT.redis_volume_bytes * ratio
    series = [(selector("redis_aof_current_size_bytes", REDIS_TARGET), gauge(size, minutes))]
    return Scenario(series, REDIS_TARGET, 0, ratio)


def _master_without_replicas(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
    needed = DEPLOYMENT.redis_min_replicas_to_write
    connected = needed - 1 if side == "firing" else needed
    series = [
        (selector("redis_connected_slaves", REDIS_TARGET), gauge(connected, minutes)),
        (selector("redis_instance_info", {**REDIS_TARGET, "role": "master"}), gauge(1, minutes)),
    ]
    return Scenario(series, REDIS_TARGET, 0, connected)


def _redis_thrashing(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
    hit_ratio = past(cfg.redis_thrashing_hit_ratio, False, side)
    series = [
        (selector("redis_keyspace_hits_total", REDIS_TARGET), counter(1000 * hit_ratio, minutes)),
        (selector("redis_keyspace_misses_total", REDIS_TARGET), counter(1000 * (1 - hit_ratio), minutes)),
        (selector("redis_evicted_keys_total", REDIS_TARGET), counter(50, minutes)),
    ]
    return Scenario(series, REDIS_TARGET, 1, hit_ratio)


def _redis_restarted(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
    # Up for an hour before the test begins, then (firing) started again at minute 2.
    uptime = "3600+60x1 0+60x" + str(minutes - 2) if side == "firing" else f"3600+60x{minutes}"
    return Scenario([(selector("redis_uptime_in_seconds", REDIS_TARGET), uptime)], REDIS_TARGET, 2, 1)


STABLE_ERROR_RATIO = 0.01
STABLE_P95 = 0.5


def canary_errors_scenario(
    cfg: AlertsConfig,
    canary_ratio: float,
    minutes: int,
    canary_per_minute: float = BUSY,
    stable_per_minute: float = BUSY,
    stable_with_5xx: bool = True,
) -> Scenario:
    """Stable failing 1 % (or never with stable_with_5xx=False), the canary failing `canary_ratio`."""
    stable_ratio = STABLE_ERROR_RATIO if stable_with_5xx else 0
    series = [
        *request_series(APP, stable_ratio, minutes, stable_per_minute, with_5xx=stable_with_5xx),
        *request_series(CANARY, canary_ratio, minutes, canary_per_minute),
    ]
    return Scenario(series, CANARY, 1, canary_ratio)


def _canary_errors(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
    ratio = STABLE_ERROR_RATIO + past(cfg.canary_error_rate_margin, True, side)
    return canary_errors_scenario(cfg, ratio, minutes)


def canary_latency_scenario(
    cfg: AlertsConfig, canary_p95: float, minutes: int, canary_per_minute: float = BUSY
) -> Scenario:
    """Stable at a 0.5 s P95, the canary at `canary_p95`, both with (error-free) traffic."""
    series = [
        *latency_series(APP, STABLE_P95, minutes, BUSY),
        *latency_series(CANARY, canary_p95, minutes, canary_per_minute),
        *request_series(APP, 0, minutes, BUSY, with_5xx=False),
        *request_series(CANARY, 0, minutes, canary_per_minute, with_5xx=False),
    ]
    return Scenario(series, CANARY, 1, canary_p95)


def _canary_latency(cfg: AlertsConfig, side: Side, minutes: int) -> Scenario:
    limit = STABLE_P95 * (1 + cfg.canary_latency_margin)
    return canary_latency_scenario(cfg, past(limit, True, side), minutes)


def scenarios(cfg: AlertsConfig) -> dict[str, Callable[[AlertsConfig, Side, int], Scenario]]:
    """Scenario builder for every alert name the catalog should contain."""
    return {
        "P95LatencyCritical": _latency(cfg.p95_critical_ms),
        "P95LatencyWarning": _latency(cfg.p95_warning_ms),
        "P50LatencyWarning": _p50,
        "MeanLatencyWarning": _mean,
        "ErrorRateCritical": _errors(cfg.error_rate_critical),
        "ErrorRateWarning": _errors(cfg.error_rate_warning),
        "QualityScoreCritical": _quality(cfg.quality_critical),
        "QualityScoreWarning": _quality(cfg.quality_warning),
        "CacheHitRateLow": _cache,
        "TokenUsageHigh": _tokens,
        "ApplicationDown": _app_down,
        "NoStableInstanceUp": _track_down("stable"),
        "NoCanaryInstanceUp": _track_down("canary"),
        "RedisDown": _redis_down,
        "RedisSentinelDown": _sentinel_down,
        "RedisNoMaster": _no_master,
        "RedisMultipleMasters": _multiple_masters,
        "RedisFailover": _failover,
        "RedisMemoryNearLimit": _redis_memory_near_limit,
        "RedisCacheThrashing": _redis_thrashing,
        "RedisAofWriteFailing": _status("redis_aof_last_write_status"),
        "RedisRdbSnapshotFailing": _status("redis_rdb_last_bgsave_status"),
        "RedisVolumeFilling": _redis_volume_filling,
        "RedisReplicaLinkDown": _status("redis_master_link_up"),
        "RedisMasterWithoutReplicas": _master_without_replicas,
        "RedisRestarted": _redis_restarted,
        "CanaryErrorRateAboveStable": _canary_errors,
        "CanaryLatencyAboveStable": _canary_latency,
        "Watchdog": _watchdog,
        "TargetDown": _target_down,
        "PrometheusRuleEvaluationFailures": _rule_failures,
        "PrometheusNotConnectedToAlertmanagers": _not_connected,
        "AlertmanagerNotificationsFailing": _notifications_failing,
        "AlertmanagerClusterMembersMissing": _cluster_members,
        "JaegerSpansNotStored": _spans_not_stored,
    }


def for_minutes(spec: AlertSpec) -> int:
    """The alert's `for` in whole minutes (test groups step by 1m)."""
    return math.ceil(duration_seconds(spec.for_) / 60)


def series_minutes(spec: AlertSpec) -> int:
    """Enough 1m samples to evaluate a while after the alert should have fired."""
    return for_minutes(spec) + 10


def render_template(template: str, labels: dict[str, str], value: float) -> str:
    """Expand the few Go-template forms the catalog uses, as Prometheus would.

    Fails on any other form, so a catalog change that this cannot render is
    noticed here instead of producing a wrong expectation.
    """

    def expand(match: re.Match[str]) -> str:
        expr = match.group(1)
        if label := re.fullmatch(r"\$labels\.(\w+)", expr):
            return labels[label.group(1)]
        if expr == "$value":
            # Go prints a float64 in its shortest form: 2, not 2.0.
            return str(int(value)) if float(value).is_integer() else repr(float(value))
        if expr == "$value | humanizePercentage":
            return f"{value * 100:.4g}%"
        if fmt := re.fullmatch(r'\$value \| printf "(%\.\d+f)"', expr):
            return fmt.group(1) % value
        raise AssertionError(f"test renderer does not know the template form {{{{ {expr} }}}}")

    return re.sub(r"\{\{\s*(.*?)\s*\}\}", expand, template)


def expected_alert(spec: AlertSpec, scenario: Scenario) -> dict[str, Any]:
    """The alert promtool should report: data labels + the rule's labels, annotations rendered."""
    return {
        "exp_labels": {**scenario.alert_labels, **spec.labels},
        "exp_annotations": {
            key: render_template(text, scenario.alert_labels, scenario.value)
            for key, text in spec.annotations.items()
        },
    }


def rule_test_group(
    name: str, scenario: Scenario, checks: list[tuple[str, int, list[dict[str, Any]]]]
) -> dict[str, Any]:
    """One promtool test group: the scenario's series and (alertname, minute, expected alerts) checks."""
    return {
        "name": name,
        # promtool 2.42 has no default for `interval`.
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in scenario.series],
        "alert_rule_test": [
            {"alertname": alertname, "eval_time": f"{minute}m", "exp_alerts": alerts}
            for alertname, minute, alerts in checks
        ],
    }


def unit_test_file(rule_file: str, groups: list[dict[str, Any]], evaluation_interval: str = "1m") -> str:
    """A `promtool test rules` file over `rule_file` (relative to the test file)."""
    document = {
        "rule_files": [rule_file],
        "evaluation_interval": evaluation_interval,
        # Without an order promtool evaluates groups in random order, and alerts would sometimes
        # read the recording rules one step late. Groups a rule file lacks (the SLO groups of a
        # stack without objectives) are ignored.
        "group_eval_order": [RECORDING_GROUP, SLO_GROUP, SLO_BUDGET_GROUP, ALERTING_GROUP],
        "tests": groups,
    }
    return yaml.safe_dump(document, sort_keys=False, width=4096)
