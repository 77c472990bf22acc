"""Grafana 12 provisioning and dashboards, checked by structure (no Grafana server can run here).

Fixed uids valid for Grafana 12, every datasource reference provisioned, React panels only,
every query valid PromQL for the pinned promtool, thresholds from the alert catalog, the JSON
exactly what the foundation SDK's own models read and write, no anonymous access. The SLO
dashboard: only with a service's objectives, reading only series the SLO rules record, its lines
those of the objectives and their burn-rate alerts.
"""

import json
import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from components.grafana.dashboards import (
    CANARY_FILE,
    CANARY_UID,
    OVERVIEW_FILE,
    OVERVIEW_UID,
    REDIS_FILE,
    REDIS_UID,
    SLO_FILE,
    SLO_UID,
    ServiceSlos,
    render_dashboards,
)
from components.grafana.provisioning import (
    ADMIN_PASSWORD_FILE,
    DASHBOARDS_DIR,
    check_uid,
    grafana_environment,
    render_datasources,
)
from components.platform.slo import SloConfig
from components.platform.telemetry import SLO_LABEL
from components.prometheus.alerts import AlertsConfig, MonitoredDeployment
from components.prometheus.rules import RULES_FILE_NAME, render_rules
from infra.mockrun import ProgramRun
from infra.render import config_files
from infra.wiring import dashboard_thresholds
from tests.conftest import run_stack

from .alert_scenarios import counter, selector, unit_test_file
from .promql import dashboard_exprs, metric_names, panels, plain_promql
from .tools import assert_ok, run_tool

GRAFANA_12_UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
"""Grafana 12's rule for datasource and dashboard uids (`failWrongDSUID` enforces it for datasources)."""

REACT_PANELS = frozenset(
    {"timeseries", "stat", "gauge", "bargauge", "table", "text", "row", "barchart", "piechart", "heatmap",
     "histogram", "state-timeline", "status-history", "logs", "traces", "nodeGraph", "dashlist", "alertlist",
     "annolist", "news", "xychart", "trend", "candlestick", "geomap", "canvas", "flamegraph", "datagrid"}
)  # fmt: skip
"""Core panels of Grafana 12; its Angular panels (`graph`, `singlestat`, `table-old`, ...) are gone."""

BUILTIN_VARIABLES = {"__rate_interval": "1m", "__interval": "15s", "__range": "6h"}
"""Grafana's own query variables, with values such as Grafana would put in."""
_LABEL_VALUES = re.compile(r"^label_values\((.+),\s*\w+\)$")

DISTINCT_CATALOG = AlertsConfig(
    dashboard_p95_target_ms=1234,
    p95_warning_ms=1777,
    error_rate_warning=0.031,
    error_rate_critical=0.067,
    token_baseline_per_request=71,
    token_increase_factor=1.3,
    dashboard_quality_target=0.83,
    quality_critical=0.71,
    dashboard_cache_hit_target=0.29,
    cache_hit_rate_low=0.17,
)
"""A catalog whose every dashboard line differs from the defaults and from each other."""

SEARCH_SLO = SloConfig.model_validate(
    {
        "window": "7d",
        "availability": None,
        "latency": {"objective": 0.99, "thresholdMs": 500},
        "burnRateAlerts": [
            {"longWindow": "2h", "shortWindow": "10m", "burnRate": 10.0, "severity": "page"},
            {"longWindow": "1d", "shortWindow": "2h", "burnRate": 2.0, "severity": "ticket"},
            {"longWindow": "3d", "shortWindow": "6h", "burnRate": 2.0, "severity": "page"},
        ],
    }
)
"""Latency only, over a week, with alerts of its own (two at one burn rate, a ticket and a page)."""
SLOS: ServiceSlos = (("api", SloConfig()), ("search", SEARCH_SLO))
"""Two services: api with the default objectives and the workbook's alerts, and search."""


def dashboards(cfg: AlertsConfig | None = None, slos: ServiceSlos = ()) -> dict[str, dict[str, Any]]:
    return {
        name: json.loads(text)
        for name, text in render_dashboards(dashboard_thresholds(cfg or AlertsConfig()), slos).items()
    }


