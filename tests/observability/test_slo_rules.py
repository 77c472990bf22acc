"""The SLO rules in promtool: each burn-rate window pair fires just above its rate and not just below.

Each boundary test renders the rule file of a service whose SLO has only the
pair under test, so that the alerts of the other pairs (which a constant error
ratio would also raise) cannot hide or stand in for it. The error ratio is
constant over the whole long window: `past()` puts it 2 % above or below
burn rate x budget.
"""

from pathlib import Path
from typing import Any

import pytest
import yaml

from components.platform.settings import duration_seconds
from components.platform.slo import BurnRateAlert, Sli, SloConfig
from components.platform.telemetry import SLO_BUDGET_REMAINING, num
from components.prometheus.alerts import AlertsConfig, AlertSpec, MonitoredDeployment
from components.prometheus.rules import RULES_FILE_NAME, render_rules
from components.prometheus.slo import (
    SLI_ABSENT_ALERT,
    SLO_BUDGET_GROUP,
    burn_alert_name,
    slo_alerts,
)

from .alert_scenarios import counter, past, render_template, selector, unit_test_file
from .tools import assert_ok, run_tool

SERVICE = {"service": "api"}
STABLE = {"service": "api", "track": "stable", "route": "/chat"}
WORKBOOK = SloConfig().burn_rate_alerts
PAIRS = [(sli, alert) for sli in ("availability", "latency") for alert in WORKBOOK]
IDS = [f"{sli}-{a.long_window}/{a.short_window}x{num(a.burn_rate)}" for sli, a in PAIRS]
BUSY_PER_MINUTE = 600.0
"""10 requests per second: far above the page alerts' minimum request rate."""


def slo_with(alerts: list[BurnRateAlert], **overrides: Any) -> SloConfig:
    return SloConfig.model_validate(
        {"burnRateAlerts": [a.model_dump(by_alias=True) for a in alerts], **overrides}
    )


def rules_for(directory: Path, slo: SloConfig) -> list[AlertSpec]:
    deployment = MonitoredDeployment(tracks=(("api", "stable"),), slos=(("api", slo),))
    (directory / RULES_FILE_NAME).write_text(render_rules(AlertsConfig(), deployment))
    return slo_alerts(AlertsConfig(), deployment.slos)


def traffic(sli: Sli, bad_ratio: float, step_minutes: float, steps: int, per_minute: float) -> list:
    """One track's requests, `bad_ratio` of them failing (availability) or slower than 1.5 s (latency)."""
    per_step = per_minute * step_minutes
    good, bad = per_step * (1 - bad_ratio), per_step * bad_ratio
    if sli == "availability":
        return [
            (selector("http_requests_total", {**STABLE, "code": "200"}), counter(good, steps)),
            (selector("http_requests_total", {**STABLE, "code": "500"}), counter(bad, steps)),
        ]
    return [
        (selector("http_request_duration_seconds_bucket", {**STABLE, "le": "1.5"}), counter(good, steps)),
        (
            selector("http_request_duration_seconds_bucket", {**STABLE, "le": "+Inf"}),
            counter(per_step, steps),
        ),
        (selector("http_request_duration_seconds_count", STABLE), counter(per_step, steps)),
        # The availability SLI's requests, all fine: only latency is under test.
        (selector("http_requests_total", {**STABLE, "code": "200"}), counter(per_step, steps)),
    ]


def run_promtool(directory: Path, name: str, evaluation: str, tests: list[dict[str, Any]]) -> None:
    test_file = directory / f"{name}.test.yml"
    test_file.write_text(unit_test_file(RULES_FILE_NAME, tests, evaluation))
    assert_ok(run_tool("promtool", "test", "rules", str(test_file)))


def expected(spec: AlertSpec, sli: Sli, value: float) -> dict[str, Any]:
    labels = {**SERVICE, "slo": sli}
    return {
        "exp_labels": {**labels, **spec.labels},
        "exp_annotations": {k: render_template(t, labels, value) for k, t in spec.annotations.items()},
    }


