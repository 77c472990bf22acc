"""The alert catalog: thresholds as typed settings, and the alerts built from them.

One source of truth for alert rules, dashboard thresholds and canary rollback
signals (DESIGN.md, "Alert catalog"). Defaults are the numbers of the source
runbooks; a stack overrides any of them under ``perfstack:alerts``. The labels
every alert carries, and how Alertmanager routes on them, are described in
components/platform/telemetry.py.
"""

import re
from dataclasses import dataclass, replace
from typing import Annotated, Self

from pydantic import AfterValidator, Field, model_validator

from components.platform.settings import ConfigModel, HttpUrl, PromDuration, Ratio
from components.platform.slo import SloConfig
from components.platform.telemetry import (
    APP_UP,
    CACHE_HIT_RATIO,
    CHAT,
    ERROR_RATIO,
    FAMILY_LABEL,
    INFORM,
    INFRA_UP,
    JAEGER_STORAGE_EXPORTER,
    MEAN_LATENCY,
    NOTIFY_LABEL,
    P50_LATENCY,
    P95_LATENCY,
    PAGE,
    QUALITY,
    REDIS_CONFIG_EPOCH,
    REDIS_DATA_NODE,
    REDIS_KIND_LABEL,
    REDIS_SENTINEL,
    REQUEST_RATE,
    TOKENS_PER_REQUEST,
    WATCHDOG_ALERT,
    Channel,
    Severity,
    num,
)

REPOSITORY_URL = "https://github.com/perfstack/perfstack"
"""Where this repository is published (the default of `alerts.repositoryUrl`)."""

RUNBOOKS_PATH = "docs/runbooks"
"""Directory of the runbook pages in the repository: one `<alert-name-in-kebab-case>.md` per alert."""

DEFAULT_EXCLUDED_ROUTES = ("/health", "/ready", "/metrics")
"""Probe and scrape paths: requests that are not users' (`alerts.excludedRoutes`)."""

_SERVICE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_ROUTE = re.compile(r"^/[A-Za-z0-9._~/{}:-]*$")


def _route(value: str) -> str:
    if not _ROUTE.match(value):
        raise ValueError(f"{value!r} is not a route path: '/' then letters, digits and ._~/{{}}:-")
    return value


RoutePath = Annotated[str, AfterValidator(_route)]
"""A value of the app's `route` label, e.g. '/health'."""


