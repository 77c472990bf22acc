"""Prometheus scrapes the e2e run's processes with the generated config: labels as generated, all up."""

from typing import Any
from urllib.parse import quote

import pytest
import yaml

from tests.observability.promql import metric_names
from tests.servers.harness import get_json

from .conftest import E2eSession

pytestmark = pytest.mark.e2e

NOT_RUNNING_HERE = {"grafana": "no Grafana server runs here (none is packaged for this machine)"}
"""Scrape jobs whose target has no process in the e2e run, and why."""


def _active_targets(e2e: E2eSession) -> list[dict[str, Any]]:
    return list(get_json(f"{e2e.stack.prometheus_url}/api/v1/targets?state=active")["data"]["activeTargets"])


def _generated_labels(e2e: E2eSession) -> list[tuple[str, dict[str, str]]]:
    """(job, static labels) of every generated static config, without the `__` meta labels."""
    config = yaml.safe_load(e2e.files["prometheus/prometheus.yml"])
    return [
        (job["job_name"], {k: v for k, v in static.get("labels", {}).items() if not k.startswith("__")})
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
    ]


def test_every_target_carries_the_service_and_track_labels_the_generated_config_gives_it(
    e2e: E2eSession,
) -> None:
    found = sorted(
        (t["labels"]["job"], t["labels"].get("service", ""), t["labels"].get("track", ""))
        for t in _active_targets(e2e)
    )
    expected = sorted(
        (job, labels.get("service", ""), labels.get("track", "")) for job, labels in _generated_labels(e2e)
    )
    assert found == expected


def test_app_targets_are_told_apart_by_track(e2e: E2eSession) -> None:
    tracks = sorted(t["labels"].get("track", "") for t in _active_targets(e2e) if t["labels"]["job"] == "app")
    assert tracks == ["canary", "stable"]


def test_every_target_with_a_process_here_is_up(e2e: E2eSession) -> None:
    down = [
        (t["labels"]["job"], t["scrapeUrl"], t["lastError"])
        for t in _active_targets(e2e)
        if t["health"] != "up" and t["labels"]["job"] not in NOT_RUNNING_HERE
    ]
    assert down == []


ONLY_ELSEWHERE = {
    "redis_master_link_up": "reported by replicas only: the run's Redis is a standalone master",
}
"""Redis series the rules read that a standalone node does not have, and why."""


def test_the_redis_series_the_rules_read_are_the_exporters_own_names(e2e: E2eSession) -> None:
    # A misspelt metric would leave its alert silent for ever: each name must exist for the data node.
    rules = yaml.safe_load(e2e.files["prometheus/perfstack-rules.yml"])["groups"]
    read = {
        name
        for group in rules
        for rule in group["rules"]
        for name in metric_names(rule["expr"])
        if name.startswith("redis_") and not name.startswith("redis_sentinel_")
    }
    query = '{__name__=~"redis_.+",redis_kind="data"}'
    result = get_json(f"{e2e.stack.prometheus_url}/api/v1/series?match[]={quote(query)}")["data"]
    exported = {series["__name__"] for series in result}
    assert read - exported == set(ONLY_ELSEWHERE)