def slo_dashboard(slos: ServiceSlos = SLOS) -> dict[str, Any]:
    return dashboards(slos=slos)[SLO_FILE]


def slo_exprs(slos: ServiceSlos = SLOS) -> list[str]:
    return dashboard_exprs(render_dashboards(dashboard_thresholds(AlertsConfig()), slos)[SLO_FILE])


def deployed_dashboards(run: ProgramRun) -> dict[str, str]:
    """The dashboard JSON files the stack deploys, {file name: text}."""
    return {
        key.split("/", 1)[1]: text
        for key, text in config_files(run).items()
        if key.startswith("grafana/") and key.endswith(".json")
    }


def deployed_datasources(run: ProgramRun) -> list[dict[str, Any]]:
    return list(yaml.safe_load(config_files(run)["grafana/datasources-perfstack.yaml"])["datasources"])


def deployed_paths(run: ProgramRun) -> list[str]:
    """Where the Grafana workload's files land in its container (Docker uploads or Kubernetes mounts)."""
    for resource in run.resources:
        if resource.name != "grafana":
            continue
        if resource.type == "docker:index/container:Container":
            return [upload["file"] for upload in resource.inputs["uploads"]]
        if resource.type == "kubernetes:apps/v1:Deployment":
            (container,) = resource.inputs["spec"]["template"]["spec"]["containers"]
            return [mount["mountPath"] for mount in container["volumeMounts"] if "subPath" in mount]
    raise AssertionError("no grafana workload")


def panel(dashboard: dict[str, Any], title: str) -> dict[str, Any]:
    (found,) = [p for p in panels(dashboard) if p.get("title") == title]
    return found


def steps(p: dict[str, Any]) -> list[tuple[float | None, str]]:
    return [(s["value"], s["color"]) for s in p["fieldConfig"]["defaults"]["thresholds"]["steps"]]


def datasource_refs(node: Any) -> list[Any]:
    """Every `datasource` value anywhere in a dashboard: panels, targets, variables, annotations."""
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k == "datasource"]
        return found + [ref for v in node.values() for ref in datasource_refs(v)]
    if isinstance(node, list):
        return [ref for item in node for ref in datasource_refs(item)]
    return []


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


def test_dashboard_json_is_exactly_what_the_sdk_models_read_and_write() -> None:
    # Decoding into the SDK's typed models and encoding again loses any field the SDK's Grafana
    # schema does not know and changes any value of the wrong type: the JSON must survive intact.
    # (Imported here: components.grafana.dashboards imports the SDK with its v2-schema hint silenced.)
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard as DashboardModel

    register_default_plugins()
    for name, text in render_dashboards(dashboard_thresholds(AlertsConfig()), SLOS).items():
        again = JSONEncoder(sort_keys=True, indent=2).encode(DashboardModel.from_json(json.loads(text)))
        assert again + "\n" == text, name


def test_dashboards_keep_the_schema_version_the_sdk_emits() -> None:
    from grafana_foundation_sdk.models.dashboard import Dashboard as DashboardModel

    emitted = DashboardModel().schema_version
    assert {name: d["schemaVersion"] for name, d in dashboards(slos=SLOS).items()} == dict.fromkeys(
        dashboards(slos=SLOS), emitted
    )


def test_deployed_dashboard_uids_are_unique_and_valid_for_grafana_12(stack_run: ProgramRun) -> None:
    uids = [json.loads(text)["uid"] for text in deployed_dashboards(stack_run).values()]
    assert len(uids) >= 3 and len(set(uids)) == len(uids), uids
    assert [uid for uid in uids if not GRAFANA_12_UID.match(uid)] == []


def test_provisioned_datasource_uids_are_unique_and_valid_for_grafana_12(stack_run: ProgramRun) -> None:
    uids = [d["uid"] for d in deployed_datasources(stack_run)]
    assert len(set(uids)) == len(uids), uids
    assert [uid for uid in uids if not GRAFANA_12_UID.match(uid)] == []


@pytest.mark.parametrize("uid", ["", "a" * 41, "prom.main", "prom main", "prometheus/1"])
def test_uid_check_refuses_what_grafana_12_refuses(uid: str) -> None:
    with pytest.raises(ValueError, match="uid"):
        check_uid(uid, "datasource")


