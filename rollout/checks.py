"""The checks of one analysis: thresholds resolved from the rollout settings and the alert catalog.

Every check reports what a person needs to trust or dispute it: the metric,
the threshold and how it is compared, the observed value, the sample it
rests on, and for a comparison the test and its p-value.
"""

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Literal

from components.app.rollout import RolloutConfig, TierThresholds
from components.prometheus.alerts import AlertsConfig
from rollout.samples import ErrorBudget, ServiceSamples, TrackSample
from rollout.stats import histogram_shift_p_value, proportion_excess_p_value

Tier = Literal["critical", "warning", "promotion"]
"""critical: roll back; warning: step back; promotion: only hold a promotion (the error budget)."""

DELIVERY_FLOOR = 0.1
"""A canary that gets less than this fraction of the requests its weight should bring is failing at
the router (its requests never reach the app, so it has no app metrics to fail on)."""

STEP_BACK_POINTS = 25
"""Percentage points a warning takes off the canary's weight (the runbook's gradual rollback)."""


class Status(StrEnum):
    """How a check came out."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    """Too few requests to say: the judge holds."""
    NOT_MEASURED = "not_measured"
    """The track reports no such series (e.g. an app without a cache): nothing to judge."""
    NOT_APPLICABLE = "not_applicable"
    """Nothing to compare with: stable serves no users at weight 100."""


@dataclass(frozen=True)
class CheckResult:
    """One check of one analysis."""

    name: str
    """Stable identifier, e.g. `error_rate` or `compare_latency`."""
    tier: Tier
    metric: str
    """What was measured, in words."""
    operator: str
    """How the observed value fails: `>` (above the threshold) or `<` (below it)."""
    threshold: float | None
    observed: float | None
    sample: float
    """User requests the value rests on (the canary's; for a comparison, the smaller track's)."""
    status: Status
    test: str | None = None
    """The statistical test of a comparison."""
    p_value: float | None = None
    baseline: float | None = None
    """Stable's value, for a comparison."""

    @property
    def failed(self) -> bool:
        """Whether this check fails the canary."""
        return self.status is Status.FAIL

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping (status as its string)."""
        data = asdict(self)
        data["status"] = str(self.status)
        return data

    def describe(self) -> str:
        """One line: `critical error_rate: 0.061 > 0.05 (n=1200) fail`."""

        def fmt(value: float | None) -> str:
            return "-" if value is None else f"{value:.4g}"

        line = f"{self.tier} {self.name}: {fmt(self.observed)} {self.operator} {fmt(self.threshold)}"
        line += f" (n={self.sample:.0f})"
        if self.baseline is not None:
            line += f", stable {fmt(self.baseline)}"
        if self.test is not None:
            line += f", {self.test} p={fmt(self.p_value)}"
        return f"{line} {self.status}"


@dataclass(frozen=True)
class Thresholds:
    """One tier's absolute thresholds after defaults (None: no such check in this tier)."""

    error_rate: float | None
    p95_ms: float | None
    quality: float | None
    cache_hit_ratio: float | None
    tokens_per_request: float | None


def _pick(value: float | None, default: float | None) -> float | None:
    return default if value is None else value


def tier_thresholds(tier: Tier, settings: TierThresholds, alerts: AlertsConfig) -> Thresholds:
    """A tier's thresholds: the rollout settings where set, else the alert catalog's."""
    if tier == "critical":
        defaults = Thresholds(
            error_rate=alerts.error_rate_critical,
            p95_ms=alerts.p95_critical_ms,
            quality=alerts.quality_critical,
            cache_hit_ratio=alerts.cache_hit_rate_low,
            tokens_per_request=None,
        )
    else:
        defaults = Thresholds(
            error_rate=alerts.error_rate_warning,
            p95_ms=alerts.p95_warning_ms,
            quality=alerts.quality_warning,
            cache_hit_ratio=None,
            tokens_per_request=alerts.token_limit_per_request,
        )
    return Thresholds(
        error_rate=_pick(settings.error_rate, defaults.error_rate),
        p95_ms=_pick(settings.p95_ms, defaults.p95_ms),
        quality=_pick(settings.quality, defaults.quality),
        cache_hit_ratio=_pick(settings.cache_hit_ratio, defaults.cache_hit_ratio),
        tokens_per_request=_pick(settings.tokens_per_request, defaults.tokens_per_request),
    )


def absolute_checks(
    tier: Tier, limits: Thresholds, canary: TrackSample, min_requests: int
) -> list[CheckResult]:
    """The canary's own signals against one tier's thresholds (a check without a threshold is left out)."""
    n = canary.requests
    p95_ms = None if canary.p95_s is None else canary.p95_s * 1000
    table = (
        ("error_rate", "canary 5xx share", ">", limits.error_rate, canary.error_ratio),
        ("p95_latency_ms", "canary P95 latency (ms)", ">", limits.p95_ms, p95_ms),
        ("quality", "canary average quality score", "<", limits.quality, canary.quality),
        ("cache_hit_ratio", "canary cache hit ratio", "<", limits.cache_hit_ratio, canary.cache_hit_ratio),
        ("tokens_per_request", "canary LLM tokens per request", ">", limits.tokens_per_request,
         canary.tokens_per_request),
    )  # fmt: skip
    checks = []
    for name, metric, operator, threshold, observed in table:
        if threshold is None:
            continue
        if observed is None:
            status = Status.NOT_MEASURED
        elif n < min_requests:
            status = Status.INCONCLUSIVE
        else:
            bad = observed > threshold if operator == ">" else observed < threshold
            status = Status.FAIL if bad else Status.PASS
        checks.append(CheckResult(name, tier, metric, operator, threshold, observed, n, status))
    return checks