def step_of(alert: BurnRateAlert) -> float:
    """Input step (minutes): 1m where a page reads the 5m request rate, else a fifth of the short window."""
    return 1 if alert.severity == "page" else duration_seconds(alert.short_window) / 60 / 5


def test_default_slo_is_the_workbook_table() -> None:
    table = [(a.long_window, a.short_window, a.burn_rate, a.severity) for a in WORKBOOK]
    assert table == [
        ("1h", "5m", 14.4, "page"),
        ("6h", "30m", 6.0, "page"),
        ("1d", "2h", 3.0, "ticket"),
        ("3d", "6h", 1.0, "ticket"),
    ]


@pytest.mark.parametrize("side", ["firing", "quiet"])
@pytest.mark.parametrize(("sli", "alert"), PAIRS, ids=IDS)
def test_burn_rate_alert_fires_just_above_its_rate_and_not_just_below(
    tmp_path: Path, sli: Sli, alert: BurnRateAlert, side: str
) -> None:
    slo = slo_with([alert])
    objective = slo.objectives()[sli]
    (spec,) = [s for s in rules_for(tmp_path, slo) if s.name == burn_alert_name(sli, alert)]
    ratio = past(alert.burn_rate * (1 - objective), True, side)  # type: ignore[arg-type]
    step = step_of(alert)
    # Both windows full, plus a step: rate() sees the constant ratio over each.
    minutes = (duration_seconds(alert.long_window) + duration_seconds(alert.short_window)) / 60
    steps = int(minutes / step)
    group = {
        "interval": f"{num(step)}m",
        "input_series": [
            {"series": s, "values": v} for s, v in traffic(sli, ratio, step, steps, BUSY_PER_MINUTE)
        ],
        "alert_rule_test": [
            {
                "alertname": spec.name,
                "eval_time": f"{num(steps * step)}m",
                "exp_alerts": [expected(spec, sli, ratio)] if side == "firing" else [],
            }
        ],
    }
    run_promtool(tmp_path, "boundary", f"{num(step)}m", [group])


def page_pair_test(tmp_path: Path, series: list, eval_minute: int, alerts: list[dict[str, Any]]) -> None:
    (fast, _, _, _) = WORKBOOK
    specs = rules_for(tmp_path, slo_with([fast]))
    group = {
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in series],
        "alert_rule_test": [
            {
                "alertname": burn_alert_name("availability", fast),
                "eval_time": f"{eval_minute}m",
                "exp_alerts": alerts,
            }
        ],
    }
    assert specs
    run_promtool(tmp_path, "page", "1m", [group])


def phases(*parts: tuple[int, float]) -> list:
    """Availability counters through phases of (minutes, 5xx ratio) at the busy rate."""
    ok, failed, total_ok, total_failed = [], [], 0.0, 0.0
    for minutes, ratio in parts:
        for _ in range(minutes):
            ok.append(total_ok)
            failed.append(total_failed)
            total_ok += BUSY_PER_MINUTE * (1 - ratio)
            total_failed += BUSY_PER_MINUTE * ratio
    ok.append(total_ok)
    failed.append(total_failed)
    return [
        (selector("http_requests_total", {**STABLE, "code": "200"}), " ".join(num(v) for v in ok)),
        (selector("http_requests_total", {**STABLE, "code": "500"}), " ".join(num(v) for v in failed)),
    ]


def test_page_resolves_once_the_short_window_is_clean_although_the_long_one_still_burns(
    tmp_path: Path,
) -> None:
    # 10 % errors for an hour, then 10 clean minutes: the 1h ratio is still 8 %, 5.6 x the page's line.
    page_pair_test(tmp_path, phases((60, 0.10), (10, 0.0)), 70, [])


def test_page_waits_for_the_long_window_while_a_burst_is_short(tmp_path: Path) -> None:
    # 20 % errors for 2 minutes after a clean hour: the 5m ratio is 8 %, the 1h one 0.7 % (< 1.44 %).
    page_pair_test(tmp_path, phases((60, 0.0), (2, 0.20)), 62, [])


