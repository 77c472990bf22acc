"""Every panel of the generated Grafana dashboards shows data from the e2e run's Prometheus.

No Grafana server runs here, so each panel query is sent to Prometheus as
Grafana would send it: a range query over the run, the dashboard variables at
their "All" value, `$__interval` the query step and `$__rate_interval` what
Grafana makes of it with the datasource's `timeInterval` (the scrape interval):
max(`$__interval` + scrape interval, 4 x scrape interval).
"""

import json
import time
import urllib.parse
from typing import Any

import pytest
import yaml

from components.grafana.dashboards import render_dashboards
from components.platform.settings import duration_seconds
from components.platform.slo import SloConfig
from components.prometheus.alerts import AlertsConfig
from infra.mockrun import stack_file_config
from infra.wiring import dashboard_thresholds
from tests.observability.promql import panels, plain_promql
from tests.servers.harness import get_json

from .conftest import CHANNELS_FROM, SLO_SERVICE, E2eSession, faster_slo

pytestmark = pytest.mark.e2e

STEP_S = 5
"""The range queries' step, Grafana's `$__interval` for them."""

NO_DATA_HERE = {
    ("perfstack-redis.json", "Sentinels up"): (
        "the run's Redis is standalone (the staging stack's mode): there is no Sentinel to scrape; "
        "the Sentinel panels are checked against a real Sentinel set in tests/ha"
    ),
}
"""Panels that cannot have data in this setup, and why."""


def _panel_ids() -> list[tuple[str, str]]:
    # The queries and titles do not depend on the stack (only the thresholds do), but for the SLO
    # dashboard's: those name the run's objectives and windows (conftest.stack_overrides).
    slo = stack_file_config(CHANNELS_FROM)["services"][SLO_SERVICE]["slo"]
    slos = ((SLO_SERVICE, SloConfig.model_validate(faster_slo(slo))),)
    dashboards = render_dashboards(dashboard_thresholds(AlertsConfig()), slos)
    return [
        (file, panel["title"])
        for file, text in dashboards.items()
        for panel in panels(json.loads(text))
        if panel.get("targets")
    ]


PANELS = _panel_ids()


def _panel(e2e: E2eSession, file: str, title: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The panel as the run deploys it, and the values of its dashboard's variables."""
    dashboard = json.loads(e2e.files[f"grafana/{file}"])
    (panel,) = [p for p in panels(dashboard) if p.get("title") == title]
    datasources = yaml.safe_load(e2e.files["grafana/datasources-perfstack.yaml"])["datasources"]
    (prometheus,) = [d for d in datasources if d["type"] == "prometheus"]
    scrape = duration_seconds(prometheus["jsonData"]["timeInterval"])
    variables = {v["name"]: v["allValue"] for v in dashboard.get("templating", {}).get("list", [])}
    variables |= {
        "__interval": f"{STEP_S}s",
        "__rate_interval": f"{max(STEP_S + scrape, 4 * scrape):g}s",
    }
    return panel, variables


def _range_query(e2e: E2eSession, promql: str) -> list[dict[str, Any]]:
    params = {"query": promql, "start": e2e.started_at, "end": time.time(), "step": STEP_S}
    url = f"{e2e.stack.prometheus_url}/api/v1/query_range?{urllib.parse.urlencode(params)}"
    return list(get_json(url)["data"]["result"])


# The panels show what the alert run's faults produce (5xx, latency, quality), not only the baseline.
@pytest.mark.usefixtures("alert_run")
@pytest.mark.parametrize(("file", "title"), PANELS, ids=[f"{f}:{t}" for f, t in PANELS])
def test_every_query_of_the_panel_returns_data(e2e: E2eSession, file: str, title: str) -> None:
    if (file, title) in NO_DATA_HERE:
        pytest.skip(NO_DATA_HERE[(file, title)])
    panel, variables = _panel(e2e, file, title)
    empty = []
    for target in panel["targets"]:
        promql = plain_promql(target["expr"], variables)
        if not any(series["values"] for series in _range_query(e2e, promql)):
            empty.append(promql)
    assert empty == [], f"{file} / {title}: no data for {empty}"


def test_panels_without_data_here_are_panels_of_the_dashboards() -> None:
    # A renamed panel must not keep an excuse it no longer needs.
    assert set(NO_DATA_HERE) <= set(PANELS)
