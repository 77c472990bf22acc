"""prometheus.yml: promtool accepts both modes; targets carry `service` and `track` as the contract says."""

import copy
import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.prometheus.alerts import AlertsConfig
from components.prometheus.config import (
    AppTarget,
    DockerTargets,
    KubernetesPods,
    PrometheusSettings,
    RedisTargets,
    prometheus_config,
    render_prometheus_config,
)
from components.prometheus.rules import RULES_FILE_NAME, render_rules
from infra.render import config_files
from tests.conftest import run_stack
from tests.servers.harness import workload_args

from .tools import assert_ok, run_tool

DOCKER = PrometheusSettings(
    targets=DockerTargets(
        apps=(
            AppTarget("api", "stable", "api-stable:8000"),
            AppTarget("api", "canary", "api-canary:8000"),
            AppTarget("worker", "stable", "worker-stable:9100", metrics_path="/internal/metrics"),
        )
    ),
    alertmanagers=("alertmanager:9093",),
    rule_files=(RULES_FILE_NAME,),
    redis=RedisTargets(exporter="redis-exporter:9121", data_nodes=("redis:6379",)),
)
SENTINEL_SET = RedisTargets(
    exporter="redis-exporter:9121",
    data_nodes=tuple(f"redis-{i}.redis-headless:6379" for i in range(3)),
    sentinels=tuple(f"redis-sentinel-{i}.redis-sentinel-headless:26379" for i in range(3)),
)
KUBERNETES = PrometheusSettings(
    targets=KubernetesPods("perfstack"),
    alertmanagers=tuple(f"alertmanager-{i}.alertmanager.perfstack.svc:9093" for i in range(3)),
    rule_files=(RULES_FILE_NAME,),
    external_labels={"environment": "production"},
    redis=SENTINEL_SET,
)


def write_config(directory: Path, config: dict[str, Any]) -> Path:
    (directory / RULES_FILE_NAME).write_text(render_rules(AlertsConfig()))
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def as_static(config: dict[str, Any], pods: list[dict[str, Any]]) -> dict[str, Any]:
    """The config with pod discovery replaced by static targets carrying the same meta labels.

    Debian builds Prometheus without Kubernetes discovery, so `kubernetes_sd_configs`
    itself cannot be loaded here; everything else, relabelling included, can.
    """
    static = copy.deepcopy(config)
    for job in static["scrape_configs"]:
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["static_configs"] = [{"targets": [pod["address"]], "labels": pod["meta"]} for pod in pods]
    return static


def test_promtool_accepts_docker_config_with_its_rule_file(tmp_path: Path) -> None:
    path = tmp_path / "prometheus.yml"
    (tmp_path / RULES_FILE_NAME).write_text(render_rules(AlertsConfig()))
    path.write_text(render_prometheus_config(DOCKER))
    result = run_tool("promtool", "check", "config", str(path))
    assert_ok(result)
    assert "1 rule files found" in result.stdout


def test_promtool_accepts_kubernetes_config_with_its_rule_file(tmp_path: Path) -> None:
    config = as_static(yaml.safe_load(render_prometheus_config(KUBERNETES)), [])
    result = run_tool("promtool", "check", "config", str(write_config(tmp_path, config)))
    assert_ok(result)
    assert "1 rule files found" in result.stdout


