"""perfstack's Grafana dashboards, built with grafana-foundation-sdk.

Thresholds come from the alert catalog (the stack maps its `alerts` settings
onto :class:`Thresholds`), so a panel turns red exactly where an alert starts
to count: latency yellow above the P95 target and red above the P95 warning;
quality and cache hit rate red below their alert thresholds and green above
their targets. App panels read the recording rules of
components/prometheus/rules.py; Redis panels read redis_exporter. The SLO
dashboard, provisioned only when a service sets `slo`, reads the SLO rules of
components/prometheus/slo.py and draws the lines of each service's `SloConfig`.

Grafana 12: the SDK is its `0.0.x` series (requirements.txt pins it exactly:
under PEP 440 an unpinned install picks an older, epoch-versioned 10.x
release). Panels are React panels only (timeseries, stat, row; Grafana 12
removed Angular ones such as `graph` and `singlestat`), and each dashboard
keeps the `schemaVersion` the SDK emits: Grafana migrates it on load.
"""

import warnings
from dataclasses import dataclass

from components.grafana.provisioning import PROMETHEUS_UID, check_uid
from components.platform.slo import BurnRateAlert, Sli, SloConfig
from components.platform.telemetry import (
    CACHE_HIT_RATIO,
    ERROR_RATIO,
    P50_LATENCY,
    P95_LATENCY,
    QUALITY,
    REDIS_DATA_NODE,
    REDIS_KIND_LABEL,
    REDIS_SENTINEL,
    REQUEST_RATE,
    SLO_BUDGET_REMAINING,
    SLO_LABEL,
    SLO_OBJECTIVE,
    TOKEN_RATE,
    TOKENS_PER_REQUEST,
    num,
    slo_error_ratio,
)

with warnings.catch_warnings():
    # SDK 0.0.x marks the classic dashboard model deprecated in favour of the v2 schema (a warning
    # in the class body, so raised once, on import). In Grafana 12.4 the v2 schema is a public
    # preview not to be enabled in production: perfstack keeps the classic model on purpose.
    warnings.filterwarnings("ignore", "Prefer using dashboardv2.Dashboard instead", DeprecationWarning)
    from grafana_foundation_sdk.builders import common as common_builders
    from grafana_foundation_sdk.builders import dashboard as dash
    from grafana_foundation_sdk.builders import prometheus, stat, timeseries
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models import common
    from grafana_foundation_sdk.models.dashboard import (
        DataSourceRef,
        Threshold,
        ThresholdsMode,
        ValueMap,
        ValueMappingResult,
        VariableRefresh,
        VariableSort,
    )

OVERVIEW_UID = "perfstack-overview"
CANARY_UID = "perfstack-canary"
REDIS_UID = "perfstack-redis"
SLO_UID = "perfstack-slo"

OVERVIEW_FILE = "perfstack-overview.json"
CANARY_FILE = "perfstack-canary.json"
REDIS_FILE = "perfstack-redis.json"
SLO_FILE = "perfstack-slo.json"

ServiceSlos = tuple[tuple[str, SloConfig], ...]
"""(service name, its objectives) of every service with `slo` set, in the stack file's order."""

_PROMETHEUS = DataSourceRef(type_val="prometheus", uid=PROMETHEUS_UID)
_SERVICE = 'service=~"$service"'
_TRACKS = ("stable", "canary")


@dataclass(frozen=True)
class Thresholds:
    """Where the dashboards change colour: the alert catalog's lines, in the units panels show."""

    p95_target_s: float
    """P95 latency target: yellow above it."""
    p95_warning_s: float
    """P95 latency alert threshold: red above it."""
    error_rate_warning: float
    """5xx ratio of the warning alert: yellow above it."""
    error_rate_critical: float
    """5xx ratio of the critical alert: red above it."""
    token_baseline_per_request: float
    """Expected tokens per request: yellow above it."""
    token_limit_per_request: float
    """Tokens per request of the token alert: red above it."""
    quality_target: float
    """Quality score target: green above it."""
    quality_critical: float
    """Quality score of the critical alert: red below it."""
    cache_hit_target: float
    """Cache hit ratio target: green above it."""
    cache_hit_low: float
    """Cache hit ratio of the alert: red below it."""
    canary_min_request_rate: float
    """Requests per second both tracks need before the canary alerts compare them."""