def test_every_datasource_reference_names_a_provisioned_datasource_of_its_type(stack_run: ProgramRun) -> None:
    provisioned = {(d["type"], d["uid"]) for d in deployed_datasources(stack_run)}
    for name, text in deployed_dashboards(stack_run).items():
        refs = datasource_refs(json.loads(text))
        assert refs, f"{name} refers to no datasource: the walk is broken"
        # A bare string is a datasource *name*, which Grafana 12 resolves only by luck.
        assert [r for r in refs if not isinstance(r, dict) or (r["type"], r["uid"]) not in provisioned] == []


def test_exemplar_trace_links_point_at_a_provisioned_datasource(stack_run: ProgramRun) -> None:
    datasources = deployed_datasources(stack_run)
    uids = {d["uid"] for d in datasources}
    links = [
        link["datasourceUid"]
        for d in datasources
        for link in (d.get("jsonData") or {}).get("exemplarTraceIdDestinations", [])
    ]
    assert links and set(links) <= uids


def test_panels_are_react_panels_grafana_12_ships(stack_run: ProgramRun) -> None:
    types = {p["type"] for text in deployed_dashboards(stack_run).values() for p in panels(json.loads(text))}
    assert types - REACT_PANELS == set()


def test_panel_ids_are_unique_within_each_dashboard() -> None:
    for name, dashboard in dashboards(slos=SLOS).items():
        ids = [p["id"] for p in panels(dashboard)]
        assert len(set(ids)) == len(ids), name


def test_every_query_parses_with_promtool_once_grafana_variables_are_substituted(
    stack_run: ProgramRun, tmp_path: Path
) -> None:
    exprs: list[str] = []
    for text in deployed_dashboards(stack_run).values():
        defined = json.loads(text).get("templating", {}).get("list", [])
        for variable in defined:
            match = _LABEL_VALUES.match(variable["query"])
            assert match, f"variable {variable['name']}: {variable['query']!r} is not label_values(...)"
            exprs.append(match.group(1))
        # A variable reaches PromQL as its allValue ("All") or, multi-valued, as a regex alternation.
        for choice in ("all", "multi"):
            variables = BUILTIN_VARIABLES | {
                v["name"]: v["allValue"] if choice == "all" else "(api|worker)" for v in defined
            }
            exprs.extend(plain_promql(e, variables) for e in dashboard_exprs(text))
    assert_promtool_parses(exprs, tmp_path)


def assert_promtool_parses(exprs: list[str], directory: Path) -> None:
    """Every expression is valid PromQL for the pinned promtool."""
    # promtool has no bare "parse this expression": each one becomes a recording rule.
    rules = [{"record": f"dashboard:query:{i}", "expr": e} for i, e in enumerate(exprs)]
    path = directory / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = run_tool("promtool", "check", "rules", str(path))
    assert_ok(result)
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


@pytest.mark.parametrize("cfg", [AlertsConfig(), DISTINCT_CATALOG], ids=["defaults", "distinct"])
def test_every_panel_threshold_is_a_line_of_the_alert_catalog(cfg: AlertsConfig) -> None:
    catalog = set(vars(dashboard_thresholds(cfg)).values())
    stray = []
    for name, dashboard in dashboards(cfg).items():
        for p in panels(dashboard):
            defaults = p.get("fieldConfig", {}).get("defaults", {})
            lines = {
                s["value"] for s in defaults.get("thresholds", {}).get("steps", []) if s["value"] is not None
            }
            # Status panels (UP/DOWN, OK/FAILED value mappings) switch at 1, not at a catalog line.
            allowed = {1} if defaults.get("mappings") else catalog
            stray += [(name, p["title"], v) for v in lines - allowed]
    assert stray == []


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


def test_every_query_uses_the_provisioned_prometheus_datasource(stack_run: ProgramRun) -> None:
    used = {
        (t["datasource"]["type"], t["datasource"]["uid"])
        for text in deployed_dashboards(stack_run).values()
        for p in panels(json.loads(text))
        for t in p.get("targets", [])
    }
    prometheus = {(d["type"], d["uid"]) for d in deployed_datasources(stack_run) if d["type"] == "prometheus"}
    assert used == prometheus and len(prometheus) == 1


def test_datasources_have_fixed_uids_and_the_given_urls() -> None:
    document = yaml.safe_load(render_datasources("http://prometheus:9090", "http://jaeger:16686"))
    found = {d["uid"]: (d["type"], d["url"]) for d in document["datasources"]}
    assert found == {
        "prometheus": ("prometheus", "http://prometheus:9090"),
        "jaeger": ("jaeger", "http://jaeger:16686"),
    }


def test_prometheus_datasource_time_interval_is_the_scrape_interval() -> None:
    run = run_stack("staging", overrides={"prometheus.scrapeInterval": "5s", "alerts.rateWindow": "1m"})
    (prometheus,) = [d for d in deployed_datasources(run) if d["type"] == "prometheus"]
    assert prometheus["jsonData"]["timeInterval"] == "5s"


def test_prometheus_datasource_time_interval_defaults_to_prometheus_default(stack_run: ProgramRun) -> None:
    (prometheus,) = [d for d in deployed_datasources(stack_run) if d["type"] == "prometheus"]
    assert prometheus["jsonData"]["timeInterval"] == "15s"


def test_provisioning_files_are_where_grafana_reads_them(stack_run: ProgramRun) -> None:
    root = PurePosixPath(grafana_environment()["GF_PATHS_PROVISIONING"])
    yaml_dirs = {PurePosixPath(p).parent for p in deployed_paths(stack_run) if p.endswith(".yaml")}
    assert yaml_dirs == {root / "datasources", root / "dashboards"}


def test_dashboard_provider_reads_the_directory_the_dashboards_are_deployed_to(stack_run: ProgramRun) -> None:
    (provider,) = yaml.safe_load(config_files(stack_run)["grafana/dashboards-perfstack.yaml"])["providers"]
    json_dirs = {str(PurePosixPath(p).parent) for p in deployed_paths(stack_run) if p.endswith(".json")}
    assert json_dirs == {provider["options"]["path"]}
    assert provider["folder"] == "perfstack"


def test_grafana_keeps_its_data_directory_on_scratch_space_only(
    staging: ProgramRun, production: ProgramRun
) -> None:
    # Stateless by decision (GrafanaConfig, docs/operations.md): no volume that could hold UI-made state.
    container = staging.get("docker:index/container:Container", "grafana").inputs
    assert not container.get("volumes") and "/var/lib/grafana" in container["tmpfs"]
    pod = production.get("kubernetes:apps/v1:Deployment", "grafana").inputs["spec"]["template"]["spec"]
    persistent = [v["name"] for v in pod["volumes"] if not ({"configMap", "secret", "emptyDir"} & v.keys())]
    assert persistent == []
    grafana_claims = [
        r.name for r in production.resources if r.name.startswith("grafana") and "Claim" in r.type
    ]
    assert grafana_claims == []


def test_grafana_disables_anonymous_access_and_reads_admin_password_from_file() -> None:
    env = grafana_environment()
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"] == ADMIN_PASSWORD_FILE
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env


# The SLO dashboard


def test_slo_dashboard_is_rendered_only_when_a_service_has_an_slo() -> None:
    assert SLO_FILE not in dashboards()
    assert SLO_FILE in dashboards(slos=SLOS[:1])


def test_slo_dashboard_has_its_fixed_uid_and_title() -> None:
    assert (slo_dashboard()["uid"], slo_dashboard()["title"]) == (SLO_UID, "perfstack / SLOs")


def test_production_provisions_the_slo_dashboard(production: ProgramRun) -> None:
    assert SLO_FILE in deployed_dashboards(production)
    assert f"{DASHBOARDS_DIR}/{SLO_FILE}" in deployed_paths(production)


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_stacks_without_an_slo_provision_only_the_other_dashboards(
    stack: str, request: pytest.FixtureRequest
) -> None:
    run: ProgramRun = request.getfixturevalue(stack)
    assert set(deployed_dashboards(run)) == {OVERVIEW_FILE, CANARY_FILE, REDIS_FILE}
    assert [p for p in deployed_paths(run) if p.endswith(SLO_FILE)] == []