class AlertsConfig(ConfigModel):
    """Alert thresholds and durations (`perfstack:alerts`); the dashboards draw the same lines."""

    repository_url: HttpUrl = REPOSITORY_URL
    """Web address of the repository this stack is deployed from. Each alert's `runbook_url` points to
    its page in there, `<repositoryUrl>/blob/main/docs/runbooks/<alert-name-in-kebab-case>.md`, so a
    fork or a mirror sets its own address here once (GitHub and Gitea/Forgejo serve `blob/main/...`;
    for others set `runbookBaseUrl`)."""
    runbook_base_url: HttpUrl | None = None
    """Where the runbook pages are read instead (a docs site or wiki that serves the files of
    `docs/runbooks/` under their names); unset: `<repositoryUrl>/blob/main/docs/runbooks`."""

    rate_window: PromDuration = "5m"
    """Range of the `rate()` in the recording rules (request rate, 5xx share, latency quantiles,
    cache hit ratio, tokens) that the alerts and dashboards read: a longer window smooths bursts, a
    shorter one reacts faster. It must span at least 4 scrapes (`prometheus.scrapeInterval`), so
    that one missed scrape does not leave it with too few samples. The recording rules keep their
    names (`..._5m`, `...rate5m`) whatever the window, so dashboards and alerts never change with it."""

    p95_critical_ms: float = Field(default=2500, gt=0)
    """P95 request latency (ms) above which `P95LatencyCritical` fires and pages."""
    p95_critical_for: PromDuration = "5m"
    """How long the P95 must stay above `p95CriticalMs` before paging."""
    p95_warning_ms: float = Field(default=2000, gt=0)
    """P95 request latency (ms) above which `P95LatencyWarning` fires; also the red line on dashboards."""
    p95_warning_for: PromDuration = "10m"
    """How long the P95 must stay above `p95WarningMs` before warning."""
    p50_warning_ms: float = Field(default=1500, gt=0)
    """Median request latency (ms) above which `P50LatencyWarning` fires (monitoring guide: "P50 <
    1000ms (Alert: >1500ms)"). The guide gives no duration or channel: it warns in chat after
    `p50WarningFor`, like the P95 warning."""
    p50_warning_for: PromDuration = "10m"
    """How long the median must stay above `p50WarningMs`."""
    mean_latency_warning_ms: float = Field(default=1600, gt=0)
    """Mean request latency (ms) above which `MeanLatencyWarning` fires (monitoring guide: "Mean <
    1100ms (Alert: >1600ms)"); warns in chat like the P50."""
    mean_latency_warning_for: PromDuration = "10m"
    """How long the mean must stay above `meanLatencyWarningMs`."""

    error_rate_critical: Ratio = 0.05
    """Share of 5xx responses above which `ErrorRateCritical` fires and pages (0.05 = 5 %)."""
    error_rate_critical_for: PromDuration = "5m"
    """How long the 5xx share must stay above `errorRateCritical`."""
    error_rate_warning: Ratio = 0.02
    """Share of 5xx responses above which `ErrorRateWarning` fires (0.02 = 2 %)."""
    error_rate_warning_for: PromDuration = "5m"
    """How long the 5xx share must stay above `errorRateWarning`."""
    error_rate_min_request_rate: float = Field(default=0.1, gt=0)
    """Requests per second a track must serve before its 5xx share can alert: at night a single 5xx
    among a handful of requests is a large share and must not page. At 0.1 req/s one 5xx in the
    5-minute window is 3.3 %, below `errorRateCritical`."""
    excluded_routes: list[RoutePath] = Field(default_factory=lambda: list(DEFAULT_EXCLUDED_ROUTES))
    """Values of the `route` label left out of request rate, 5xx share and latency: probe and scrape
    paths, which are not users' requests (a failing readiness probe would otherwise count as user
    errors, and fast probes would pull latency down). Add a service's own `healthPath`, `readyPath`
    or `metricsPath` when it differs."""

    quality_critical: Ratio = 0.75
    """Average quality score below which `QualityScoreCritical` fires (Slack and email, no page)."""
    quality_critical_for: PromDuration = "10m"
    """How long quality must stay below `qualityCritical`."""
    quality_warning: Ratio = 0.78
    """Average quality score below which `QualityScoreWarning` fires."""
    quality_warning_for: PromDuration = "10m"
    """How long quality must stay below `qualityWarning`."""

    cache_hit_rate_low: Ratio = 0.20
    """Cache hit ratio below which `CacheHitRateLow` fires; also the red line on dashboards."""
    cache_hit_rate_low_for: PromDuration = "15m"
    """How long the hit ratio must stay below `cacheHitRateLow`."""

    token_baseline_per_request: float = Field(default=67, gt=0)
    """Expected LLM tokens (input + output) per request; the dashboards' green line."""
    token_increase_factor: float = Field(default=1.15, gt=1)
    """`TokenUsageHigh` fires when tokens per request exceed baseline x this factor (1.15 = +15 %).
    The two source guides disagree: the deployment guide alerts at "baseline * 1.15" for 15m, the
    monitoring guide at "daily_tokens > 110% of baseline for 1 hour". perfstack follows the
    deployment guide: its measure is tokens per request, which is what the app's metrics give and
    what the optimisations change, whereas a daily total rises with traffic alone; its 15 % also
    matches the monitoring guide's own "Alert on >15% increase week-over-week", and the deployment
    guide's `TOKEN_USAGE_ALERT_THRESHOLD=115`."""
    token_usage_for: PromDuration = "15m"
    """How long tokens per request must stay above the limit (deployment guide: 15m; see
    `tokenIncreaseFactor`)."""

    app_down_for: PromDuration = "1m"
    """How long an app target may fail its scrapes before `ApplicationDown` pages."""
    track_down_for: PromDuration = "5m"
    """How long a track that runs (stable, or a canary with replicas) may have no instance whose
    scrape succeeds before `NoStableInstanceUp` (pages) or `NoCanaryInstanceUp` (chat) fires: longer
    than a normal start, so a rollout does not alert."""

    redis_down_for: PromDuration = "1m"
    """How long a Redis data node may be unreachable for redis_exporter before `RedisDown` pages."""
    redis_sentinel_down_for: PromDuration = "5m"
    """How long a Sentinel may be unreachable before `RedisSentinelDown` warns (the others still
    reach a quorum)."""
    redis_master_for: PromDuration = "1m"
    """How long Redis may have no master (`RedisNoMaster`) or more than one (`RedisMultipleMasters`)
    before paging; a Sentinel failover ends well within it."""
    redis_failover_window: PromDuration = "15m"
    """How long `RedisFailover` keeps firing after Sentinel promoted a replica (it compares the
    masters' configuration epoch with its lowest value over this window)."""
    redis_persistence_for: PromDuration = "1m"
    """How long a data node's last AOF write (`RedisAofWriteFailing`) or RDB snapshot
    (`RedisRdbSnapshotFailing`) may have failed before paging. A failing AOF makes Redis refuse every
    write with `MISCONF` while reads still work; a failing snapshot leaves writes alone
    (`stop-writes-on-bgsave-error no`) but the next restart without data. A full disk shows up
    nowhere else."""
    redis_replication_for: PromDuration = "1m"
    """How long a replica may have lost its master (`RedisReplicaLinkDown`, warning) or a master may
    have fewer replicas than `redis.sentinel.minReplicasToWrite` (`RedisMasterWithoutReplicas`, which
    pages: the master refuses every write with `NOREPLICAS`)."""
    redis_aof_volume_ratio: Ratio = 0.30
    """Share of the Redis volume (`redis.storageSize`) the append-only file may take before
    `RedisVolumeFilling` warns. An AOF rewrite writes a new base file beside the old one, and an RDB
    snapshot a third copy of the data: at 30 % in the AOF, the next rewrite during a snapshot needs
    about 90 % of the volume. (Redis reports its files' sizes, not the disk's: no volume metrics are
    scraped.)"""
    redis_volume_for: PromDuration = "5m"
    """How long the AOF must stay above `redisAofVolumeRatio` of the volume."""
    redis_memory_limit_ratio: Ratio = 0.80
    """Share of the Redis container's memory limit above which `RedisMemoryNearLimit` warns, on the
    resident memory of a data node (`used_memory_rss`). Not used memory against `maxmemory`: a full
    `allkeys-lru` cache sits at 100 % of `maxmemory` on every node, which is its healthy state. What
    hurts is the container's limit: past it the kernel kills Redis (on Kubernetes a failover follows),
    and the fork of every RDB snapshot or AOF rewrite needs room above the resident memory."""
    redis_memory_limit_for: PromDuration = "5m"
    """How long resident memory must stay above `redisMemoryLimitRatio` (longer than a fork's peak)."""
    redis_thrashing_hit_ratio: Ratio = 0.50
    """Keyspace hit ratio below which `RedisCacheThrashing` warns while Redis evicts keys: evicting is
    normal for a full cache, but evicting while most lookups miss means the working set no longer fits
    `maxmemory`, so the cache evicts what is asked for next."""
    redis_thrashing_for: PromDuration = "15m"
    """How long Redis must evict with its hit ratio below `redisThrashingHitRatio`."""
    redis_restart_window: PromDuration = "15m"
    """How long `RedisRestarted` keeps firing after a data node restarted (an OOM kill, a crash, or a
    deploy that changed its configuration): its uptime went back to zero within this window."""

    canary_error_rate_margin: Ratio = 0.02
    """`CanaryErrorRateAboveStable` fires when the canary's 5xx share exceeds stable's by more than this
    (absolute: 0.02 = 2 percentage points; relative margins break when stable has no errors)."""
    canary_latency_margin: float = Field(default=0.20, gt=0)
    """`CanaryLatencyAboveStable` fires when the canary's P95 exceeds stable's by more than this
    fraction (0.20 = 20 % slower)."""
    canary_min_request_rate: float = Field(default=0.1, gt=0)
    """Requests per second each track must serve before canary and stable are compared, so a
    handful of requests cannot trigger (or hide) a rollback signal."""
    canary_for: PromDuration = "5m"
    """How long the canary must stay worse than stable before the rollback signal fires."""

    monitoring_for: PromDuration = "5m"
    """How long a fault of the monitoring itself must last before it alerts: an infrastructure scrape
    target down (`TargetDown`), failing rule evaluations, failing notifications, Prometheus without
    a reachable Alertmanager, an Alertmanager cluster short of members."""

    dashboard_p95_target_ms: float = Field(default=1500, gt=0)
    """P95 latency target (ms): dashboards turn yellow above it and red above `p95WarningMs`."""
    dashboard_quality_target: Ratio = 0.80
    """Quality target: dashboards are green above it, red below `qualityCritical`."""
    dashboard_cache_hit_target: Ratio = 0.25
    """Cache hit ratio target: dashboards are green above it, red below `cacheHitRateLow`."""

    @model_validator(mode="after")
    def _warnings_come_before_criticals(self) -> Self:
        # A warning that can only fire after the critical is useless, and the
        # dashboards' colour bands would overlap: reject it at preview time.
        problems = []
        if not self.dashboard_p95_target_ms < self.p95_warning_ms < self.p95_critical_ms:
            problems.append("dashboardP95TargetMs < p95WarningMs < p95CriticalMs")
        if not self.error_rate_warning < self.error_rate_critical:
            problems.append("errorRateWarning < errorRateCritical")
        if not self.dashboard_quality_target > self.quality_warning > self.quality_critical:
            problems.append("dashboardQualityTarget > qualityWarning > qualityCritical")
        if not self.dashboard_cache_hit_target > self.cache_hit_rate_low:
            problems.append("dashboardCacheHitTarget > cacheHitRateLow")
        if problems:
            raise ValueError("thresholds out of order, need " + "; ".join(problems))
        return self

    @property
    def token_limit_per_request(self) -> float:
        """Tokens per request above which `TokenUsageHigh` fires (baseline x factor)."""
        return self.token_baseline_per_request * self.token_increase_factor

    @property
    def runbook_base(self) -> str:
        """The URL the runbook pages are found under (see `runbookBaseUrl`)."""
        return self.runbook_base_url or f"{self.repository_url}/blob/main/{RUNBOOKS_PATH}"


