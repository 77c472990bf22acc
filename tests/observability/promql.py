"""Reading PromQL in tests: which metric names an expression uses, and where dashboards keep theirs."""

import json
import re
from collections.abc import Iterator
from typing import Any

METRICS_CONTRACT = frozenset(
    {
        # The app (DESIGN.md, metrics contract)
        "http_request_duration_seconds_bucket",
        "http_request_duration_seconds_sum",
        "http_request_duration_seconds_count",
        "http_requests_total",
        "cache_requests_total",
        "llm_tokens_total",
        "quality_score",
        # Prometheus itself (names checked against the pinned server's /metrics)
        "up",
        "prometheus_rule_evaluation_failures_total",
        "prometheus_notifications_sent_total",
        "prometheus_notifications_errors_total",
        "prometheus_notifications_alertmanagers_discovered",
        # Alertmanager (names checked against the pinned server's /metrics)
        "alertmanager_notifications_failed_total",
        "alertmanager_cluster_members",
        # Jaeger v2's collector (checked against the pinned server in tests/servers/test_jaeger_server.py)
        "otelcol_exporter_send_failed_spans_total",
        # redis_exporter (NOTES.md; the role and Sentinel metrics from its exporter/info.go and
        # exporter/sentinels.go)
        "redis_instance_info",
        "redis_sentinel_master_config_epoch",
        "redis_sentinel_master_ok_sentinels",
        "redis_up",
        "redis_keyspace_hits_total",
        "redis_keyspace_misses_total",
        "redis_memory_used_bytes",
        "redis_memory_used_rss_bytes",
        "redis_memory_max_bytes",
        "redis_uptime_in_seconds",
        "redis_evicted_keys_total",
        "redis_aof_last_write_status",
        "redis_rdb_last_bgsave_status",
        "redis_connected_slaves",
        "redis_master_link_up",
        "redis_aof_current_size_bytes",
    }
)
"""Every metric name the rules and dashboards may read, besides recording-rule outputs."""

_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"}


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (identifiers that are not functions, keywords or labels)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range and subquery windows
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)  # label lists
    text = re.sub(r"(?<![\w:.])\d+(\.\d+)?([eE][+-]?\d+)?", " ", text)  # numbers
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        is_call = text[match.end() :].lstrip().startswith("(")
        if not is_call and match.group(0) not in _KEYWORDS:
            names.add(match.group(0))
    return names


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel of a dashboard, including those nested in rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panels(panel)


def dashboard_exprs(text: str) -> list[str]:
    """Every PromQL expression of a dashboard JSON's panel targets."""
    return [t["expr"] for p in panels(json.loads(text)) for t in p.get("targets", []) if "expr" in t]


def as_plain_promql(expr: str) -> str:
    """A dashboard expression with Grafana's variables replaced by what they stand for."""
    return expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")


_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def plain_promql(expr: str, variables: dict[str, str]) -> str:
    """``expr`` with each Grafana variable replaced by a value; an undefined variable fails the test."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in variables, f"{expr!r} uses ${name}, which the dashboard does not define"
        return variables[name]

    return _VARIABLE.sub(value, expr)