def test_slo_dashboard_has_a_row_per_service_and_panels_for_its_objectives_only() -> None:
    found = list(panels(slo_dashboard()))
    rows = [p["title"] for p in found if p["type"] == "row"]
    assert rows == ["api: objectives over 30d", "search: objectives over 7d"]
    # Titles start with service and indicator: "api availability: burn rate", "api latency over 30d".
    drawn = {tuple(p["title"].replace(":", " ").split()[:2]) for p in found if p["type"] != "row"}
    assert drawn == {("api", "availability"), ("api", "latency"), ("search", "latency")}


def test_every_slo_query_parses_with_promtool(tmp_path: Path) -> None:
    # No variables: plain_promql fails on any it would have to fill in.
    assert_promtool_parses([plain_promql(e, {}) for e in slo_exprs()], tmp_path)


def recorded_slo_series(rule_file: str) -> set[tuple[str, str, str]]:
    """(record, service, slo) of every SLO series a rule file records."""
    found = set()
    for group in yaml.safe_load(rule_file)["groups"]:
        for rule in group["rules"]:
            labels = rule.get("labels", {})
            if "record" in rule and SLO_LABEL in labels:
                # The objective names its service; the ratios get it from their selectors' `by (service)`.
                service = labels.get("service") or re.findall(r'service="([^"]+)"', rule["expr"])[0]
                found.add((rule["record"], service, labels[SLO_LABEL]))
    return found


def test_slo_queries_read_only_series_the_rule_file_records() -> None:
    deployment = MonitoredDeployment(tracks=(("api", "stable"), ("search", "stable")), slos=SLOS)
    recorded = recorded_slo_series(render_rules(AlertsConfig(), deployment))
    read = set()
    for expr in slo_exprs():
        selectors = re.findall(r"([a-zA-Z_:][\w:]*)\{([^}]*)\}", expr)
        # Every metric name comes with a selector: none is read for every service at once.
        assert metric_names(expr) == {name for name, _ in selectors}, expr
        for name, matchers in selectors:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', matchers))
            read.add((name, labels["service"], labels[SLO_LABEL]))
    assert read and read - recorded == set()


BURN_TEST_SLO = SloConfig.model_validate(
    {
        "window": "6h",
        "burnRateAlerts": [
            {"longWindow": "1h", "shortWindow": "5m", "burnRate": 14.4, "severity": "page"},
            {"longWindow": "6h", "shortWindow": "30m", "burnRate": 6.0, "severity": "page"},
        ],
    }
)
"""A window short enough for a promtool test to fill (6h), with the default objectives."""
TEST_MINUTES = 6 * 60 + 10
"""The whole SLO window and a few minutes: every rate() of the rules sees the steady traffic."""


def run_slo_queries(directory: Path, queries: list[tuple[str, list[dict[str, Any]]]]) -> None:
    """Evaluate (expr, expected samples) after steady traffic to api: 1 % failing, 2 % slower than 1.5 s."""
    stable = {"service": "api", "track": "stable", "route": "/chat"}
    per_minute = 600.0
    series = [
        (
            selector("http_requests_total", {**stable, "code": "200"}),
            counter(per_minute * 0.99, TEST_MINUTES),
        ),
        (
            selector("http_requests_total", {**stable, "code": "500"}),
            counter(per_minute * 0.01, TEST_MINUTES),
        ),
        (
            selector("http_request_duration_seconds_bucket", {**stable, "le": "1.5"}),
            counter(per_minute * 0.98, TEST_MINUTES),
        ),
        (
            selector("http_request_duration_seconds_bucket", {**stable, "le": "+Inf"}),
            counter(per_minute, TEST_MINUTES),
        ),
        (selector("http_request_duration_seconds_count", stable), counter(per_minute, TEST_MINUTES)),
    ]
    deployment = MonitoredDeployment(tracks=(("api", "stable"),), slos=(("api", BURN_TEST_SLO),))
    (directory / RULES_FILE_NAME).write_text(render_rules(AlertsConfig(), deployment))
    test = {
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in series],
        "promql_expr_test": [
            {"expr": expr, "eval_time": f"{TEST_MINUTES}m", "exp_samples": samples}
            for expr, samples in queries
        ],
    }
    test_file = directory / "dashboard.test.yml"
    test_file.write_text(unit_test_file(RULES_FILE_NAME, [test]))
    assert_ok(run_tool("promtool", "test", "rules", str(test_file)))