def test_page_needs_the_minimum_request_rate(tmp_path: Path) -> None:
    # Half the requests fail, but only 3 a minute arrive (0.05/s < minRequestRate 0.1): a quiet night.
    (fast, _, _, _) = WORKBOOK
    rules_for(tmp_path, slo_with([fast]))
    quiet = traffic("availability", 0.5, 1, 70, per_minute=3)
    group = {
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in quiet],
        "alert_rule_test": [
            {"alertname": burn_alert_name("availability", fast), "eval_time": "70m", "exp_alerts": []}
        ],
    }
    run_promtool(tmp_path, "quiet", "1m", [group])


def test_remaining_budget_is_one_minus_the_windows_error_ratio_over_the_budget(tmp_path: Path) -> None:
    # A one-day SLO (the page pairs fit it) with half its 0.1 % budget failing, all day.
    (fast, slow, _, _) = WORKBOOK
    rules_for(tmp_path, slo_with([fast, slow], window="1d", latency=None))
    group = {
        "interval": "5m",
        "input_series": [
            {"series": s, "values": v} for s, v in traffic("availability", 0.0005, 5, 300, BUSY_PER_MINUTE)
        ],
        "promql_expr_test": [
            {
                "expr": SLO_BUDGET_REMAINING,
                "eval_time": "1440m",
                "exp_samples": [
                    {"labels": f'{SLO_BUDGET_REMAINING}{{service="api",slo="availability"}}', "value": 0.5}
                ],
            }
        ],
    }
    run_promtool(tmp_path, "budget", "5m", [group])


@pytest.mark.parametrize("sli", ["availability", "latency"])
def test_missing_series_raise_slo_series_absent_after_absent_for(tmp_path: Path, sli: Sli) -> None:
    specs = rules_for(tmp_path, SloConfig())
    (spec,) = [s for s in specs if s.name == SLI_ABSENT_ALERT and dict(s.extra_labels)["slo"] == sli]
    # Latency: the app counts requests, but its histogram has no bucket at 1.5 s. Availability: the
    # histogram is there, http_requests_total is not.
    if sli == "latency":
        series = [
            (selector("http_request_duration_seconds_bucket", {**STABLE, "le": "2.0"}), counter(600, 30)),
            (selector("http_requests_total", {**STABLE, "code": "200"}), counter(600, 30)),
        ]
    else:
        series = [
            (selector("http_request_duration_seconds_bucket", {**STABLE, "le": "1.5"}), counter(600, 30))
        ]
    data = {"service": "api", **({"le": "1.5"} if sli == "latency" else {})}
    fired = {
        "exp_labels": {**data, **spec.labels},
        "exp_annotations": {k: render_template(t, data, 1) for k, t in spec.annotations.items()},
    }
    group = {
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in series],
        "alert_rule_test": [
            {"alertname": SLI_ABSENT_ALERT, "eval_time": "14m", "exp_alerts": []},
            {"alertname": SLI_ABSENT_ALERT, "eval_time": "16m", "exp_alerts": [fired]},
        ],
    }
    run_promtool(tmp_path, "absent", "1m", [group])


def test_slo_series_absent_stays_quiet_while_both_indicators_report(tmp_path: Path) -> None:
    rules_for(tmp_path, SloConfig())
    group = {
        "interval": "1m",
        "input_series": [
            {"series": s, "values": v} for s, v in traffic("latency", 0.0, 1, 30, BUSY_PER_MINUTE)
        ],
        "alert_rule_test": [{"alertname": SLI_ABSENT_ALERT, "eval_time": "30m", "exp_alerts": []}],
    }
    run_promtool(tmp_path, "present", "1m", [group])


@pytest.mark.parametrize(("window", "interval"), [("30d", "5m"), ("7d", "70s"), ("12h", "5s")])
def test_budget_group_runs_8640_times_per_slo_window(window: str, interval: str) -> None:
    slo = slo_with([WORKBOOK[0]], window=window)
    groups = yaml.safe_load(
        render_rules(AlertsConfig(), MonitoredDeployment(tracks=(("api", "stable"),), slos=(("api", slo),)))
    )["groups"]
    assert {g["name"]: g.get("interval") for g in groups}[SLO_BUDGET_GROUP] == interval
