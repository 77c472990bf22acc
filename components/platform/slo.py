"""``services.<name>.slo``: a service's objectives and the burn rates that alert on them.

The objective contract the app's settings carry, Prometheus turns into rules
(components/prometheus/slo.py), Grafana draws and the rollout judge gates
promotions on; it lives here, below them all, like the metrics contract.

An SLO counts requests over a window (30 days by default): the share that must
be good is the objective, and the rest is the *error budget*. A *burn rate*
says how fast the budget goes: at 1 it is spent exactly at the end of the
window, at 14.4 a 30-day budget is gone in 50 hours. The alerts are the Google
SRE workbook's multiwindow, multi-burn-rate alerts: each fires while the error
ratio over a long window *and* over a short one is above burn rate x budget, so
it fires as soon as enough budget is gone and stops soon after the errors do.
"""

from itertools import combinations
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator
from pydantic_core import InitErrorDetails

from components.platform.settings import (
    ConfigModel,
    PromDuration,
    config_error,
    duration_seconds,
    raise_errors,
)

LATENCY_BUCKET_BOUNDS_MS: tuple[float, ...] = (
    50, 100, 150, 200, 250, 300, 400, 500, 750, 1000, 1250, 1500, 1750, 2000, 2500, 3000, 4000, 5000,
    7500, 10000,
)  # fmt: skip
"""Upper bounds (ms) of the metrics contract's `http_request_duration_seconds` buckets (the demo app's)."""

Objective = Annotated[float, Field(gt=0, lt=1)]
"""The share of requests that must be good, e.g. 0.999 (1 would leave no budget at all)."""

Sli = Literal["availability", "latency"]
"""The indicators an SLO can hold; the value of the `slo` label on its series and alerts."""

Severity = Literal["page", "ticket"]
"""What a burn-rate alert does: page (critical: Slack, email, PagerDuty) or ticket (warning: Slack)."""


class AvailabilityObjective(ConfigModel):
    """Availability: the share of user requests not answered 5xx (probes and scrapes left out, as in
    `alerts.excludedRoutes`)."""

    objective: Objective = 0.999
    """Share of requests that must not fail (0.999: the runbooks' "99.9%+ system uptime"; a 30-day
    budget of 43 minutes of total outage)."""


class LatencyObjective(ConfigModel):
    """Latency: the share of user requests answered within `thresholdMs`."""

    objective: Objective = 0.95
    """Share of requests that must be faster than `thresholdMs` (0.95 with 1500 ms: the monitoring
    guide's "P95 < 1500ms" as an objective)."""
    threshold_ms: float = Field(default=1500, gt=0)
    """Latency (ms) a good request stays within. It must be one of `bucketBoundsMs`: Prometheus counts
    requests per histogram bucket, so only a bucket's bound splits good from slow exactly."""
    bucket_bounds_ms: list[Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: list(LATENCY_BUCKET_BOUNDS_MS)
    )
    """The bucket bounds (ms) of the service's `http_request_duration_seconds` histogram, as its app
    declares them (default: the metrics contract's, which the demo app uses). `SloSeriesAbsent` fires
    if the app has no bucket at `thresholdMs` after all."""

    @model_validator(mode="after")
    def _threshold_is_a_bucket_bound(self) -> Self:
        if self.threshold_ms not in self.bucket_bounds_ms:
            allowed = ", ".join(f"{b:g}" for b in sorted(self.bucket_bounds_ms))
            raise_errors(
                "LatencyObjective",
                [
                    config_error(
                        "threshold_not_a_bucket",
                        f"{self.threshold_ms:g} is not a bucket bound of the latency histogram "
                        f"(bucketBoundsMs); use one of {allowed}",
                        ("thresholdMs",),
                        self.threshold_ms,
                    )
                ],
            )
        return self

    @property
    def threshold_s(self) -> float:
        """`thresholdMs` in seconds, the unit of the histogram's `le` label."""
        return self.threshold_ms / 1000


class BurnRateAlert(ConfigModel):
    """One multiwindow burn-rate alert: fires while both windows' error ratios exceed burnRate x budget."""

    long_window: PromDuration
    """How much history must show the burn (e.g. '1h'): what makes the alert significant."""
    short_window: PromDuration
    """How recent the burn must be (e.g. '5m', a twelfth of the long one): what lets the alert resolve
    soon after the errors stop."""
    burn_rate: float = Field(gt=0)
    """How many times faster than "exactly spent at the end of the window" the budget goes (14.4 over
    1h spends 2 % of a 30-day budget)."""
    severity: Severity
    """`page` (critical: Slack, email and PagerDuty) or `ticket` (warning: Slack)."""


