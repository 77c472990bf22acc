"""Rules of the service level objectives: error ratios per window, the remaining budget, burn-rate alerts.

Per service with `slo` set and per indicator (label `slo`: availability or
latency):

- `service:slo_objective:ratio`: the objective, a constant the dashboards and
  the budget divide by;
- `service:slo_errors:ratio_rate<window>`: the share of bad requests over each
  window a burn-rate alert reads, from the raw counters (both tracks: an SLO is
  about the service's users, whichever track served them);
- `service:slo_errors:ratio_rate<slo window>` and
  `service:slo_error_budget:remaining_ratio` (1: untouched, 0: spent, below 0:
  overspent), in a group of their own evaluated `BUDGET_EVALUATIONS` times per
  SLO window (every 5 minutes of a 30-day one): a `rate()` over the whole
  window is expensive, and the budget moves slowly.

The alerts are the SRE workbook's multiwindow, multi-burn-rate alerts: one rule
per configured window pair, named by indicator and severity
(`AvailabilityBurnRateCritical` pages, `...Warning` is a ticket), labelled with
its windows. The rollout judge reads the budget with the same expression
(`error_ratio`) through Prometheus' API, so a verdict can be replayed.
"""

from dataclasses import dataclass, replace

from components.platform.settings import duration_seconds
from components.platform.slo import BurnRateAlert, Sli, SloConfig
from components.platform.telemetry import (
    CHAT,
    PAGE,
    REQUEST_RATE,
    SLO_BUDGET_REMAINING,
    SLO_LABEL,
    SLO_OBJECTIVE,
    Severity,
    num,
    slo_error_ratio,
)
from components.prometheus.alerts import AlertsConfig, AlertSpec, runbook_link, user_requests

SLO_GROUP = "perfstack.slo"
SLO_BUDGET_GROUP = "perfstack.slo.budget"
BUDGET_EVALUATIONS = 8640
"""How many times per SLO window the budget group is evaluated: every 5 minutes of 30 days."""

SLI_ABSENT_ALERT = "SloSeriesAbsent"
_WHAT: dict[Sli, str] = {"availability": "Availability", "latency": "Latency"}


def burn_alert_name(sli: Sli, alert: BurnRateAlert) -> str:
    """AvailabilityBurnRateCritical (page) or LatencyBurnRateWarning (ticket)."""
    return f"{_WHAT[sli]}BurnRate{'Critical' if alert.severity == 'page' else 'Warning'}"


def _le(slo: SloConfig) -> str:
    assert slo.latency is not None
    # Prometheus 3 stores `le` as a float's text ("1.5", "2.0"), which repr() gives.
    return f'le="{slo.latency.threshold_s!r}"'


def _by_service(selector: str, window: str) -> str:
    return f"sum by (service) (rate({selector}[{window}]))"


def error_ratio(cfg: AlertsConfig, service: str, slo: SloConfig, sli: Sli, window: str) -> str:
    """PromQL of the share of `service`'s user requests that were bad for `sli` over `window`.

    One sample labelled `service`, absent while the service served no request in
    the window (a ratio of nothing is not 0).
    """
    this = f'service="{service}"'
    if sli == "availability":
        requests = _by_service(user_requests("http_requests_total", cfg, this), window)
        failed = _by_service(user_requests("http_requests_total", cfg, f'{this},code=~"5.."'), window)
        # `or ... * 0`: no 5xx series at all yet means none failed, not "unknown".
        return f"(\n  {failed}\n  or\n  {requests} * 0\n)\n/\n{requests}"
    fast = _by_service(
        user_requests("http_request_duration_seconds_bucket", cfg, f"{this},{_le(slo)}"), window
    )
    everything = _by_service(user_requests("http_request_duration_seconds_count", cfg, this), window)
    return f"1 - (\n  {fast}\n  /\n  {everything}\n)"


def remaining_budget(error_ratio_expr: str, objective: float) -> str:
    """PromQL of the budget left when `error_ratio_expr` is the error ratio over the SLO's window."""
    return f"1 - (\n  {error_ratio_expr}\n)\n/ {num(1 - objective)}"


@dataclass(frozen=True)
class Rule:
    """One recording rule of the SLO groups."""

    record: str
    expr: str
    labels: dict[str, str]


def _selector(record: str, service: str, sli: Sli) -> str:
    return f'{record}{{service="{service}",{SLO_LABEL}="{sli}"}}'


def _ratio_rule(cfg: AlertsConfig, service: str, slo: SloConfig, sli: Sli, window: str) -> Rule:
    return Rule(slo_error_ratio(window), error_ratio(cfg, service, slo, sli, window), {SLO_LABEL: sli})


