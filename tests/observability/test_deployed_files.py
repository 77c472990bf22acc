"""The observability files as the stacks deploy them, read by promtool and amtool."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.mockrun import ProgramRun
from infra.render import config_files
from tests.conftest import run_stack
from tests.observability.test_prometheus_config import as_static
from tests.observability.tools import assert_ok, run_tool


def _write(run: ProgramRun, directory: Path) -> dict[str, Path]:
    paths = {}
    for relative, content in config_files(run).items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        paths[relative] = path
    return paths


def test_deployed_prometheus_config_passes_promtool(stack_run: ProgramRun, tmp_path: Path) -> None:
    files = _write(stack_run, tmp_path)
    config = yaml.safe_load(files["prometheus/prometheus.yml"].read_text())
    # Only paths are rewritten: the rule file sits beside the config here.
    config["rule_files"] = [str(files["prometheus/perfstack-rules.yml"])]
    # Debian's promtool has no Kubernetes discovery (see test_prometheus_config).
    checked = tmp_path / "checked.yml"
    checked.write_text(yaml.safe_dump(as_static(config, [])))
    assert_ok(run_tool("promtool", "check", "config", str(checked)))


def test_deployed_alertmanager_config_passes_amtool(stack_run: ProgramRun, tmp_path: Path) -> None:
    files = _write(stack_run, tmp_path)
    assert_ok(run_tool("amtool", "check-config", str(files["alertmanager/alertmanager.yml"])))


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (
            {"alertname": "ErrorRateCritical", "severity": "critical", "notify": "slack,email,pagerduty"},
            "slack,email,pagerduty",
        ),
        (
            {"alertname": "QualityScoreCritical", "severity": "critical", "notify": "slack,email"},
            "slack,email",
        ),
        ({"alertname": "ErrorRateWarning", "severity": "warning", "notify": "slack"}, "slack"),
    ],
)
def test_production_alertmanager_routes_by_notify_label(
    production: ProgramRun, tmp_path: Path, labels: dict[str, str], receivers: str
) -> None:
    files = _write(production, tmp_path)
    result = run_tool(
        "amtool",
        "config",
        "routes",
        "test",
        f"--config.file={files['alertmanager/alertmanager.yml']}",
        f"--verify.receivers={receivers}",
        *(f"{k}={v}" for k, v in labels.items()),
    )
    assert_ok(result)


def _file_fields(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k.endswith("_file") and isinstance(v, str)] + [
            f for v in node.values() for f in _file_fields(v)
        ]
    if isinstance(node, list):
        return [f for v in node for f in _file_fields(v)]
    return []


def test_every_credential_file_alertmanager_reads_is_mounted_from_a_secret(production: ProgramRun) -> None:
    config = yaml.safe_load(config_files(production)["alertmanager/alertmanager.yml"])
    wanted = set(_file_fields(config))
    assert len(wanted) == 4  # slack, email, pagerduty and the dead man's switch: all set in production
    pod = production.get("kubernetes:apps/v1:StatefulSet", "alertmanager").inputs["spec"]["template"]["spec"]
    secret_mounts = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"] if m["name"] == "secrets"}
    assert wanted == secret_mounts


def test_staging_alertmanager_reads_only_the_slack_webhook(staging: ProgramRun) -> None:
    config = yaml.safe_load(config_files(staging)["alertmanager/alertmanager.yml"])
    assert [Path(f).name for f in _file_fields(config)] == ["slack-webhook-url"]


def test_jaeger_sampling_follows_the_stack(staging: ProgramRun, production: ProgramRun) -> None:
    def default_param(run: ProgramRun) -> float:
        import json

        return json.loads(config_files(run)["jaeger/sampling-strategies.json"])["default_strategy"]["param"]

    assert (default_param(staging), default_param(production)) == (1.0, 0.1)


def test_production_runs_two_prometheus_and_three_alertmanagers(production: ProgramRun) -> None:
    replicas = {
        r.name: r.inputs["spec"]["replicas"]
        for r in production.of_type("kubernetes:apps/v1:StatefulSet")
        if r.name in ("prometheus", "alertmanager")
    }
    assert replicas == {"prometheus": 2, "alertmanager": 3}


def test_alertmanager_members_peer_with_each_other(production: ProgramRun) -> None:
    args = production.get("kubernetes:apps/v1:StatefulSet", "alertmanager").inputs["spec"]["template"][
        "spec"
    ]["containers"][0]["args"]
    peers = sorted(a.split("=", 1)[1] for a in args if a.startswith("--cluster.peer="))
    assert peers == [f"alertmanager-{i}.alertmanager-headless:9094" for i in range(3)]


def test_prometheus_sends_alerts_to_every_alertmanager_member(production: ProgramRun) -> None:
    config = yaml.safe_load(config_files(production)["prometheus/prometheus.yml"])
    targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert sorted(targets) == [f"alertmanager-{i}.alertmanager-headless:9093" for i in range(3)]


def test_prometheus_may_only_read_pods(production: ProgramRun) -> None:
    role = production.get("kubernetes:rbac.authorization.k8s.io/v1:Role", "prometheus-pod-reader")
    assert role.inputs["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
    ]


@pytest.mark.parametrize(("prometheus", "alertmanager"), [(1, 1), (3, 5)])
def test_replica_counts_follow_the_config_and_replicas_share_one_config(
    production: ProgramRun, prometheus: int, alertmanager: int
) -> None:
    run = run_stack(
        "production", overrides={"prometheus.replicas": prometheus, "alertmanager.replicas": alertmanager}
    )
    statefulsets = {r.name: r.inputs["spec"] for r in run.of_type("kubernetes:apps/v1:StatefulSet")}
    assert (statefulsets["prometheus"]["replicas"], statefulsets["alertmanager"]["replicas"]) == (
        prometheus,
        alertmanager,
    )
    # Every replica mounts the one ConfigMap of its StatefulSet, so their configs cannot differ;
    # and the scrape config does not depend on how many Prometheus replicas there are.
    before = yaml.safe_load(config_files(production)["prometheus/prometheus.yml"])
    after = yaml.safe_load(config_files(run)["prometheus/prometheus.yml"])
    assert before["scrape_configs"] == after["scrape_configs"]
    targets = after["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert len(targets) == alertmanager
    args = statefulsets["alertmanager"]["template"]["spec"]["containers"][0]["args"]
    assert len([a for a in args if a.startswith("--cluster.peer=")]) == (
        alertmanager if alertmanager > 1 else 0
    )
