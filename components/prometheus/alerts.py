"""The alert catalog: thresholds as typed settings, and the alerts built from them.

One source of truth for alert rules, dashboard thresholds and canary rollback
signals (DESIGN.md, "Alert catalog"). Defaults are the numbers of the source
runbooks; a stack overrides any of them under ``perfstack:alerts``. The labels
every alert carries, and how Alertmanager routes on them, are described in
components/platform/telemetry.py.
"""

import re
from dataclasses import dataclass
from typing import Annotated, Self

from pydantic import AfterValidator, Field, model_validator

from components.platform.settings import ConfigModel, PromDuration, Ratio
from components.platform.telemetry import (
    APP_UP,
    CACHE_HIT_RATIO,
    CHAT,
    ERROR_RATIO,
    FAMILY_LABEL,
    INFORM,
    NOTIFY_LABEL,
    P95_LATENCY,
    PAGE,
    QUALITY,
    REQUEST_RATE,
    TOKENS_PER_REQUEST,
    Channel,
    Severity,
    num,
)


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
        raise ValueError(f"{value!r} is not an http(s) URL")
    # Stored without a trailing slash so runbook links never get '//'.
    return value.rstrip("/")


class AlertsConfig(ConfigModel):
    """Alert thresholds and durations (`perfstack:alerts`); the dashboards draw the same lines."""

    runbook_base_url: Annotated[str, AfterValidator(_http_url)] = "https://runbooks.example.com/perfstack"
    """Base of the runbook links; each alert links to `<base>/<alert-name-in-kebab-case>`."""

    p95_critical_ms: float = Field(default=2500, gt=0)
    """P95 request latency (ms) above which `P95LatencyCritical` fires and pages."""
    p95_critical_for: PromDuration = "5m"
    """How long the P95 must stay above `p95CriticalMs` before paging."""
    p95_warning_ms: float = Field(default=2000, gt=0)
    """P95 request latency (ms) above which `P95LatencyWarning` fires; also the red line on dashboards."""
    p95_warning_for: PromDuration = "10m"
    """How long the P95 must stay above `p95WarningMs` before warning."""

    error_rate_critical: Ratio = 0.05
    """Share of 5xx responses above which `ErrorRateCritical` fires and pages (0.05 = 5 %)."""
    error_rate_critical_for: PromDuration = "5m"
    """How long the 5xx share must stay above `errorRateCritical`."""
    error_rate_warning: Ratio = 0.02
    """Share of 5xx responses above which `ErrorRateWarning` fires (0.02 = 2 %)."""
    error_rate_warning_for: PromDuration = "5m"
    """How long the 5xx share must stay above `errorRateWarning`."""

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
    """`TokenUsageHigh` fires when tokens per request exceed baseline x this factor (1.15 = +15 %)."""
    token_usage_for: PromDuration = "15m"
    """How long tokens per request must stay above the limit."""

    app_down_for: PromDuration = "1m"
    """How long an app target may fail its scrapes before `ApplicationDown` pages."""

    redis_down_for: PromDuration = "1m"
    """How long redis_exporter may report Redis down before `RedisDown` pages."""
    redis_memory_ratio: Ratio = 0.80
    """Share of maxmemory above which `RedisMemoryHigh` warns (evictions are near)."""
    redis_memory_for: PromDuration = "15m"
    """How long Redis memory must stay above `redisMemoryRatio`."""

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


@dataclass(frozen=True)
class AlertSpec:
    """One alert of the catalog, ready to become a Prometheus alerting rule."""

    name: str
    """CamelCase alert name (`alertname`)."""
    family: str
    """What the alert is about; critical inhibits warning within a family."""
    severity: Severity
    notify: tuple[Channel, ...]
    """Channels, in the fixed order slack, email, pagerduty."""
    for_: str
    """Prometheus duration the condition must hold before the alert fires."""
    expr: str
    """PromQL; uses the recording rules of components/prometheus/rules.py."""
    summary: str
    """One line, Go template (may use $labels)."""
    description: str
    """Details with the current value ($value), Go template."""
    runbook_url: str

    @property
    def labels(self) -> dict[str, str]:
        """Static labels the rule adds to every alert it produces."""
        return {
            "severity": str(self.severity),
            FAMILY_LABEL: self.family,
            NOTIFY_LABEL: ",".join(str(c) for c in self.notify),
        }

    @property
    def annotations(self) -> dict[str, str]:
        """Annotations of the rule: summary, description, runbook_url."""
        return {"summary": self.summary, "description": self.description, "runbook_url": self.runbook_url}


