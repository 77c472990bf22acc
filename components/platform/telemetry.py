"""The monitoring contract every component agrees on: alert labels and recording rules.

Prometheus writes the rules (components/prometheus), Alertmanager routes on
the labels (components/alertmanager) and Grafana draws the recording rules
(components/grafana); the names live here so that none of them imports another.

How Alertmanager tells the alerts apart
----------------------------------------
Every alert carries three static labels besides what its expression yields:

- ``severity``: ``critical`` or ``warning`` (Prometheus convention);
- ``family``: what the alert is about (``latency``, ``errors``, ...). A critical
  alert inhibits the warning of the same family for the same service and
  track, so one incident is one page;
- ``notify``: the channels the alert goes to, comma separated in a fixed order
  (``slack,email,pagerduty``). Severity alone cannot route: a quality critical
  goes to Slack and email but must not page, a canary critical goes to Slack
  only. Alertmanager matches each channel with a regex on this label.

An alert without ``notify`` (a rule added by hand, a future rule) is routed
by ``severity`` alone: critical to every configured channel of ``PAGE``,
warning to those of ``CHAT``, anything else to the first configured channel,
so that no alert is dropped silently. The ``Watchdog`` alert (always firing)
has its own receiver: it is the heartbeat of a dead man's switch.

Every alert also carries ``stack`` (Prometheus' external label, the Pulumi
stack's name), so that a notification says which environment it is about.
Every app alert also carries ``service`` and ``track`` (from scraping, kept by
the ``by (service, track)`` aggregations); Redis alerts carry ``service``,
``instance`` (the Redis node, ``host:port``) and ``redis_kind`` (a data node or
a Sentinel) from their scrape target.
"""

from enum import StrEnum


class Severity(StrEnum):
    """The `severity` label of an alert."""

    CRITICAL = "critical"
    WARNING = "warning"
    NONE = "none"
    """Not a problem: the always-firing `Watchdog` (Prometheus-operator convention)."""


class Channel(StrEnum):
    """A notification channel; the values appear in the `notify` label."""

    SLACK = "slack"
    EMAIL = "email"
    PAGERDUTY = "pagerduty"


STACK_LABEL = "stack"
"""Prometheus' external label on every alert: the Pulumi stack (environment) it comes from."""

NOTIFY_LABEL = "notify"
"""Label on every alert listing its channels, e.g. 'slack,email,pagerduty'."""

JAEGER_STORAGE_EXPORTER = "jaeger_storage_exporter"
"""Jaeger v2's exporter into its trace store; its `otelcol_exporter_send_failed_spans_total` counts
the spans the store refused (a full badger volume, an unreachable Elasticsearch)."""

WATCHDOG_ALERT = "Watchdog"
"""The alert that always fires while Prometheus evaluates rules and reaches Alertmanager."""

FAMILY_LABEL = "family"
"""Label grouping the critical and warning variants of one alert, used by inhibition."""

INHIBIT_EQUAL_LABELS = (FAMILY_LABEL, "service", "track")
"""Labels a critical alert must share with a warning to silence it.

`family` and `service` are on every alert; `track` is on every app alert and
absent on both Redis alerts (absent on both counts as equal, which is what we
want there: one Redis service, one family)."""

PAGE = (Channel.SLACK, Channel.EMAIL, Channel.PAGERDUTY)
"""Critical: wake someone up."""

INFORM = (Channel.SLACK, Channel.EMAIL)
"""Critical but not paging (quality degrades slowly and is not an outage)."""

CHAT = (Channel.SLACK,)
"""Warnings and canary rollback signals."""


# Names of the recording rules (defined in components/prometheus/rules.py) that the
# alerts and the dashboards read, kept here so rule file, catalog and panels cannot drift apart.
P95_LATENCY = "service_track:http_request_duration_seconds:p95_5m"
P50_LATENCY = "service_track:http_request_duration_seconds:p50_5m"
MEAN_LATENCY = "service_track:http_request_duration_seconds:mean_5m"
REQUEST_RATE = "service_track:http_requests:rate5m"
ERROR_RATIO = "service_track:http_requests:error_ratio_5m"
CACHE_HIT_RATIO = "service_track:cache_requests:hit_ratio_5m"
TOKEN_RATE = "service_track:llm_tokens:rate5m"
TOKENS_PER_REQUEST = "service_track:llm_tokens:per_request_5m"
QUALITY = "service_track:quality_score:avg"
REDIS_CONFIG_EPOCH = "service_master_name:redis_sentinel_master_config_epoch:max"
"""The highest configuration epoch any Sentinel reports per master: it goes up by one per failover."""

# The SLO rules (components/prometheus/slo.py), per service and objective.
SLO_LABEL = "slo"
"""Label naming the indicator (availability, latency) on every SLO series and alert."""
SLO_OBJECTIVE = "service:slo_objective:ratio"
"""The objective of each (service, slo)."""
SLO_BUDGET_REMAINING = "service:slo_error_budget:remaining_ratio"
"""Share of the window's error budget left: 1 untouched, 0 spent, negative overspent."""


def slo_error_ratio(window: str) -> str:
    """Name of the recorded share of bad requests over `window`, e.g. service:slo_errors:ratio_rate1h."""
    return f"service:slo_errors:ratio_rate{window}"


# Selects app targets only: app targets carry a `track` label, infrastructure ones don't.
APP_UP = 'up{track!=""}'
INFRA_UP = 'up{track=""}'
"""Selects infrastructure targets only (Redis, exporters, Jaeger, Alertmanager, Grafana, Prometheus)."""

REDIS_KIND_LABEL = "redis_kind"
"""Target label of every Redis scrape: which kind of Redis process the series come from."""
REDIS_DATA_NODE = "data"
"""`redis_kind` of a data node (master or replica; `redis_instance_info{role}` tells which)."""
REDIS_SENTINEL = "sentinel"
"""`redis_kind` of a Sentinel."""


def num(value: float) -> str:
    """A float as a short PromQL / human literal (2.5, 0.05, 77.05; no float noise)."""
    return format(value, ".12g")
