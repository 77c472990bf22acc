"""How the stacks wire monitoring: what Prometheus scrapes, the rules that depend on what runs, the flags."""

import json
from typing import Any

import pytest
import yaml

from infra.loader import ConfigError
from infra.mockrun import ProgramRun, run_program
from infra.render import config_files
from tests.conftest import KNOWN_SECRETS, run_stack
from tests.production.test_posture import connection_allowed

STATEFULSET = "kubernetes:apps/v1:StatefulSet"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CONTAINER = "docker:index/container:Container"
RULES = "prometheus/perfstack-rules.yml"


def rules(run: ProgramRun) -> dict[str, dict[str, Any]]:
    groups = yaml.safe_load(config_files(run)[RULES])["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


def scrape_job(run: ProgramRun, name: str) -> dict[str, Any]:
    config = yaml.safe_load(config_files(run)["prometheus/prometheus.yml"])
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == name]
    return job


def args(run: ProgramRun, name: str) -> list[str]:
    """The container arguments of workload `name` (Kubernetes pod or Docker container)."""
    for type_ in (STATEFULSET, DEPLOYMENT):
        found = [r for r in run.of_type(type_) if r.name == name]
        if found:
            return list(found[0].inputs["spec"]["template"]["spec"]["containers"][0]["args"])
    return list(run.get(CONTAINER, name).inputs["command"])


def exporter_passwords(run: ProgramRun) -> dict[str, str]:
    secrets = [r for r in run.of_type("kubernetes:core/v1:Secret") if r.name == "redis-exporter-secrets"]
    if secrets:
        (text,) = secrets[0].inputs["stringData"].values()
    else:
        (text,) = [u["content"] for u in run.get(CONTAINER, "redis-exporter").inputs["uploads"]]
    return dict(json.loads(text))


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_canary_weight_change_leaves_the_rule_file_unchanged(stack: str) -> None:
    changed = run_stack(stack, overrides={"services.api.canary.weight": 0})
    assert config_files(changed)[RULES] == config_files(run_stack(stack))[RULES]


def test_track_alert_watches_every_track_that_runs(production: ProgramRun) -> None:
    expr = rules(production)["NoCanaryInstanceUp"]["expr"]
    assert '"service", "api", "", ""), "track", "canary"' in expr
    assert '"track", "stable"' in rules(production)["NoStableInstanceUp"]["expr"]


def test_parked_canary_has_no_track_alert() -> None:
    parked = run_stack(
        "production", overrides={"services.api.canary.weight": 0, "services.api.canary.replicas": 0}
    )
    assert "NoCanaryInstanceUp" not in rules(parked)
    assert "NoStableInstanceUp" in rules(parked)


def test_alertmanager_cluster_alert_expects_the_configured_members(production: ProgramRun) -> None:
    assert (
        rules(production)["AlertmanagerClusterMembersMissing"]["expr"] == "alertmanager_cluster_members < 3"
    )


def test_production_scrapes_every_redis_data_node_and_sentinel_on_its_own(production: ProgramRun) -> None:
    job = scrape_job(production, "redis")
    groups = {g["labels"]["redis_kind"]: g["targets"] for g in job["static_configs"]}
    assert groups == {
        "data": [f"redis://redis-{i}.redis-headless:6379" for i in range(3)],
        "sentinel": [f"redis://redis-sentinel-{i}.redis-sentinel-headless:26379" for i in range(3)],
    }
    assert job["metrics_path"] == "/scrape"
    assert job["relabel_configs"][-1] == {"target_label": "__address__", "replacement": "redis-exporter:9121"}


def test_staging_scrapes_its_standalone_redis_through_the_exporter(staging: ProgramRun) -> None:
    job = scrape_job(staging, "redis")
    assert [(g["labels"]["redis_kind"], g["targets"]) for g in job["static_configs"]] == [
        ("data", ["redis://redis:6379"])
    ]


def test_exporter_scrapes_only_the_node_each_request_names(stack_run: ProgramRun) -> None:
    assert "--redis.addr=" in args(stack_run, "redis-exporter")


def test_exporter_password_file_maps_every_scraped_node(stack_run: ProgramRun) -> None:
    targets = [t for group in scrape_job(stack_run, "redis")["static_configs"] for t in group["targets"]]
    assert exporter_passwords(stack_run) == {t: KNOWN_SECRETS["redisPassword"] for t in targets}


@pytest.mark.parametrize(
    ("source", "target", "port"),
    [
        ("redis-exporter", "redis-sentinel", 26379),
        ("prometheus", "grafana", 3000),
        ("prometheus", "prometheus", 9090),
    ],
)
def test_network_policies_let_monitoring_reach(
    production: ProgramRun, source: str, target: str, port: int
) -> None:
    assert connection_allowed(production, source, target, port)