def slo_recording_rules(
    cfg: AlertsConfig, slos: tuple[tuple[str, SloConfig], ...]
) -> tuple[list[Rule], list[Rule]]:
    """(the burn windows' group, the budget group) of recording rules."""
    windows: list[Rule] = []
    budget: list[Rule] = []
    for service, slo in slos:
        for sli, objective in slo.objectives().items():
            labels = {SLO_LABEL: sli}
            windows.append(Rule(SLO_OBJECTIVE, num(objective), {"service": service, **labels}))
            windows += [_ratio_rule(cfg, service, slo, sli, w) for w in slo.windows()]
            if slo.window not in slo.windows():  # else the burn windows' group records it already
                budget.append(_ratio_rule(cfg, service, slo, sli, slo.window))
            whole = _selector(slo_error_ratio(slo.window), service, sli)
            budget.append(Rule(SLO_BUDGET_REMAINING, remaining_budget(whole, objective), labels))
    return windows, budget


def budget_interval(slos: tuple[tuple[str, SloConfig], ...]) -> str:
    """The budget group's `interval`: the shortest SLO window / BUDGET_EVALUATIONS, whole seconds."""
    seconds = max(1, round(min(duration_seconds(slo.window) for _, slo in slos) / BUDGET_EVALUATIONS))
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def _span(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:.3g}h" if hours < 72 else f"{hours / 24:.3g}d"


def slo_alerts(cfg: AlertsConfig, slos: tuple[tuple[str, SloConfig], ...]) -> list[AlertSpec]:
    """The burn-rate alerts and the absent-series alerts of every service's objectives."""
    svc = "{{ $labels.service }}"
    alerts: list[AlertSpec] = []
    for service, slo in slos:
        window_s = duration_seconds(slo.window)
        traffic = f'sum by (service) ({REQUEST_RATE}{{service="{service}"}}) >= {num(slo.min_request_rate)}'
        for sli, objective in slo.objectives().items():
            budget = 1 - objective
            if sli == "availability":
                bad = "failed with 5xx"
                series = f'http_requests_total{{service="{service}"}}'
            else:
                assert slo.latency is not None
                bad = f"took longer than {num(slo.latency.threshold_ms)}ms"
                series = f'http_request_duration_seconds_bucket{{service="{service}",{_le(slo)}}}'
            for alert in slo.burn_rate_alerts:
                page = alert.severity == "page"
                limit = f"{num(alert.burn_rate)} * {num(budget)}"
                long = _selector(slo_error_ratio(alert.long_window), service, sli)
                short = _selector(slo_error_ratio(alert.short_window), service, sli)
                expr = f"(\n  {long} > {limit}\nand on (service, {SLO_LABEL})\n  {short} > {limit}\n)"
                if page:  # a quiet night must not page: see SloConfig.min_request_rate
                    expr += f"\nand on (service)\n  {traffic}"
                alerts.append(
                    AlertSpec(
                        name=burn_alert_name(sli, alert),
                        family=f"slo-{sli}",
                        severity=Severity.CRITICAL if page else Severity.WARNING,
                        notify=PAGE if page else CHAT,
                        for_="0s",
                        expr=expr,
                        summary=f"{svc} is spending its {sli} error budget "
                        + ("fast" if page else "steadily"),
                        description=f"{{{{ $value | humanizePercentage }}}} of the requests to {svc} {bad} "
                        f"over the last {alert.long_window}, and over the last {alert.short_window} too: "
                        f"more than {num(alert.burn_rate)} times the error budget of {num(budget * 100)}% "
                        f"(objective {num(objective * 100)}% over {slo.window}). At this rate the whole "
                        f"budget lasts {_span(window_s / alert.burn_rate)}.",
                        extra_labels=(
                            ("long_window", alert.long_window),
                            ("short_window", alert.short_window),
                        ),
                    )
                )
            alerts.append(
                AlertSpec(
                    name=SLI_ABSENT_ALERT,
                    family="slo-series",
                    severity=Severity.WARNING,
                    notify=CHAT,
                    for_=slo.absent_for,
                    expr=f"absent({series})",
                    summary=f"The {sli} objective of {svc} cannot be measured",
                    description=f"Prometheus has held no {series} for more than {slo.absent_for}: the "
                    f"{sli} error budget and its burn-rate alerts of {svc} are blind.",
                    extra_labels=((SLO_LABEL, sli),),
                )
            )
    return [replace(spec, runbook_url=runbook_link(cfg, spec.name)) for spec in alerts]