@dataclass(frozen=True)
class MonitoredDeployment:
    """What the rules must know of this deployment besides thresholds (from the stack wiring).

    Never a traffic weight: a weight change must touch only the router, and a
    changed rule file would roll Prometheus.
    """

    tracks: tuple[tuple[str, str], ...] = ()
    """(service, track) of every track that runs containers: stable, and a canary with replicas."""
    alertmanager_replicas: int = 1
    """Configured Alertmanager cluster members."""
    slos: tuple[tuple[str, SloConfig], ...] = ()
    """(service, objectives) of every service with `slo` set."""
    redis_memory_limit_bytes: int | None = None
    """The Redis containers' memory limit (None: no Redis memory alert)."""
    redis_volume_bytes: int | None = None
    """The size of each Redis data node's volume (None: no volume alert)."""
    redis_min_replicas_to_write: int = 0
    """Replicas a Redis master needs to accept writes (`min-replicas-to-write`; 0: no such alert)."""

    def __post_init__(self) -> None:
        for service, track in self.tracks:
            if track not in ("stable", "canary") or not _SERVICE.fullmatch(service):
                raise ValueError(f"({service!r}, {track!r}) is not a (service, stable|canary) track")
        if self.alertmanager_replicas < 1:
            raise ValueError("alertmanager_replicas must be at least 1")