def test_kubernetes_mode_discovers_pods_of_its_namespace_only() -> None:
    (job,) = [j for j in prometheus_config(KUBERNETES)["scrape_configs"] if "kubernetes_sd_configs" in j]
    assert job["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"names": ["perfstack"]}}]


def test_global_intervals_are_15s_in_both_modes() -> None:
    for settings in (DOCKER, KUBERNETES):
        assert prometheus_config(settings)["global"]["scrape_interval"] == "15s"
        assert prometheus_config(settings)["global"]["evaluation_interval"] == "15s"


def test_alerts_go_to_every_alertmanager_replica() -> None:
    alerting = prometheus_config(KUBERNETES)["alerting"]["alertmanagers"]
    assert alerting == [{"static_configs": [{"targets": list(KUBERNETES.alertmanagers)}]}]


def test_docker_mode_labels_each_app_target_with_service_and_track() -> None:
    (apps,) = [j for j in prometheus_config(DOCKER)["scrape_configs"] if j["job_name"] == "app"]
    labelled = {
        (c["targets"][0], c["labels"]["service"], c["labels"]["track"]) for c in apps["static_configs"]
    }
    assert labelled == {
        ("api-stable:8000", "api", "stable"),
        ("api-canary:8000", "api", "canary"),
        ("worker-stable:9100", "worker", "stable"),
    }


INFRASTRUCTURE_JOBS = ("redis", "redis-exporter", "jaeger", "alertmanager", "grafana", "prometheus")


def test_docker_mode_scrapes_every_infrastructure_job() -> None:
    jobs = {j["job_name"]: j["static_configs"][0] for j in prometheus_config(DOCKER)["scrape_configs"]}
    assert jobs["redis"]["targets"] == ["redis://redis:6379"]
    assert jobs["redis-exporter"]["targets"] == ["redis-exporter:9121"]
    assert jobs["jaeger"]["targets"] == ["jaeger:8888"]
    assert jobs["alertmanager"]["targets"] == ["alertmanager:9093"]
    assert jobs["grafana"]["targets"] == ["grafana:3000"]
    assert jobs["prometheus"]["targets"] == ["localhost:9090"]


def test_docker_infrastructure_targets_have_no_track() -> None:
    # No `track` on infrastructure: `up{track!=""}` must select app targets only, `up{track=""}` the rest.
    jobs = {j["job_name"]: j["static_configs"] for j in prometheus_config(DOCKER)["scrape_configs"]}
    assert all("track" not in group["labels"] for name in INFRASTRUCTURE_JOBS for group in jobs[name])


def test_kubernetes_mode_finds_prometheus_replicas_by_pod_discovery_not_localhost() -> None:
    # Each replica must scrape the others, so that one can alert when another cannot.
    jobs = prometheus_config(KUBERNETES)["scrape_configs"]
    assert [j["job_name"] for j in jobs] == ["kubernetes-pods", "redis"]


def test_app_target_rejects_an_address_without_port() -> None:
    with pytest.raises(ValueError, match="host:port"):
        AppTarget("api", "stable", "api-stable")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pod(
    ip: str,
    name: str,
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    phase: str = "Running",
) -> dict[str, Any]:
    """A pod as Kubernetes pod discovery describes it (meta labels, sanitised names)."""

    def sanitise(key: str) -> str:
        return "".join(c if c.isalnum() else "_" for c in key)

    meta = {
        "__meta_kubernetes_namespace": "perfstack",
        "__meta_kubernetes_pod_name": name,
        "__meta_kubernetes_pod_phase": phase,
    }
    meta |= {f"__meta_kubernetes_pod_annotation_{sanitise(k)}": v for k, v in (annotations or {}).items()}
    meta |= {f"__meta_kubernetes_pod_label_{sanitise(k)}": v for k, v in (labels or {}).items()}
    return {"address": f"{ip}:8080", "meta": meta}


def test_kubernetes_relabelling_turns_pod_labels_into_service_and_track(tmp_path: Path) -> None:
    # Real Prometheus applies the relabel rules to pods described by the same
    # meta labels Kubernetes discovery produces (loopback IPs, nothing is scraped:
    # the scrape interval is an hour and Prometheus is stopped right away).
    scrape = {"prometheus.io/scrape": "true"}
    pods = [
        _pod(
            "127.0.0.2",
            "api-canary-1",
            {**scrape, "prometheus.io/port": "8000"},
            {"app.kubernetes.io/name": "api", "perfstack.dev/track": "canary"},
        ),
        _pod(
            "127.0.0.3",
            "redis-0",
            {**scrape, "prometheus.io/port": "9121", "prometheus.io/path": "/scrape"},
            {"app.kubernetes.io/name": "redis"},
        ),
        _pod("127.0.0.4", "not-annotated", {}, {"app.kubernetes.io/name": "api"}),
        _pod("127.0.0.5", "no-port", scrape, {"app.kubernetes.io/name": "api"}),
        _pod("127.0.0.6", "job-done", {**scrape, "prometheus.io/port": "80"}, phase="Succeeded"),
    ]
    config = as_static(yaml.safe_load(render_prometheus_config(KUBERNETES)), pods)
    active = active_targets(config, tmp_path, "kubernetes-pods")
    pod_targets = sorted(
        (t["scrapeUrl"], {k: v for k, v in t["labels"].items() if k not in ("job", "instance")})
        for t in active
    )
    api = {"namespace": "perfstack", "pod": "api-canary-1", "service": "api", "track": "canary"}
    redis = {"namespace": "perfstack", "pod": "redis-0", "service": "redis"}
    expected = [("http://127.0.0.2:8000/metrics", api), ("http://127.0.0.3:9121/scrape", redis)]
    assert pod_targets == expected


def active_targets(config: dict[str, Any], directory: Path, job: str) -> list[dict[str, Any]]:
    """The active targets of `job` as the real Prometheus builds them from `config` (nothing is scraped:
    the scrape interval is an hour and Prometheus is stopped right away)."""
    config = copy.deepcopy(config)
    config.pop("alerting", None)
    config["rule_files"] = []
    config["global"]["scrape_interval"] = "1h"
    config["global"]["scrape_timeout"] = "10s"
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    port = _free_port()
    server = subprocess.Popen(
        ["prometheus", f"--config.file={path}", f"--storage.tsdb.path={directory / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    active: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/v1/targets?state=active", timeout=2
                ) as r:
                    active = json.load(r)["data"]["activeTargets"]
            except OSError:
                pass
            if any(t["labels"]["job"] == job for t in active):
                break
            time.sleep(0.25)
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    found = [t for t in active if t["labels"]["job"] == job]
    assert found, stderr[-3000:]
    return found


def test_each_redis_node_is_scraped_on_its_own_through_the_exporter(tmp_path: Path) -> None:
    config = as_static(yaml.safe_load(render_prometheus_config(KUBERNETES)), [])
    targets = active_targets(config, tmp_path, "redis")
    scraped = sorted(
        (t["scrapeUrl"], t["labels"]["instance"], t["labels"]["redis_kind"], t["labels"]["service"])
        for t in targets
    )
    quoted = "http://redis-exporter:9121/scrape?target=redis%3A%2F%2F"
    expected = sorted(
        [(f"{quoted}{n.replace(':', '%3A')}", n, "data", "redis") for n in SENTINEL_SET.data_nodes]
        + [(f"{quoted}{n.replace(':', '%3A')}", n, "sentinel", "redis") for n in SENTINEL_SET.sentinels]
    )
    assert scraped == expected


def test_redis_targets_need_at_least_one_data_node() -> None:
    with pytest.raises(ValueError, match="data node"):
        RedisTargets(exporter="redis-exporter:9121", data_nodes=())


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_stack_scrape_and_evaluation_intervals_are_the_global_intervals(stack: str) -> None:
    run = run_stack(
        stack,
        overrides={
            "prometheus.scrapeInterval": "5s",
            "prometheus.evaluationInterval": "10s",
            "alerts.rateWindow": "1m",
        },
    )
    config = yaml.safe_load(config_files(run)["prometheus/prometheus.yml"])
    assert config["global"]["scrape_interval"] == "5s"
    assert config["global"]["evaluation_interval"] == "10s"


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_stack_intervals_default_to_15s(stack: str, request: pytest.FixtureRequest) -> None:
    config = yaml.safe_load(config_files(request.getfixturevalue(stack))["prometheus/prometheus.yml"])
    assert (config["global"]["scrape_interval"], config["global"]["evaluation_interval"]) == ("15s", "15s")


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_every_alert_is_labelled_with_its_stack(stack: str, request: pytest.FixtureRequest) -> None:
    config = yaml.safe_load(config_files(request.getfixturevalue(stack))["prometheus/prometheus.yml"])
    assert config["global"]["external_labels"] == {"stack": stack}


@pytest.mark.parametrize(("stack", "size"), [("staging", "8192MB"), ("production", "40960MB")])
def test_prometheus_deletes_old_blocks_before_its_volume_fills(
    stack: str, size: str, request: pytest.FixtureRequest
) -> None:
    # 80 % of the volume (staging 10Gi, production 50Gi): the WAL and compaction need the rest.
    args = workload_args(request.getfixturevalue(stack), "prometheus")
    assert f"--storage.tsdb.retention.size={size}" in args
