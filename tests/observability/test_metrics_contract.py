"""Rules and dashboards read only metrics the app and exporters expose, or that rules record."""

from pathlib import Path

import yaml

from components.grafana.dashboards import render_dashboards
from components.prometheus.alerts import AlertsConfig
from components.prometheus.rules import RECORDING_RULES, render_rules
from infra.wiring import dashboard_thresholds

from .promql import METRICS_CONTRACT, as_plain_promql, dashboard_exprs, metric_names
from .tools import assert_ok, run_tool

RECORDED = {name for name, _ in RECORDING_RULES}


def rule_exprs() -> list[str]:
    groups = yaml.safe_load(render_rules(AlertsConfig()))["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def all_dashboard_exprs() -> list[str]:
    return [
        expr
        for text in render_dashboards(dashboard_thresholds(AlertsConfig())).values()
        for expr in dashboard_exprs(text)
    ]


def test_metric_names_sees_through_matchers_ranges_grouping_and_functions() -> None:
    expr = (
        'sum by (service, le) (rate(http_requests_total{code=~"5.."}[5m])) / on (service) group_left () '
        "(up > 0 and bool_metric) + 1e3"
    )
    assert metric_names(expr) == {"http_requests_total", "up", "bool_metric"}


def test_rules_read_only_contract_metrics_or_recorded_series() -> None:
    used = set().union(*(metric_names(e) for e in rule_exprs()))
    assert used, "no metric found: the extractor is broken"
    assert used - METRICS_CONTRACT - RECORDED == set()


def test_dashboards_read_only_contract_metrics_or_recorded_series() -> None:
    used = set().union(*(metric_names(e) for e in all_dashboard_exprs()))
    assert used, "no metric found: the extractor is broken"
    assert used - METRICS_CONTRACT - RECORDED == set()


def test_every_dashboard_expression_parses_as_promql(tmp_path: Path) -> None:
    # promtool has no bare "parse this expression": each one becomes a recording rule.
    rules = [
        {"record": f"dashboard:expr:{i}", "expr": as_plain_promql(e)}
        for i, e in enumerate(all_dashboard_exprs())
    ]
    path = tmp_path / "dashboard-exprs.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = run_tool("promtool", "check", "rules", str(path))
    assert_ok(result)
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout
