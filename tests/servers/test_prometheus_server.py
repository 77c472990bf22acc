"""Prometheus at the pinned version, started with each stack's prometheus.yml, rule file and flags.

What is rewritten for a run on loopback, and why (everything else is as generated):
- the rule file paths: the generated config names the file where the container mounts it;
- ``--config.file``, ``--storage.tsdb.path`` and the listen address: a temp dir and a free port;
- ``global.evaluation_interval``: 1 s instead of 15 s, so rules have been evaluated within
  seconds (no stack setting exists for it: PrometheusSettings sets it, the stack config does not);
  likewise a rule group's own ``interval`` (the SLO budget group's 5m);
- production's ``kubernetes_sd_configs``: outside a cluster Prometheus cannot create pod
  discovery (no in-cluster service account; it logs "Cannot create service discovery"), so the
  job gets one static target carrying the meta labels pod discovery would give a running,
  annotated pod; its ``relabel_configs`` stay as generated and run on that target;
- the Alertmanager targets under ``alerting``: their host names resolve only inside the
  deployment, so they become one loopback endpoint that records what Prometheus posts
  (path prefix, scheme and API version stay as generated).
Scrape targets keep their container or service host names: they fail to resolve here, which
Prometheus records as `up == 0` without logging an error.
"""

import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from tests.observability.tools import tool_path

from .conftest import Stack
from .harness import (
    LOOPBACK,
    START_TIMEOUT_S,
    Server,
    answers_200,
    free_ports,
    get_json,
    recording_endpoint,
    replace_flags,
    running,
    workload_args,
)

CONFIG_KEY = "prometheus/prometheus.yml"
EVALUATION_INTERVAL = "1s"
RESEND_DELAY_S = 60
"""Prometheus' `--rules.alert.resend-delay` default, which the stacks keep."""


@dataclass(frozen=True)
class RunningPrometheus:
    """A ready Prometheus, the rule files it was given ({file name: parsed YAML}) and what it
    posted to its Alertmanager targets ([(path, JSON body)])."""

    server: Server
    url: str
    rule_files: dict[str, dict[str, Any]]
    posted_alerts: list[tuple[str, Any]]


def _as_static_pod(job: dict[str, Any], address: str) -> None:
    """Replace pod discovery by one target with the meta labels of a running, annotated pod."""
    del job["kubernetes_sd_configs"]
    port = address.rsplit(":", 1)[1]
    meta = {
        "__meta_kubernetes_namespace": "perfstack",
        "__meta_kubernetes_pod_name": "prometheus-0",
        "__meta_kubernetes_pod_phase": "Running",
        "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
        "__meta_kubernetes_pod_annotation_prometheus_io_port": port,
        "__meta_kubernetes_pod_label_app_kubernetes_io_name": "prometheus",
    }
    job["static_configs"] = [{"targets": [address], "labels": meta}]


@pytest.fixture(scope="module")
def prometheus(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPrometheus]:
    directory = tmp_path_factory.mktemp(f"prometheus-{stack.name}")
    (port,) = free_ports(1)
    address = f"{LOOPBACK}:{port}"
    config = yaml.safe_load(stack.files[CONFIG_KEY])
    rule_files: dict[str, dict[str, Any]] = {}
    local_paths = []
    for deployed in config["rule_files"]:
        name = PurePosixPath(deployed).name
        text = stack.files[f"prometheus/{name}"]
        rule_files[name] = yaml.safe_load(text)
        faster = yaml.safe_load(text)
        for group in faster["groups"]:
            if "interval" in group:
                group["interval"] = EVALUATION_INTERVAL
        (directory / name).write_text(yaml.safe_dump(faster, sort_keys=False))
        local_paths.append(str(directory / name))
    config["rule_files"] = local_paths
    config["global"]["evaluation_interval"] = EVALUATION_INTERVAL
    for job in config["scrape_configs"]:
        if "kubernetes_sd_configs" in job:
            _as_static_pod(job, address)
    args = replace_flags(
        workload_args(stack.run, "prometheus"),
        {"--config.file": str(directory / "prometheus.yml"), "--storage.tsdb.path": str(directory / "data")},
    )
    argv = [tool_path("prometheus"), *args, f"--web.listen-address={address}"]
    with recording_endpoint() as (alertmanager, posted):
        for group in config["alerting"]["alertmanagers"]:
            for static in group["static_configs"]:
                static["targets"] = [alertmanager]
        (directory / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        with running("prometheus", argv, directory) as server:
            url = f"http://{address}"
            server.wait_until(answers_200(f"{url}/-/ready"), "/-/ready")
            yield RunningPrometheus(server, url, rule_files, posted)


def _groups(prometheus: RunningPrometheus) -> list[dict[str, Any]]:
    return list(get_json(f"{prometheus.url}/api/v1/rules")["data"]["groups"])


def _evaluated_groups(prometheus: RunningPrometheus) -> list[dict[str, Any]]:
    """The rule groups once every rule has been evaluated at least once (health no longer unknown)."""

    def all_evaluated() -> list[dict[str, Any]] | None:
        groups = _groups(prometheus)
        rules = [rule for group in groups for rule in group["rules"]]
        return groups if rules and all(rule["health"] != "unknown" for rule in rules) else None

    return prometheus.server.wait_until(all_evaluated, "every rule to be evaluated once")


def test_prometheus_gets_ready_with_the_generated_config(prometheus: RunningPrometheus) -> None:
    status = get_json(f"{prometheus.url}/api/v1/status/runtimeinfo")["status"]
    assert status == "success", prometheus.server.describe()


def test_rules_api_lists_every_generated_rule_group_with_its_rules(prometheus: RunningPrometheus) -> None:
    generated = {
        (file, group["name"], tuple(rule.get("alert") or rule["record"] for rule in group["rules"]))
        for file, document in prometheus.rule_files.items()
        for group in document["groups"]
    }
    loaded = {
        (Path(group["file"]).name, group["name"], tuple(rule["name"] for rule in group["rules"]))
        for group in _groups(prometheus)
    }
    assert loaded == generated, prometheus.server.describe()


def test_every_rule_evaluates_without_error(prometheus: RunningPrometheus) -> None:
    unhealthy = [
        (group["name"], rule["name"], rule["health"], rule.get("lastError"))
        for group in _evaluated_groups(prometheus)
        for rule in group["rules"]
        if rule["health"] != "ok" or rule.get("lastError")
    ]
    assert unhealthy == [], prometheus.server.describe()


def test_prometheus_logs_no_error_running_the_generated_config(prometheus: RunningPrometheus) -> None:
    _evaluated_groups(prometheus)  # at least one evaluation of every rule has happened
    errors = [line for line in prometheus.server.log.read_text().splitlines() if "level=ERROR" in line]
    assert errors == [], prometheus.server.describe()


def test_firing_alerts_are_posted_to_the_alertmanager_api(prometheus: RunningPrometheus) -> None:
    # Whatever fires with no app data at all (a Watchdog-style alert, say) must reach the
    # Alertmanager v2 API; with nothing firing there is nothing to deliver.
    _evaluated_groups(prometheus)
    alerts = get_json(f"{prometheus.url}/api/v1/alerts")["data"]["alerts"]
    firing = {alert["labels"]["alertname"] for alert in alerts if alert["state"] == "firing"}

    def delivered() -> set[str] | None:
        names = {alert["labels"]["alertname"] for _, body in prometheus.posted_alerts for alert in body}
        return names if firing <= names else None

    if firing:
        # An alert that fires before the notifier has discovered its Alertmanager target
        # is dropped (notifier/alertmanagerset.go: no send loop yet) and sent again only
        # after the resend delay: on a loaded machine discovery can lose that race.
        prometheus.server.wait_until(
            delivered, f"{sorted(firing)} to be posted", timeout=RESEND_DELAY_S + START_TIMEOUT_S
        )
    assert {path for path, _ in prometheus.posted_alerts} <= {"/api/v2/alerts"}


def test_the_lifecycle_api_is_off_so_nobody_can_stop_prometheus_over_http(
    prometheus: RunningPrometheus,
) -> None:
    request = urllib.request.Request(f"{prometheus.url}/-/quit", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 403
    assert answers_200(f"{prometheus.url}/-/ready")(), prometheus.server.describe()