@dataclass(frozen=True)
class AlertSpec:
    """One alert of the catalog, ready to become a Prometheus alerting rule."""

    name: str
    """CamelCase alert name (`alertname`)."""
    family: str
    """What the alert is about; critical inhibits warning within a family."""
    severity: Severity
    notify: tuple[Channel, ...]
    """Channels, in the fixed order slack, email, pagerduty; empty only for the Watchdog."""
    for_: str
    """Prometheus duration the condition must hold before the alert fires ('0s': at once)."""
    expr: str
    """PromQL; uses the recording rules of components/prometheus/rules.py."""
    summary: str
    """One line, Go template (may use $labels)."""
    description: str
    """Details with the current value ($value), Go template."""
    runbook_url: str = ""
    """Link to the alert's runbook page; `alert_catalog` sets it from `name`."""
    extra_labels: tuple[tuple[str, str], ...] = ()
    """More static labels, e.g. which windows of an SLO alert fired (rules of one name must differ)."""

    @property
    def labels(self) -> dict[str, str]:
        """Static labels the rule adds to every alert it produces."""
        labels = {"severity": str(self.severity), FAMILY_LABEL: self.family}
        if self.notify:
            labels[NOTIFY_LABEL] = ",".join(str(c) for c in self.notify)
        return labels | dict(self.extra_labels)

    @property
    def annotations(self) -> dict[str, str]:
        """Annotations of the rule: summary, description, runbook_url."""
        return {"summary": self.summary, "description": self.description, "runbook_url": self.runbook_url}


def _pct(ratio: float) -> str:
    return f"{ratio * 100:.12g}%"