def availability_checks(weight: int, samples: ServiceSamples, min_requests: int) -> list[CheckResult]:
    """Critical: a routed canary with no instance up, or one whose requests never reach it.

    Both leave the canary without app metrics; counting that as "no data"
    would hold a broken canary in front of users forever.
    """
    canary, stable = samples.canary, samples.stable
    up = 0 if canary is None else canary.instances_up
    checks = [
        CheckResult(
            "instances_up",
            "critical",
            f"canary instances up (weight {weight})",
            "<",
            1,
            up,
            0 if canary is None else canary.requests,
            Status.FAIL if up < 1 else Status.PASS,
        )
    ]
    total = (0.0 if canary is None else canary.requests) + (0.0 if stable is None else stable.requests)
    expected = total * weight / 100
    observed = 0.0 if canary is None else canary.requests
    if expected >= min_requests:
        status = Status.FAIL if observed < expected * DELIVERY_FLOOR else Status.PASS
    else:  # too little traffic to expect anything, unless the canary shows it gets enough
        status = Status.PASS if observed >= min_requests else Status.INCONCLUSIVE
    checks.append(
        CheckResult(
            "traffic_delivered",
            "critical",
            f"share of the {weight} % of requests routed to the canary that reach it",
            "<",
            DELIVERY_FLOOR,
            observed / expected if expected > 0 else None,
            expected,
            status,
        )
    )
    return checks


def comparison_checks(
    settings: RolloutConfig, alerts: AlertsConfig, weight: int, samples: ServiceSamples
) -> list[CheckResult]:
    """Canary against stable, critical tier: worse by more than the margin, with the test's confidence."""
    compare = settings.checks.compare
    alpha = 1 - compare.confidence
    error_margin = _pick(compare.error_rate_margin, alerts.canary_error_rate_margin)
    latency_margin = _pick(compare.latency_margin, alerts.canary_latency_margin)
    canary, stable = samples.canary, samples.stable
    assert canary is not None
    n = min(canary.requests, 0.0 if stable is None else stable.requests)

    def result(
        name: str, metric: str, threshold: float | None, observed: float | None,
        status: Status, test: str, p: float | None = None, baseline: float | None = None,
    ) -> CheckResult:  # fmt: skip
        return CheckResult(name, "critical", metric, ">", threshold, observed, n, status, test, p, baseline)

    error_metric = f"canary 5xx share vs stable + {error_margin:g}"
    latency_metric = f"canary P95 (ms) vs stable x {1 + latency_margin:g}"
    error_test = "two-proportion z-test, one-sided"
    latency_test = "Mann-Whitney U on histogram buckets, one-sided"
    if weight >= 100 or stable is None or n < settings.min_requests:
        status = Status.NOT_APPLICABLE if weight >= 100 else Status.INCONCLUSIVE
        return [
            result("compare_error_rate", error_metric, None, canary.error_ratio, status, error_test),
            result("compare_latency", latency_metric, None, None, status, latency_test),
        ]
    checks = []
    if canary.error_ratio is None or stable.error_ratio is None:
        checks.append(result("compare_error_rate", error_metric, None, None, Status.NOT_MEASURED, error_test))
    else:
        p = proportion_excess_p_value(
            canary.errors, canary.requests, stable.errors, stable.requests, error_margin
        )
        threshold = stable.error_ratio + error_margin
        failed = canary.error_ratio > threshold and p < alpha
        checks.append(
            result(
                "compare_error_rate", error_metric, threshold, canary.error_ratio,
                Status.FAIL if failed else Status.PASS, error_test, p, stable.error_ratio,
            )
        )  # fmt: skip
    if canary.p95_s is None or stable.p95_s is None or not canary.buckets or not stable.buckets:
        checks.append(
            result("compare_latency", latency_metric, None, None, Status.NOT_MEASURED, latency_test)
        )
    else:
        try:
            p = histogram_shift_p_value(canary.buckets, stable.buckets)
        except ValueError:  # a new build with other bucket bounds: its histogram is not comparable
            return [
                *checks,
                result("compare_latency", latency_metric, None, None, Status.NOT_MEASURED, latency_test),
            ]
        threshold = stable.p95_s * 1000 * (1 + latency_margin)
        failed = canary.p95_s * 1000 > threshold and p < alpha
        checks.append(
            result(
                "compare_latency", latency_metric, threshold, canary.p95_s * 1000,
                Status.FAIL if failed else Status.PASS, latency_test, p, stable.p95_s * 1000,
            )
        )  # fmt: skip
    return checks


def budget_checks(floor: float, budgets: tuple[ErrorBudget, ...]) -> list[CheckResult]:
    """Each objective's remaining error budget against `rollout.minErrorBudget` (promotion tier)."""
    checks = []
    for budget in budgets:
        if budget.remaining is None:
            status = Status.INCONCLUSIVE
        else:
            status = Status.FAIL if budget.remaining < floor else Status.PASS
        checks.append(
            CheckResult(
                f"error_budget_{budget.slo}",
                "promotion",
                f"remaining {budget.slo} error budget over {budget.window}",
                "<",
                floor,
                budget.remaining,
                budget.requests,
                status,
            )
        )
    return checks