@pytest.mark.parametrize(("workload", "port"), [("grafana", "3000"), ("prometheus", "9090")])
def test_pod_is_annotated_for_scraping(production: ProgramRun, workload: str, port: str) -> None:
    kinds = [
        r for r in (*production.of_type(STATEFULSET), *production.of_type(DEPLOYMENT)) if r.name == workload
    ]
    annotations = kinds[0].inputs["spec"]["template"]["metadata"]["annotations"]
    assert (annotations["prometheus.io/scrape"], annotations["prometheus.io/port"]) == ("true", port)


def test_staging_links_to_the_published_addresses(staging: ProgramRun) -> None:
    assert "--web.external-url=http://127.0.0.1:9090" in args(staging, "prometheus")
    assert "--web.external-url=http://127.0.0.1:9093" in args(staging, "alertmanager")


def test_production_links_to_the_in_cluster_services(production: ProgramRun) -> None:
    assert "--web.external-url=http://prometheus.perfstack.svc:9090" in args(production, "prometheus")
    assert "--web.external-url=http://alertmanager.perfstack.svc:9093" in args(production, "alertmanager")


def test_external_url_setting_wins_and_serving_stays_at_the_root() -> None:
    run = run_stack(
        "production",
        overrides={
            "prometheus.externalUrl": "https://ops.example.com/prometheus/",
            "alertmanager.externalUrl": "https://ops.example.com/alertmanager",
        },
    )
    for name in ("prometheus", "alertmanager"):
        assert f"--web.external-url=https://ops.example.com/{name}" in args(run, name)
        assert "--web.route-prefix=/" in args(run, name)


def test_prometheus_stores_the_exemplars_grafana_links_to_traces(stack_run: ProgramRun) -> None:
    datasources = yaml.safe_load(config_files(stack_run)["grafana/datasources-perfstack.yaml"])
    assert "--enable-feature=exemplar-storage" in args(stack_run, "prometheus")
    assert any(d.get("jsonData", {}).get("exemplarTraceIdDestinations") for d in datasources["datasources"])


def test_dead_mans_switch_url_is_mounted_from_its_secret() -> None:
    url = "https://hc-ping.invalid/SECRET-4716"
    run = run_stack(
        "production",
        overrides={"notifications.deadMansSwitch": {}},
        secrets={**KNOWN_SECRETS, "deadMansSwitchUrl": url},
    )
    (secret,) = [r for r in run.of_type("kubernetes:core/v1:Secret") if r.name == "alertmanager-secrets"]
    assert secret.inputs["stringData"]["dead-mans-switch-url"] == url
    assert url not in config_files(run)["alertmanager/alertmanager.yml"]


def test_dead_mans_switch_without_its_url_says_how_to_set_it() -> None:
    with pytest.raises(ConfigError) as error:
        run_program(
            "staging",
            overrides={"notifications.deadMansSwitch": {}},
            secrets={k: v for k, v in KNOWN_SECRETS.items() if k != "deadMansSwitchUrl"},
            placeholder_secrets=False,
        )
    assert "pulumi config set --secret perfstack:deadMansSwitchUrl <value> --stack staging" in str(
        error.value
    )


def published(run: ProgramRun, name: str) -> list[tuple[str, int]]:
    """(host address, host port) of every port the Docker container `name` publishes."""
    return [(p["ip"], p["external"]) for p in run.get(CONTAINER, name).inputs.get("ports") or []]


def test_a_router_on_every_interface_leaves_the_uis_on_loopback() -> None:
    # Prometheus, Alertmanager and Jaeger have no authentication: publishing the app must not publish them.
    run = run_stack("staging", overrides={"docker.publishAddress": "0.0.0.0"})
    assert published(run, "router") == [("0.0.0.0", 8080)]
    for name, port in (("grafana", 3000), ("prometheus", 9090), ("alertmanager", 9093), ("jaeger", 16686)):
        assert published(run, name) == [("127.0.0.1", port)], name


def test_a_ui_port_set_to_null_is_not_published_and_links_use_the_network_name() -> None:
    ports = {"router": 8080, "grafana": 3000, "prometheus": None, "alertmanager": 9093, "jaeger": 16686}
    run = run_stack("staging", overrides={"docker.ports": ports})
    assert published(run, "prometheus") == []
    assert "--web.external-url=http://prometheus:9090" in args(run, "prometheus")


def test_prometheus_runs_without_the_lifecycle_api(stack_run: ProgramRun) -> None:
    # Nothing here reloads or stops Prometheus over HTTP; with the API anyone reaching it could.
    assert "--web.enable-lifecycle" not in args(stack_run, "prometheus")