# (value or None for the base step, colour), ascending as Grafana expects.
Steps = list[tuple[float | None, str]]


def _rising_bad(target: float, alert: float) -> Steps:
    """Green below the target, yellow up to the alert threshold, red above it."""
    return [(None, "green"), (target, "yellow"), (alert, "red")]


def _falling_bad(alert: float, target: float) -> Steps:
    """Red below the alert threshold, yellow up to the target, green above it."""
    return [(None, "red"), (alert, "yellow"), (target, "green")]


def _thresholds(steps: Steps) -> dash.ThresholdsConfig:
    return (
        dash.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=value, color=colour) for value, colour in steps])
    )


def _query(expr: str, legend: str, ref_id: str) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref_id).datasource(_PROMETHEUS)


def _ref(index: int) -> str:
    return chr(ord("A") + index)


def _timeseries(
    title: str,
    unit: str,
    queries: list[tuple[str, str]],
    steps: Steps | None = None,
    description: str = "",
    min_val: float | None = 0,
    max_val: float | None = None,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(_PROMETHEUS)
        .unit(unit)
        .height(8)
        .span(12)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["lastNotNull", "max"])
        )
    )
    for index, (expr, legend) in enumerate(queries):
        panel = panel.with_target(_query(expr, legend, _ref(index)))
    if min_val is not None:
        panel = panel.min(min_val)
    if max_val is not None:
        panel = panel.max(max_val)
    if steps is not None:
        panel = panel.thresholds(_thresholds(steps)).thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.DASHED)
        )
    return panel


def _stat(
    title: str, unit: str, expr: str, legend: str, steps: Steps, mappings: list[ValueMap] | None = None
) -> stat.Panel:
    panel = (
        stat.Panel()
        .title(title)
        .datasource(_PROMETHEUS)
        .unit(unit)
        .height(4)
        .span(6)
        .with_target(_query(expr, legend, "A"))
        .thresholds(_thresholds(steps))
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.NONE)
        # Explicit: the current value, not whatever the panel default reducer is.
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
    )
    if mappings:
        panel = panel.mappings(mappings)
    return panel


def _service_variable() -> dash.QueryVariable:
    return (
        dash.QueryVariable("service")
        .label("Service")
        .datasource(_PROMETHEUS)
        .query(f"label_values({REQUEST_RATE}, service)")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )


def _dashboard(uid: str, title: str, description: str) -> dash.Dashboard:
    return (
        dash.Dashboard(title)
        .uid(check_uid(uid, "dashboard"))
        .description(description)
        .tags(["perfstack"])
        .readonly()
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
    )


class _Signals:
    """The app signals with their units and threshold bands, shared by overview and canary dashboards."""

    def __init__(self, cfg: Thresholds) -> None:
        self.latency = _rising_bad(cfg.p95_target_s, cfg.p95_warning_s)
        self.errors = _rising_bad(cfg.error_rate_warning, cfg.error_rate_critical)
        self.tokens = _rising_bad(cfg.token_baseline_per_request, cfg.token_limit_per_request)
        self.quality = _falling_bad(cfg.quality_critical, cfg.quality_target)
        self.cache = _falling_bad(cfg.cache_hit_low, cfg.cache_hit_target)


def _with_ids(builder: dash.Dashboard) -> str:
    built = builder.build()
    # Stable panel ids: Grafana keys panel links and per-panel state on them.
    for number, panel in enumerate(built.panels or [], start=1):
        panel.id_val = number
    return JSONEncoder(sort_keys=True, indent=2).encode(built) + "\n"


def overview_dashboard(cfg: Thresholds) -> dash.Dashboard:
    """ "Performance overview": latency, errors, tokens, quality and cache hit rate per service and track."""
    s = _Signals(cfg)
    where = f"{{{_SERVICE}}}"
    by_track = "{{service}} {{track}}"
    return (
        _dashboard(OVERVIEW_UID, "Performance overview", "perfstack: the KPIs of every app service.")
        .with_variable(_service_variable())
        .with_row(dash.Row("Now"))
        .with_panel(_stat("P95 latency (worst)", "s", f"max({P95_LATENCY}{where})", "p95", s.latency))
        .with_panel(
            _stat("5xx error rate (worst)", "percentunit", f"max({ERROR_RATIO}{where})", "errors", s.errors)
        )
        .with_panel(
            _stat("Quality score (lowest)", "percentunit", f"min({QUALITY}{where})", "quality", s.quality)
        )
        .with_panel(
            _stat("Cache hit rate (lowest)", "percentunit", f"min({CACHE_HIT_RATIO}{where})", "hits", s.cache)
        )
        .with_row(dash.Row("Trends"))
        .with_panel(
            _timeseries(
                "Latency P95 / P50",
                "s",
                [(f"{P95_LATENCY}{where}", f"p95 {by_track}"), (f"{P50_LATENCY}{where}", f"p50 {by_track}")],
                s.latency,
                "Dashed lines: P95 target (yellow) and warning threshold (red).",
            )
        )
        .with_panel(
            _timeseries("5xx error rate", "percentunit", [(f"{ERROR_RATIO}{where}", by_track)], s.errors)
        )
        .with_panel(
            _timeseries(
                "LLM tokens per request",
                "short",
                [(f"{TOKENS_PER_REQUEST}{where}", by_track)],
                s.tokens,
                "Yellow: baseline; red: the TokenUsageHigh limit (baseline x factor).",
            )
        )
        .with_panel(_timeseries("LLM tokens per second", "short", [(f"{TOKEN_RATE}{where}", by_track)]))
        .with_panel(
            _timeseries(
                "Quality score", "percentunit", [(f"{QUALITY}{where}", by_track)], s.quality, max_val=1
            )
        )
        .with_panel(
            _timeseries(
                "Cache hit rate", "percentunit", [(f"{CACHE_HIT_RATIO}{where}", by_track)], s.cache, max_val=1
            )
        )
        .with_panel(_timeseries("Requests per second", "reqps", [(f"{REQUEST_RATE}{where}", by_track)]))
    )


def canary_dashboard(cfg: Thresholds) -> dash.Dashboard:
    """ "Canary vs stable": every signal as one line per track, to judge a rollout at a glance."""
    s = _Signals(cfg)

    def split(record: str) -> list[tuple[str, str]]:
        return [(f'{record}{{{_SERVICE}, track="{track}"}}', f"{{{{service}}}} {track}") for track in _TRACKS]

    return (
        _dashboard(
            CANARY_UID, "Canary vs stable", "perfstack: canary and stable side by side (rollback signals)."
        )
        .with_variable(_service_variable())
        .with_panel(
            _timeseries(
                "Traffic per track",
                "reqps",
                split(REQUEST_RATE),
                description=f"Canary alerts need {num(cfg.canary_min_request_rate)} req/s on both tracks.",
            )
        )
        .with_panel(_timeseries("Latency P95", "s", split(P95_LATENCY), s.latency))
        .with_panel(_timeseries("5xx error rate", "percentunit", split(ERROR_RATIO), s.errors))
        .with_panel(_timeseries("LLM tokens per request", "short", split(TOKENS_PER_REQUEST), s.tokens))
        .with_panel(_timeseries("Quality score", "percentunit", split(QUALITY), s.quality, max_val=1))
        .with_panel(_timeseries("Cache hit rate", "percentunit", split(CACHE_HIT_RATIO), s.cache, max_val=1))
    )