def test_every_slo_query_gives_one_series_of_its_objective_once_the_rules_have_run(tmp_path: Path) -> None:
    queries = []
    for expr in slo_exprs((("api", BURN_TEST_SLO),)):
        (sli,) = set(re.findall(rf'{SLO_LABEL}="(\w+)"', expr))
        expected = [{"labels": f'{{service="api",{SLO_LABEL}="{sli}"}}', "value": 1}]
        queries.append((f"count by (service, {SLO_LABEL}) (\n{expr}\n)", expected))
    run_slo_queries(tmp_path, queries)


def test_burn_rate_is_the_windows_error_ratio_over_the_error_budget(tmp_path: Path) -> None:
    # 1 % failing against a 0.1 % budget burns at 10, 2 % slow against a 5 % budget at 0.4, in every window.
    burn = {"availability": 10, "latency": 0.4}
    dashboard = slo_dashboard((("api", BURN_TEST_SLO),))
    queries = []
    for sli, rate in burn.items():
        for target in panel(dashboard, f"api {sli}: burn rate")["targets"]:
            # Rounded to 1/1000: float noise is not what is under test.
            labels = f'{{service="api",{SLO_LABEL}="{sli}"}}'
            queries.append((f"round(\n{target['expr']}\n, 0.001)", [{"labels": labels, "value": rate}]))
    assert len(queries) == 2 * len(BURN_TEST_SLO.windows())
    run_slo_queries(tmp_path, queries)


def test_burn_rate_panel_plots_every_alert_window() -> None:
    for service, slo in SLOS:
        for sli in slo.objectives():
            targets = panel(slo_dashboard(), f"{service} {sli}: burn rate")["targets"]
            assert [t["legendFormat"] for t in targets] == list(slo.windows())


def test_burn_rate_threshold_lines_are_the_configured_burn_rates() -> None:
    for service, slo in SLOS:
        for sli in slo.objectives():
            lines = [
                v for v, _ in steps(panel(slo_dashboard(), f"{service} {sli}: burn rate")) if v is not None
            ]
            assert lines == sorted({a.burn_rate for a in slo.burn_rate_alerts}), (service, sli)


def test_burn_rate_lines_of_pages_are_red_and_of_tickets_yellow() -> None:
    # search: 10 pages; 2 makes a ticket over 1d/2h but pages over 3d/6h, so its line is red.
    assert steps(panel(slo_dashboard(), "search latency: burn rate")) == [
        (None, "green"),
        (2.0, "red"),
        (10.0, "red"),
    ]
    assert steps(panel(slo_dashboard(), "api availability: burn rate")) == [
        (None, "green"),
        (1.0, "yellow"),
        (3.0, "yellow"),
        (6.0, "red"),
        (14.4, "red"),
    ]


def test_sli_panel_is_red_below_the_objective_and_green_from_it() -> None:
    assert steps(panel(slo_dashboard(), "search latency over 7d")) == [(None, "red"), (0.99, "green")]
    assert steps(panel(slo_dashboard(), "api availability over 30d")) == [(None, "red"), (0.999, "green")]


def test_sli_panel_shows_enough_decimals_to_tell_the_sli_from_its_objective() -> None:
    # 99.9 % needs one decimal to be told from 100 %: the panel shows one more (99.87 %).
    sli = panel(slo_dashboard(), "api availability over 30d")
    assert sli["fieldConfig"]["defaults"]["decimals"] == 2


def test_error_budget_is_red_once_overspent_and_yellow_below_a_quarter() -> None:
    for service, slo in SLOS:
        for sli in slo.objectives():
            budget = panel(slo_dashboard(), f"{service} {sli}: error budget left")
            assert steps(budget) == [(None, "red"), (0, "yellow"), (0.25, "green")]
            assert budget["fieldConfig"]["defaults"]["unit"] == "percentunit"