def runbook_page(alert_name: str) -> str:
    """File name of an alert's runbook page: P95LatencyCritical -> p95-latency-critical.md."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", alert_name).lower() + ".md"


def runbook_link(cfg: AlertsConfig, alert_name: str) -> str:
    """Where the runbook page of `alert_name` is read (see `runbookBaseUrl`)."""
    return f"{cfg.runbook_base}/{runbook_page(alert_name)}"


def user_requests(metric: str, cfg: AlertsConfig, matchers: str = "") -> str:
    """A selector of `metric` without the excluded (probe and scrape) routes.

    e.g. `http_requests_total{code=~"5..",route!~"/health|/metrics|/ready"}`.
    """
    selectors = [m for m in (matchers, _excluded_routes_matcher(cfg)) if m]
    return f"{metric}{{{','.join(selectors)}}}" if selectors else metric


def _excluded_routes_matcher(cfg: AlertsConfig) -> str:
    if not cfg.excluded_routes:
        return ""
    # RE2 inside a PromQL string: escape regex metacharacters, then the string's own backslashes.
    alternatives = "|".join(re.escape(route) for route in sorted(set(cfg.excluded_routes)))
    return 'route!~"' + alternatives.replace("\\", "\\\\") + '"'


def _expected_tracks(tracks: list[tuple[str, str]]) -> str:
    # One always-present sample per expected track, labelled like its `up` series;
    # `or` keeps them all because their label sets differ.
    one = 'label_replace(label_replace(vector(1), "service", "{}", "", ""), "track", "{}", "", "")'
    return "\n  or\n  ".join(one.format(service, track) for service, track in tracks)


def alert_catalog(cfg: AlertsConfig, deployment: MonitoredDeployment | None = None) -> list[AlertSpec]:
    """Every alert perfstack defines, with thresholds from `cfg`, in a stable order.

    `deployment` adds the alerts that depend on what runs: a track alert per
    kind of track that runs (none without such tracks), and the Alertmanager
    cluster size.
    """
    deployment = deployment or MonitoredDeployment()
    svc = "{{ $labels.service }}"
    instance = "{{ $labels.instance }}"
    where = f"{svc} ({{{{ $labels.track }}}})"
    seconds = '{{ $value | printf "%.3f" }}s'
    percent = "{{ $value | humanizePercentage }}"
    min_rate = num(cfg.canary_min_request_rate)
    # Both tracks must serve enough traffic: without it a ratio of three requests
    # could roll a release back, or an idle stable could hide a broken canary.
    canary_guard = (
        f'and on (service) ({REQUEST_RATE}{{track="canary"}} >= {min_rate})\n'
        f'and on (service) ({REQUEST_RATE}{{track="stable"}} >= {min_rate})'
    )
    rollback = "Roll back with services.{{ $labels.service }}.canary.weight: 0."
    data_node = f'{REDIS_KIND_LABEL}="{REDIS_DATA_NODE}"'
    sentinel = f'{REDIS_KIND_LABEL}="{REDIS_SENTINEL}"'

    def latency(
        name: str,
        severity: Severity,
        notify: tuple[Channel, ...],
        ms: float,
        for_: str,
        record: str = P95_LATENCY,
        what: str = "P95",
    ) -> AlertSpec:
        return AlertSpec(
            name=name,
            family="latency",
            severity=severity,
            notify=notify,
            for_=for_,
            expr=f"{record} > {num(ms / 1000)}",
            summary=f"{what} latency of {where} is above {num(ms)}ms",
            description=f"{what} latency of {where} has been {seconds} for more than {for_} "
            f"({severity} above {num(ms)}ms).",
        )

    def errors(
        name: str, severity: Severity, notify: tuple[Channel, ...], ratio: float, for_: str
    ) -> AlertSpec:
        min_errors_rate = num(cfg.error_rate_min_request_rate)
        return AlertSpec(
            name=name,
            family="errors",
            severity=severity,
            notify=notify,
            for_=for_,
            # The traffic guard: a few requests at night make a large share of one 5xx.
            expr=f"{ERROR_RATIO} > {num(ratio)}\nand on (service, track) {REQUEST_RATE} >= {min_errors_rate}",
            summary=f"5xx error rate of {where} is above {_pct(ratio)}",
            description=f"{percent} of requests to {where} have failed with 5xx for more than {for_} "
            f"({severity} above {_pct(ratio)}, counted from {min_errors_rate} requests per second).",
        )

    def quality(
        name: str, severity: Severity, notify: tuple[Channel, ...], score: float, for_: str
    ) -> AlertSpec:
        return AlertSpec(
            name=name,
            family="quality",
            severity=severity,
            notify=notify,
            for_=for_,
            expr=f"{QUALITY} < {num(score)}",
            summary=f"Quality score of {where} is below {num(score)}",
            description=f'Average quality score of {where} has been {{{{ $value | printf "%.3f" }}}} '
            f"for more than {for_} ({severity} below {num(score)}).",
        )

    def track_down(name: str, track: str, notify: tuple[Channel, ...], what_to_do: str) -> list[AlertSpec]:
        tracks = [(s, t) for s, t in deployment.tracks if t == track]
        if not tracks:
            return []
        return [
            AlertSpec(
                name=name,
                family="availability",
                severity=Severity.CRITICAL,
                notify=notify,
                for_=cfg.track_down_for,
                # The expected tracks come from what runs, never from the traffic weights:
                # a weight change must not change this file (it would roll Prometheus).
                expr=f"(\n  {_expected_tracks(tracks)}\n)\nunless on (service, track) ({APP_UP} == 1)",
                summary=f"No instance of {where} is up",
                description=f"{where} runs but Prometheus has scraped none of its instances for more "
                f"than {cfg.track_down_for}: its pods are not running (Pending pods are not scraped) or "
                "every scrape fails, while the traffic split may still send it users. This alert "
                "knows which tracks run, not their weights. " + what_to_do,
            )
        ]

    def monitoring(
        name: str,
        family: str,
        severity: Severity,
        notify: tuple[Channel, ...],
        expr: str,
        summary: str,
        description: str,
    ) -> AlertSpec:
        return AlertSpec(
            name=name,
            family=family,
            severity=severity,
            notify=notify,
            for_=cfg.monitoring_for,
            expr=expr,
            summary=summary,
            description=description,
        )

    def redis_memory(limit: int | None) -> list[AlertSpec]:
        if limit is None:
            return []
        return [
            AlertSpec(
                name="RedisMemoryNearLimit",
                family="redis-memory",
                severity=Severity.WARNING,
                notify=CHAT,
                for_=cfg.redis_memory_limit_for,
                # The limit as a number in the rule: it comes from the deployment, not from a series.
                expr=f"redis_memory_used_rss_bytes{{{data_node}}} / {limit}\n"
                f"> {num(cfg.redis_memory_limit_ratio)}",
                summary=f"Redis node {instance} is near its container's memory limit",
                description=f"Redis {svc} at {instance} has held {percent} of its container's memory limit "
                f"({limit // 2**20} MiB) resident for more than {cfg.redis_memory_limit_for} (warning above "
                f"{_pct(cfg.redis_memory_limit_ratio)}): the next snapshot or AOF rewrite may get it killed.",
            )
        ]

    def persistence(name: str, metric: str, what: str, consequence: str) -> AlertSpec:
        return AlertSpec(
            name=name,
            family="redis-persistence",
            severity=Severity.CRITICAL,
            notify=PAGE,
            for_=cfg.redis_persistence_for,
            expr=f"{metric}{{{data_node}}} == 0",
            summary=f"Redis node {instance} cannot write {what}",
            description=f"Writing {what} has failed on the Redis data node {instance} of {svc} for more than "
            f"{cfg.redis_persistence_for}: {consequence} Usually a full or read-only volume.",
        )

    def redis_volume(volume: int | None) -> list[AlertSpec]:
        if volume is None:
            return []
        ratio = cfg.redis_aof_volume_ratio
        return [
            AlertSpec(
                name="RedisVolumeFilling",
                family="redis-disk",
                severity=Severity.WARNING,
                notify=CHAT,
                for_=cfg.redis_volume_for,
                expr=f"redis_aof_current_size_bytes{{{data_node}}} / {volume}\n> {num(ratio)}",
                summary=f"The append-only file of Redis node {instance} fills its volume",
                description=f"The AOF of {svc} at {instance} has taken {percent} of its "
                f"{volume // 2**20} MiB volume for more than {cfg.redis_volume_for} (warning above "
                f"{_pct(ratio)}): the next AOF rewrite or RDB snapshot may fill the disk, and then every "
                "write fails.",
            )
        ]

    def too_few_replicas(needed: int) -> list[AlertSpec]:
        if needed < 1:
            return []
        return [
            AlertSpec(
                name="RedisMasterWithoutReplicas",
                family="redis-replication",
                severity=Severity.CRITICAL,
                notify=PAGE,
                for_=cfg.redis_replication_for,
                expr=f"redis_connected_slaves{{{data_node}}} < {needed}\n"
                f'and on (service, instance) redis_instance_info{{{data_node},role="master"}}',
                summary=f"Redis master {instance} has fewer than {needed} replicas",
                description=f"The Redis master {instance} of {svc} has had {{{{ $value }}}} connected "
                f"replicas for more than {cfg.redis_replication_for}, fewer than min-replicas-to-write "
                f"({needed}): it refuses every write (NOREPLICAS).",
            )
        ]

    hits = f"rate(redis_keyspace_hits_total{{{data_node}}}[{cfg.rate_window}])"
    misses = f"rate(redis_keyspace_misses_total{{{data_node}}}[{cfg.rate_window}])"
    epoch_window = cfg.redis_failover_window
    members = deployment.alertmanager_replicas
    catalog = [
        latency("P95LatencyCritical", Severity.CRITICAL, PAGE, cfg.p95_critical_ms, cfg.p95_critical_for),
        latency("P95LatencyWarning", Severity.WARNING, CHAT, cfg.p95_warning_ms, cfg.p95_warning_for),
        latency(
            "P50LatencyWarning",
            Severity.WARNING,
            CHAT,
            cfg.p50_warning_ms,
            cfg.p50_warning_for,
            P50_LATENCY,
            "P50",
        ),
        latency(
            "MeanLatencyWarning",
            Severity.WARNING,
            CHAT,
            cfg.mean_latency_warning_ms,
            cfg.mean_latency_warning_for,
            MEAN_LATENCY,
            "Mean",
        ),
        errors(
            "ErrorRateCritical", Severity.CRITICAL, PAGE, cfg.error_rate_critical, cfg.error_rate_critical_for
        ),
        errors(
            "ErrorRateWarning", Severity.WARNING, CHAT, cfg.error_rate_warning, cfg.error_rate_warning_for
        ),
        quality(
            "QualityScoreCritical", Severity.CRITICAL, INFORM, cfg.quality_critical, cfg.quality_critical_for
        ),
        quality("QualityScoreWarning", Severity.WARNING, CHAT, cfg.quality_warning, cfg.quality_warning_for),
        AlertSpec(
            name="CacheHitRateLow",
            family="cache",
            severity=Severity.WARNING,
            notify=CHAT,
            for_=cfg.cache_hit_rate_low_for,
            expr=f"{CACHE_HIT_RATIO} < {num(cfg.cache_hit_rate_low)}",
            summary=f"Cache hit rate of {where} is below {_pct(cfg.cache_hit_rate_low)}",
            description=f"Cache hit rate of {where} has been {percent} "
            f"for more than {cfg.cache_hit_rate_low_for} "
            f"(warning below {_pct(cfg.cache_hit_rate_low)}, target {_pct(cfg.dashboard_cache_hit_target)}).",
        ),
        AlertSpec(
            name="TokenUsageHigh",
            family="tokens",
            severity=Severity.WARNING,
            notify=CHAT,
            for_=cfg.token_usage_for,
            # Written as baseline * factor so the rule file shows where the limit comes from.
            expr=f"{TOKENS_PER_REQUEST} > "
            f"{num(cfg.token_baseline_per_request)} * {num(cfg.token_increase_factor)}",
            summary=f"Token usage of {where} is above {num(cfg.token_limit_per_request)} per request",
            description=f'{where} has used {{{{ $value | printf "%.1f" }}}} tokens per request for more than '
            f"{cfg.token_usage_for} (warning above {num(cfg.token_limit_per_request)}: baseline "
            f"{num(cfg.token_baseline_per_request)} x {num(cfg.token_increase_factor)}).",
        ),
        AlertSpec(
            name="ApplicationDown",
            family="availability",
            severity=Severity.CRITICAL,
            notify=PAGE,
            for_=cfg.app_down_for,
            expr=f"{APP_UP} == 0",
            summary=f"{where} is down",
            description=f"Prometheus has not been able to scrape {instance} of {where} "
            f"for more than {cfg.app_down_for}.",
        ),
        *track_down(
            "NoStableInstanceUp",
            "stable",
            PAGE,
            "Every user of the service is affected.",
        ),
        *track_down(
            "NoCanaryInstanceUp",
            "canary",
            CHAT,
            f"Users sent to the canary get errors unless its weight is 0: {rollback}",
        ),
        AlertSpec(
            name="RedisDown",
            family="redis",
            severity=Severity.CRITICAL,
            notify=PAGE,
            for_=cfg.redis_down_for,
            expr=f"redis_up{{{data_node}}} == 0",
            summary=f"Redis node {instance} is down",
            description=f"redis_exporter has not reached the Redis data node {instance} of {svc} "
            f"for more than {cfg.redis_down_for}.",
        ),
        AlertSpec(
            name="RedisSentinelDown",
            family="redis-sentinel",
            severity=Severity.WARNING,
            notify=CHAT,
            for_=cfg.redis_sentinel_down_for,
            expr=f"redis_up{{{sentinel}}} == 0",
            summary=f"Redis Sentinel {instance} is down",
            description=f"redis_exporter has not reached the Sentinel {instance} of {svc} for more than "
            f"{cfg.redis_sentinel_down_for}; the other Sentinels can still fail over while a quorum is up.",
        ),
        AlertSpec(
            name="RedisNoMaster",
            family="redis-master",
            severity=Severity.CRITICAL,
            notify=PAGE,
            for_=cfg.redis_master_for,
            # Data nodes that answer, minus those services that have a master among them. Only
            # nodes that answer (`== 1`): a node that is down reports no role, and a Redis whose
            # every node is down is RedisDown's page, not a second one saying "no master".
            expr=f"count by (service) (redis_up{{{data_node}}} == 1)\n"
            f'unless on (service) count by (service) (redis_instance_info{{{data_node},role="master"}})',
            summary=f"Redis {svc} has no master",
            description=f"None of the {{{{ $value }}}} data nodes of Redis {svc} has been master for more "
            f"than {cfg.redis_master_for}: every write fails.",
        ),
        AlertSpec(
            name="RedisMultipleMasters",
            family="redis-master",
            severity=Severity.CRITICAL,
            notify=PAGE,
            for_=cfg.redis_master_for,
            expr=f'count by (service) (redis_instance_info{{{data_node},role="master"}}) > 1',
            summary=f"Redis {svc} has more than one master",
            description=f"{{{{ $value }}}} data nodes of Redis {svc} have been master for more than "
            f"{cfg.redis_master_for} (split brain): writes to all but one of them will be lost.",
        ),
        AlertSpec(
            name="RedisFailover",
            family="redis-failover",
            severity=Severity.WARNING,
            notify=CHAT,
            for_="0s",
            # Every failover raises the master's configuration epoch by one; the recorded
            # maximum over all Sentinels survives the master's address changing.
            expr=f"{REDIS_CONFIG_EPOCH}\n  > min_over_time({REDIS_CONFIG_EPOCH}[{epoch_window}])",
            summary=f"Redis {svc} failed over to a new master",
            description=f"Sentinel promoted a replica of {{{{ $labels.master_name }}}} to master within the "
            f"last {epoch_window} (configuration epoch now {{{{ $value }}}}); find out why the old master "
            "failed.",
        ),
        *redis_memory(deployment.redis_memory_limit_bytes),
        persistence(
            "RedisAofWriteFailing",
            "redis_aof_last_write_status",
            "the append-only file",
            "Redis refuses every write (MISCONF) until it succeeds again.",
        ),
        persistence(
            "RedisRdbSnapshotFailing",
            "redis_rdb_last_bgsave_status",
            "the last RDB snapshot",
            "writes go on (stop-writes-on-bgsave-error no), but a restart would load an older file "
            "and a replica that needs a full sync may not get one.",
        ),
        *redis_volume(deployment.redis_volume_bytes),
        AlertSpec(
            name="RedisReplicaLinkDown",
            family="redis-replication",
            severity=Severity.WARNING,
            notify=CHAT,
            for_=cfg.redis_replication_for,
            # Only replicas report the link to their master.
            expr=f"redis_master_link_up{{{data_node}}} == 0",
            summary=f"Redis replica {instance} has lost its master",
            description=f"The Redis replica {instance} of {svc} has not been connected to its master for "
            f"more than {cfg.redis_replication_for}: it serves stale data and counts for no write.",
        ),
        *too_few_replicas(deployment.redis_min_replicas_to_write),
        AlertSpec(
            name="RedisCacheThrashing",
            family="redis-cache",
            severity=Severity.WARNING,
            notify=CHAT,
            for_=cfg.redis_thrashing_for,
            expr=f"{hits} / ({hits} + {misses}) < {num(cfg.redis_thrashing_hit_ratio)}\n"
            f"and\nrate(redis_evicted_keys_total{{{data_node}}}[{cfg.rate_window}]) > 0",
            summary=f"Redis {svc} evicts keys while most lookups miss",
            description=f"Redis {svc} at {instance} has evicted keys with a keyspace hit ratio of {percent} "
            f"for more than {cfg.redis_thrashing_for} (warning below {_pct(cfg.redis_thrashing_hit_ratio)}): "
            "the working set no longer fits maxmemory.",
        ),
        AlertSpec(
            name="RedisRestarted",
            family="redis-restart",
            severity=Severity.WARNING,
            notify=CHAT,
            for_="0s",
            # Uptime only goes down when the process starts again.
            expr=f"resets(redis_uptime_in_seconds{{{data_node}}}[{cfg.redis_restart_window}]) > 0",
            summary=f"Redis node {instance} restarted",
            description=f"The Redis data node {instance} of {svc} has started again within the last "
            f"{cfg.redis_restart_window}: killed for its memory (OOM), crashed, or restarted by a "
            "deploy that changed its configuration.",
        ),
        AlertSpec(
            name="CanaryErrorRateAboveStable",
            family="canary",
            severity=Severity.CRITICAL,
            notify=CHAT,
            for_=cfg.canary_for,
            # group_left keeps the canary's labels (service, track="canary") on the alert.
            expr=f'{ERROR_RATIO}{{track="canary"}}\n'
            f"  > on (service) group_left () "
            f'({ERROR_RATIO}{{track="stable"}} + {num(cfg.canary_error_rate_margin)})\n'
            f"{canary_guard}",
            summary="Canary of {{ $labels.service }} fails more often than stable",
            description=f"The canary of {svc} has failed {percent} of requests with 5xx for "
            f"more than {cfg.canary_for}, over {num(cfg.canary_error_rate_margin * 100)} "
            f"percentage points above stable. {rollback}",
        ),
        AlertSpec(
            name="CanaryLatencyAboveStable",
            family="canary",
            severity=Severity.CRITICAL,
            notify=CHAT,
            for_=cfg.canary_for,
            expr=f'{P95_LATENCY}{{track="canary"}}\n'
            f"  > on (service) group_left () "
            f'({P95_LATENCY}{{track="stable"}} * {num(1 + cfg.canary_latency_margin)})\n'
            f"{canary_guard}",
            summary="Canary of {{ $labels.service }} is slower than stable",
            description=f"The canary of {svc} has had a P95 of {seconds} for more than "
            f"{cfg.canary_for}, over {_pct(cfg.canary_latency_margin)} above stable. {rollback}",
        ),
        AlertSpec(
            name=WATCHDOG_ALERT,
            family="watchdog",
            severity=Severity.NONE,
            notify=(),
            for_="0s",
            expr="vector(1)",
            summary="Alerting works: this alert always fires",
            description="Always firing while Prometheus evaluates its rules and reaches Alertmanager. "
            "Alertmanager sends it to the dead man's switch (notifications.deadMansSwitch), which "
            "raises an incident when it stops arriving.",
        ),
        monitoring(
            "TargetDown",
            "targets",
            Severity.WARNING,
            CHAT,
            f"{INFRA_UP} == 0",
            f"Prometheus cannot scrape {svc} at {instance}",
            f"The {{{{ $labels.job }}}} target {instance} ({svc}) has failed every scrape for more than "
            f"{cfg.monitoring_for}: its metrics and the alerts that read them are blind.",
        ),
        monitoring(
            "PrometheusRuleEvaluationFailures",
            "rules",
            Severity.CRITICAL,
            INFORM,
            "increase(prometheus_rule_evaluation_failures_total[5m]) > 0",
            "Prometheus fails to evaluate rules of {{ $labels.rule_group }}",
            f'{{{{ $value | printf "%.0f" }}}} evaluations of the rule group {{{{ $labels.rule_group }}}} '
            f"failed on {instance} in the last 5 minutes, for more than {cfg.monitoring_for}: the alerts of "
            "that group cannot fire.",
        ),
        monitoring(
            "PrometheusNotConnectedToAlertmanagers",
            "alert-delivery",
            Severity.CRITICAL,
            INFORM,
            # Nothing reached any Alertmanager although something was sent: the Watchdog
            # always fires, so a connected Prometheus always succeeds now and then.
            "(\n"
            "  sum without (alertmanager) (rate(prometheus_notifications_sent_total[5m])) == 0\n"
            "  and\n"
            "  sum without (alertmanager) (rate(prometheus_notifications_errors_total[5m])) > 0\n"
            ")\nor\nprometheus_notifications_alertmanagers_discovered < 1",
            f"Prometheus {instance} reaches no Alertmanager",
            f"Prometheus {instance} has not delivered an alert to any Alertmanager for more than "
            f"{cfg.monitoring_for}: its alerts reach no one.",
        ),
        monitoring(
            "AlertmanagerNotificationsFailing",
            "notifications",
            Severity.CRITICAL,
            INFORM,
            "sum by (service, integration) (rate(alertmanager_notifications_failed_total[5m])) > 0",
            "Alertmanager fails to send {{ $labels.integration }} notifications",
            f'Alertmanager has failed {{{{ $value | printf "%.3f" }}}} {{{{ $labels.integration }}}} '
            f"notifications per second for more than {cfg.monitoring_for}: alerts for that channel "
            "reach no one.",
        ),
        monitoring(
            "JaegerSpansNotStored",
            "tracing",
            Severity.WARNING,
            CHAT,
            "sum by (service, instance) (rate(otelcol_exporter_send_failed_spans_total"
            f'{{exporter="{JAEGER_STORAGE_EXPORTER}"}}[5m])) > 0',
            f"Jaeger {instance} cannot store spans",
            f'Jaeger at {instance} has failed to store {{{{ $value | printf "%.3f" }}}} spans per second for '
            f"more than {cfg.monitoring_for}: those traces are lost. With badger, usually a full volume "
            "(`tracing.storage.retention` bounds what it keeps, `jaeger.storageSize` what it can hold); with "
            "Elasticsearch, the cluster.",
        ),
        monitoring(
            "AlertmanagerClusterMembersMissing",
            "alertmanager-cluster",
            Severity.WARNING,
            CHAT,
            f"alertmanager_cluster_members < {members}",
            f"Alertmanager {instance} sees fewer than {members} cluster members",
            f"Alertmanager {instance} has seen {{{{ $value }}}} of the {members} configured cluster members "
            f"for more than {cfg.monitoring_for}: a member is down or cannot gossip, and notifications may "
            "be sent twice.",
        ),
    ]
    return [replace(spec, runbook_url=runbook_link(cfg, spec.name)) for spec in catalog]