def redis_dashboard(cfg: Thresholds) -> dash.Dashboard:
    """ "Redis": hit ratio, memory against maxmemory, evictions, persistence, roles and Sentinels.

    Every node is its own series (Prometheus scrapes each through the exporter), so
    the panels select data nodes, or Sentinels, by `redis_kind` instead of
    reading whichever node a Service picked.
    """
    rate = "[$__rate_interval]"
    data = f'{{{REDIS_KIND_LABEL}="{REDIS_DATA_NODE}"}}'
    sentinels = f'{{{REDIS_KIND_LABEL}="{REDIS_SENTINEL}"}}'
    masters = f'redis_instance_info{{{REDIS_KIND_LABEL}="{REDIS_DATA_NODE}",role="master"}}'
    hits = f"sum by (service) (rate(redis_keyspace_hits_total{data}{rate}))"
    misses = f"sum by (service) (rate(redis_keyspace_misses_total{data}{rate}))"
    one_master = [
        ValueMap(
            {
                "1": ValueMappingResult(text="ONE MASTER", color="green"),
                "0": ValueMappingResult(text="NONE OR SEVERAL", color="red"),
            }
        )
    ]
    ok_failed = [
        ValueMap(
            {
                "1": ValueMappingResult(text="OK", color="green"),
                "0": ValueMappingResult(text="FAILED", color="red"),
            }
        )
    ]
    up_down = [
        ValueMap(
            {
                "1": ValueMappingResult(text="UP", color="green"),
                "0": ValueMappingResult(text="DOWN", color="red"),
            }
        )
    ]
    binary = [(None, "red"), (1, "green")]
    return (
        _dashboard(REDIS_UID, "Redis", "perfstack: the Redis cache as redis_exporter sees it.")
        .with_row(dash.Row("Health and persistence"))
        .with_panel(_stat("Redis up", "none", f"min(redis_up{data})", "up", binary, up_down))
        .with_panel(
            _stat(
                "AOF last write", "none", f"min(redis_aof_last_write_status{data})", "aof", binary, ok_failed
            )
        )
        .with_panel(
            _stat(
                "RDB last bgsave",
                "none",
                f"min(redis_rdb_last_bgsave_status{data})",
                "rdb",
                binary,
                ok_failed,
            )
        )
        .with_panel(
            _stat(
                "Connected replicas",
                "none",
                f"max(redis_connected_slaves{data})",
                "replicas",
                [(None, "blue")],
            )
        )
        .with_row(dash.Row("Replication and Sentinel"))
        .with_panel(
            _stat(
                "Master", "none", f"(count({masters}) or vector(0)) == bool 1", "master", binary, one_master
            )
        )
        .with_panel(_stat("Sentinels up", "none", f"sum(redis_up{sentinels})", "sentinels", [(None, "blue")]))
        .with_panel(
            _timeseries(
                "Role per data node",
                "none",
                [(f"max by (instance, role) (redis_instance_info{data})", "{{instance}} {{role}}")],
            )
        )
        .with_row(dash.Row("Cache"))
        .with_panel(
            _timeseries(
                "Keyspace hit ratio",
                "percentunit",
                [(f"{hits} / ({hits} + {misses})", "{{service}}")],
                _falling_bad(cfg.cache_hit_low, cfg.cache_hit_target),
                max_val=1,
            )
        )
        .with_panel(
            _timeseries(
                "Memory used vs maxmemory",
                "bytes",
                [
                    (f"redis_memory_used_bytes{data}", "used {{instance}}"),
                    (f"redis_memory_used_rss_bytes{data}", "resident {{instance}}"),
                    (f"redis_memory_max_bytes{data}", "maxmemory {{instance}}"),
                ],
                description="A full allkeys-lru cache sits at maxmemory: that is its normal state. "
                "Resident memory is what the container's limit counts (RedisMemoryNearLimit).",
            )
        )
        .with_panel(
            _timeseries(
                "Memory used / maxmemory",
                "percentunit",
                [(f"redis_memory_used_bytes{data} / (redis_memory_max_bytes{data} > 0)", "{{instance}}")],
                description="100 % is a warm cache; allkeys-lru evicts from there on.",
                max_val=1,
            )
        )
        .with_panel(
            _timeseries(
                "Evicted keys per second",
                "short",
                [(f"rate(redis_evicted_keys_total{data}{rate})", "{{instance}}")],
            )
        )
    )


# Red once overspent: the objective is missed over the window, and under the default
# `rollout.minErrorBudget` (0) the rollout judge holds promotions. Yellow below a quarter: two or
# three more of the burns a ticket alert reports (10 % of a 30-day budget each) would spend it, time
# to put reliability before risky releases. Green above it.
_BUDGET_STEPS: Steps = [(None, "red"), (0, "yellow"), (0.25, "green")]


def _burn_rate_steps(alerts: list[BurnRateAlert]) -> Steps:
    """Green below every alert's burn rate, then at each burn rate red (it pages) or yellow (a ticket)."""
    colours: dict[float, str] = {}
    for alert in alerts:
        # Two alerts at one burn rate draw one line, in the colour of the more urgent.
        if alert.severity == "page" or alert.burn_rate not in colours:
            colours[alert.burn_rate] = "red" if alert.severity == "page" else "yellow"
    return [(None, "green"), *sorted(colours.items())]