def _pct(ratio: float) -> str:
    return f"{ratio * 100:.12g}%"


def _runbook(cfg: AlertsConfig, alert_name: str) -> str:
    # P95LatencyCritical -> <base>/p95-latency-critical
    return f"{cfg.runbook_base_url}/" + re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", alert_name).lower()


def alert_catalog(cfg: AlertsConfig) -> list[AlertSpec]:
    """Every alert perfstack defines, with thresholds from `cfg`, in a stable order."""
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

    def latency(
        name: str, severity: Severity, notify: tuple[Channel, ...], ms: float, for_: str
    ) -> AlertSpec:
        return AlertSpec(
            name=name,
            family="latency",
            severity=severity,
            notify=notify,
            for_=for_,
            expr=f"{P95_LATENCY} > {num(ms / 1000)}",
            summary=f"P95 latency of {where} is above {num(ms)}ms",
            description=f"P95 latency of {where} has been {seconds} for more than {for_} "
            f"({severity} above {num(ms)}ms).",
            runbook_url=_runbook(cfg, name),
        )

    def errors(
        name: str, severity: Severity, notify: tuple[Channel, ...], ratio: float, for_: str
    ) -> AlertSpec:
        return AlertSpec(
            name=name,
            family="errors",
            severity=severity,
            notify=notify,
            for_=for_,
            expr=f"{ERROR_RATIO} > {num(ratio)}",
            summary=f"5xx error rate of {where} is above {_pct(ratio)}",
            description=f"{percent} of requests to {where} have failed with 5xx for more than {for_} "
            f"({severity} above {_pct(ratio)}).",
            runbook_url=_runbook(cfg, name),
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
            runbook_url=_runbook(cfg, name),
        )

    return [
        latency("P95LatencyCritical", Severity.CRITICAL, PAGE, cfg.p95_critical_ms, cfg.p95_critical_for),
        latency("P95LatencyWarning", Severity.WARNING, CHAT, cfg.p95_warning_ms, cfg.p95_warning_for),
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
            runbook_url=_runbook(cfg, "CacheHitRateLow"),
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
            runbook_url=_runbook(cfg, "TokenUsageHigh"),
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
            runbook_url=_runbook(cfg, "ApplicationDown"),
        ),
        AlertSpec(
            name="RedisDown",
            family="redis",
            severity=Severity.CRITICAL,
            notify=PAGE,
            for_=cfg.redis_down_for,
            expr="redis_up == 0",
            summary="Redis {{ $labels.service }} is down",
            description="redis_exporter {{ $labels.instance }} has not reached Redis {{ $labels.service }} "
            f"for more than {cfg.redis_down_for}.",
            runbook_url=_runbook(cfg, "RedisDown"),
        ),
        AlertSpec(
            name="RedisMemoryHigh",
            family="redis",
            severity=Severity.WARNING,
            notify=CHAT,
            for_=cfg.redis_memory_for,
            # `> 0` drops instances without maxmemory (0 = unlimited) instead of dividing by zero.
            expr=f"redis_memory_used_bytes / (redis_memory_max_bytes > 0) > {num(cfg.redis_memory_ratio)}",
            summary=f"Redis {svc} uses more than {_pct(cfg.redis_memory_ratio)} of maxmemory",
            description=f"Redis {svc} at {instance} has used {percent} of "
            f"maxmemory for more than {cfg.redis_memory_for} (warning above {_pct(cfg.redis_memory_ratio)}); "
            "allkeys-lru evictions follow.",
            runbook_url=_runbook(cfg, "RedisMemoryHigh"),
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
            runbook_url=_runbook(cfg, "CanaryErrorRateAboveStable"),
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
            runbook_url=_runbook(cfg, "CanaryLatencyAboveStable"),
        ),
    ]
