"""Grafana provisioning and dashboards: fixed uids, thresholds from the alert catalog, no anonymous access."""

import json
from typing import Any

import yaml

from components.grafana.dashboards import (
    CANARY_FILE,
    CANARY_UID,
    OVERVIEW_FILE,
    OVERVIEW_UID,
    REDIS_FILE,
    REDIS_UID,
    render_dashboards,
)
from components.grafana.provisioning import (
    ADMIN_PASSWORD_FILE,
    DASHBOARDS_DIR,
    PROMETHEUS_UID,
    grafana_environment,
    render_dashboard_provider,
    render_datasources,
)
from components.prometheus.alerts import AlertsConfig
from infra.wiring import dashboard_thresholds

from .promql import dashboard_exprs, panels


def dashboards(cfg: AlertsConfig | None = None) -> dict[str, dict[str, Any]]:
    return {
        name: json.loads(text)
        for name, text in render_dashboards(dashboard_thresholds(cfg or AlertsConfig())).items()
    }


def panel(dashboard: dict[str, Any], title: str) -> dict[str, Any]:
    (found,) = [p for p in panels(dashboard) if p.get("title") == title]
    return found


def steps(p: dict[str, Any]) -> list[tuple[float | None, str]]:
    return [(s["value"], s["color"]) for s in p["fieldConfig"]["defaults"]["thresholds"]["steps"]]


def test_dashboards_have_fixed_file_names_uids_and_titles() -> None:
    found = {name: (d["uid"], d["title"]) for name, d in dashboards().items()}
    assert found == {
        OVERVIEW_FILE: (OVERVIEW_UID, "Performance overview"),
        CANARY_FILE: (CANARY_UID, "Canary vs stable"),
        REDIS_FILE: (REDIS_UID, "Redis"),
    }


def test_rendering_is_deterministic() -> None:
    assert render_dashboards(dashboard_thresholds(AlertsConfig())) == render_dashboards(
        dashboard_thresholds(AlertsConfig())
    )


def test_latency_panel_is_yellow_above_target_and_red_above_warning_threshold() -> None:
    cfg = AlertsConfig(dashboard_p95_target_ms=1200, p95_warning_ms=1800)
    latency = panel(dashboards(cfg)[OVERVIEW_FILE], "Latency P95 / P50")
    assert steps(latency) == [(None, "green"), (1.2, "yellow"), (1.8, "red")]


def test_default_thresholds_are_the_documented_ones() -> None:
    overview = dashboards()[OVERVIEW_FILE]
    assert steps(panel(overview, "Latency P95 / P50")) == [(None, "green"), (1.5, "yellow"), (2.0, "red")]
    assert steps(panel(overview, "Quality score")) == [(None, "red"), (0.75, "yellow"), (0.8, "green")]
    assert steps(panel(overview, "Cache hit rate")) == [(None, "red"), (0.2, "yellow"), (0.25, "green")]


def test_token_panel_turns_red_at_the_token_alert_limit() -> None:
    cfg = AlertsConfig(token_baseline_per_request=100, token_increase_factor=1.5)
    tokens = panel(dashboards(cfg)[OVERVIEW_FILE], "LLM tokens per request")
    assert steps(tokens) == [(None, "green"), (100, "yellow"), (150, "red")]


def test_canary_dashboard_plots_each_signal_for_both_tracks() -> None:
    canary = dashboards()[CANARY_FILE]
    for p in panels(canary):
        exprs = [t["expr"] for t in p.get("targets", [])]
        assert [e for e in exprs if 'track="stable"' in e] and [e for e in exprs if 'track="canary"' in e], p[
            "title"
        ]


def test_redis_dashboard_shows_persistence_status_and_memory_against_maxmemory() -> None:
    exprs = " ".join(dashboard_exprs(render_dashboards(dashboard_thresholds(AlertsConfig()))[REDIS_FILE]))
    for metric in ("redis_aof_last_write_status", "redis_rdb_last_bgsave_status", "redis_memory_max_bytes"):
        assert metric in exprs


def test_every_query_uses_the_provisioned_prometheus_datasource() -> None:
    provisioned = yaml.safe_load(render_datasources("http://p:9090", "http://j:16686"))["datasources"]
    used = {
        (t["datasource"]["type"], t["datasource"]["uid"])
        for d in dashboards().values()
        for p in panels(d)
        for t in p.get("targets", [])
    }
    assert used == {("prometheus", PROMETHEUS_UID)}
    assert PROMETHEUS_UID in {d["uid"] for d in provisioned}


def test_datasources_have_fixed_uids_and_the_given_urls() -> None:
    document = yaml.safe_load(render_datasources("http://prometheus:9090", "http://jaeger:16686"))
    found = {d["uid"]: (d["type"], d["url"]) for d in document["datasources"]}
    assert found == {
        "prometheus": ("prometheus", "http://prometheus:9090"),
        "jaeger": ("jaeger", "http://jaeger:16686"),
    }


def test_dashboard_provider_loads_the_dashboards_dir_into_the_perfstack_folder() -> None:
    (provider,) = yaml.safe_load(render_dashboard_provider())["providers"]
    assert (provider["folder"], provider["options"]["path"]) == ("perfstack", DASHBOARDS_DIR)
    assert DASHBOARDS_DIR == "/var/lib/grafana/dashboards"


def test_grafana_disables_anonymous_access_and_reads_admin_password_from_file() -> None:
    env = grafana_environment()
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"] == ADMIN_PASSWORD_FILE
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env