def _workbook_alerts() -> list[BurnRateAlert]:
    # The Google SRE workbook's table for a 30-day objective (chapter "Alerting on SLOs"):
    # 2 % of the budget in 1h or 5 % in 6h pages; 10 % in 1d or in 3d makes a ticket.
    rows = (("1h", "5m", 14.4, "page"), ("6h", "30m", 6, "page"), ("1d", "2h", 3, "ticket"),
            ("3d", "6h", 1, "ticket"))  # fmt: skip
    return [
        BurnRateAlert.model_validate(
            {"longWindow": long, "shortWindow": short, "burnRate": float(rate), "severity": severity}
        )
        for long, short, rate, severity in rows
    ]


class SloConfig(ConfigModel):
    """The service level objectives of one service (docs/slo.md)."""

    window: PromDuration = "30d"
    """The period the objectives hold over; the error budget is what the objectives allow to fail in
    it. Prometheus must keep that much history: `prometheus.retention` must be at least as long."""
    availability: AvailabilityObjective | None = Field(default_factory=AvailabilityObjective)
    """The availability objective (null: none)."""
    latency: LatencyObjective | None = Field(default_factory=LatencyObjective)
    """The latency objective (null: none)."""
    burn_rate_alerts: list[BurnRateAlert] = Field(default_factory=_workbook_alerts, min_length=1)
    """The burn-rate alerts, for each objective. Default: the SRE workbook's four for a 30-day window,
    page at 14.4 over 1h/5m and 6 over 6h/30m, ticket at 3 over 1d/2h and 1 over 3d/6h."""
    min_request_rate: float = Field(default=0.1, gt=0)
    """Requests per second the service must serve (both tracks, over `alerts.rateWindow`) before a
    `page` alert can fire: at night a handful of errors among a handful of requests is a large ratio
    over the short window and must not wake anyone. Ticket alerts have no such guard: their long
    windows average over enough requests, and they wake no one."""
    absent_for: PromDuration = "15m"
    """How long an objective's series may be missing from Prometheus before `SloSeriesAbsent` warns
    (the SLO cannot be measured: the app is not scraped, or has no bucket at `latency.thresholdMs`)."""

    @model_validator(mode="after")
    def _alerts_fit_the_window_and_the_objectives(self) -> Self:
        errors: list[InitErrorDetails] = []
        if self.availability is None and self.latency is None:
            errors.append(
                config_error(
                    "no_objective",
                    "sets neither availability nor latency: give at least one, or remove slo",
                    (),
                    None,
                )
            )
        window = duration_seconds(self.window)
        for index, alert in enumerate(self.burn_rate_alerts):
            at = ("burnRateAlerts", index)
            long, short = duration_seconds(alert.long_window), duration_seconds(alert.short_window)
            if short >= long:
                errors.append(
                    config_error(
                        "short_window_not_shorter",
                        f"must be shorter than longWindow ({alert.long_window})",
                        (*at, "shortWindow"),
                        alert.short_window,
                    )
                )
            if long > window:
                errors.append(
                    config_error(
                        "long_window_beyond_slo_window",
                        f"must not be longer than the SLO's window ({self.window})",
                        (*at, "longWindow"),
                        alert.long_window,
                    )
                )
            for name, objective in self.objectives().items():
                if alert.burn_rate * (1 - objective) >= 1:
                    errors.append(
                        config_error(
                            "burn_rate_unreachable",
                            f"{alert.burn_rate:g} x the {name} budget ({1 - objective:.4g}) is 100 % of "
                            "requests or more: this alert could never fire; lower it or raise "
                            f"{name}.objective",
                            (*at, "burnRate"),
                            alert.burn_rate,
                        )
                    )
        for (_, a), (j, b) in combinations(enumerate(self.burn_rate_alerts), 2):
            if (a.long_window, a.short_window) == (b.long_window, b.short_window):
                errors.append(
                    config_error(
                        "duplicate_windows",
                        f"repeats the windows {a.long_window}/{a.short_window} of an earlier alert",
                        ("burnRateAlerts", j),
                        None,
                    )
                )
        raise_errors("SloConfig", errors)
        return self

    def objectives(self) -> dict[Sli, float]:
        """The objectives set, by indicator (availability first)."""
        found: dict[Sli, float] = {}
        if self.availability is not None:
            found["availability"] = self.availability.objective
        if self.latency is not None:
            found["latency"] = self.latency.objective
        return found

    def windows(self) -> tuple[str, ...]:
        """Every window a burn-rate alert reads, shortest first, each once."""
        found = {w for a in self.burn_rate_alerts for w in (a.long_window, a.short_window)}
        return tuple(sorted(found, key=duration_seconds))