def _percent_decimals(objective: float) -> int:
    """Decimals that tell an SLI from its objective in percent: the objective's and one more (99.9 -> 2)."""
    return len(num(objective * 100).partition(".")[2]) + 1


def _slo_panels(builder: dash.Dashboard, service: str, slo: SloConfig, sli: Sli, objective: float) -> None:
    """One objective's line of panels: budget left, SLI over the window, burn rate per alert window."""
    where = f'{{service="{service}",{SLO_LABEL}="{sli}"}}'
    budget = 1 - objective
    fires = "; ".join(
        f"{num(a.burn_rate)} over {a.long_window} and {a.short_window} ({a.severity})"
        for a in slo.burn_rate_alerts
    )
    builder.with_panel(
        _stat(
            f"{service} {sli}: error budget left",
            "percentunit",
            f"{SLO_BUDGET_REMAINING}{where}",
            "budget left",
            _BUDGET_STEPS,
        )
        .description(
            f"Share of the {num(budget * 100)}% of requests the objective allows to fail over "
            f"{slo.window} that is left: 100% untouched, 0 spent, below 0 the objective is missed. "
            "Yellow under 25%, red once overspent."
        )
        # Beside the other two panels, with the budget's trend drawn under the number.
        .height(8)
        .span(4)
        .graph_mode(common.BigValueGraphMode.AREA)
    )
    builder.with_panel(
        _timeseries(
            f"{service} {sli} over {slo.window}",
            "percentunit",
            [(f"1 - {slo_error_ratio(slo.window)}{where}", f"{sli} over {slo.window}")],
            [(None, "red"), (objective, "green")],
            f"Share of good requests over the last {slo.window} (both tracks). Dashed line: the "
            f"objective, {num(objective * 100)}%.",
            # Not from 0: 99.9% and 99.5% would be one line at the top of the panel.
            min_val=None,
            max_val=1,
        )
        .decimals(_percent_decimals(objective))
        .span(10)
    )
    builder.with_panel(
        _timeseries(
            f"{service} {sli}: burn rate",
            "suffix:x",
            [
                # Divided by the recorded objective, as the budget rule divides: the panel follows
                # the rule file Prometheus evaluates.
                (f"{slo_error_ratio(w)}{where} / on (service, {SLO_LABEL}) (1 - {SLO_OBJECTIVE}{where})", w)
                for w in slo.windows()
            ],
            _burn_rate_steps(slo.burn_rate_alerts),
            f"Error ratio over each alert window / the error budget ({num(budget * 100)}%): at 1 the "
            f"budget lasts exactly {slo.window}. Dashed lines: the alerts' burn rates; an alert fires "
            f"while both its windows are above its line: {fires}.",
        ).span(10)
    )


def slo_dashboard(slos: ServiceSlos) -> dash.Dashboard:
    """ "perfstack / SLOs": per service a row; per objective its budget, SLI and burn rates."""
    builder = _dashboard(
        SLO_UID,
        "perfstack / SLOs",
        "perfstack: the error budgets of the services' objectives and how fast they burn.",
    ).time("now-7d", "now")  # budgets move over days, not within the other dashboards' 6 hours
    for service, slo in slos:
        builder.with_row(dash.Row(f"{service}: objectives over {slo.window}"))
        for sli, objective in slo.objectives().items():
            _slo_panels(builder, service, slo, sli, objective)
    return builder


def render_dashboards(cfg: Thresholds, slos: ServiceSlos = ()) -> dict[str, str]:
    """Every dashboard as {file name: JSON text}, for the provider directory (DASHBOARDS_DIR).

    The SLO dashboard only with a service's objectives to draw: a stack without
    `slo` provisions the same files as before.
    """
    files = {
        OVERVIEW_FILE: _with_ids(overview_dashboard(cfg)),
        CANARY_FILE: _with_ids(canary_dashboard(cfg)),
        REDIS_FILE: _with_ids(redis_dashboard(cfg)),
    }
    if slos:
        files[SLO_FILE] = _with_ids(slo_dashboard(slos))
    return files
