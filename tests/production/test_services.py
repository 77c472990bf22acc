"""Kubernetes Services: clients reach ready pods only; StatefulSet peers find each other while starting."""

from typing import Any

import yaml

from infra.mockrun import ProgramRun
from infra.render import config_files

SERVICE = "kubernetes:core/v1:Service"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def service_spec(run: ProgramRun, name: str) -> dict[str, Any]:
    return run.get(SERVICE, name).inputs["spec"]


def sends_to_ready_pods_only(spec: dict[str, Any]) -> bool:
    """A ClusterIP Service with a virtual IP that leaves unready pods out of its endpoints."""
    return (
        spec["type"] == "ClusterIP"
        and spec.get("clusterIP") != "None"
        and not spec.get("publishNotReadyAddresses", False)
    )


def test_grafana_queries_prometheus_through_a_service_of_ready_pods(production: ProgramRun) -> None:
    datasources = yaml.safe_load(config_files(production)["grafana/datasources-perfstack.yaml"])[
        "datasources"
    ]
    prometheus = next(d for d in datasources if d["type"] == "prometheus")

    assert prometheus["url"] == "http://prometheus:9090"
    assert sends_to_ready_pods_only(service_spec(production, "prometheus"))


def test_every_workload_has_a_service_of_ready_pods_under_its_own_name(production: ProgramRun) -> None:
    workloads = production.of_type(STATEFULSET) + production.of_type(DEPLOYMENT)
    assert production.of_type(STATEFULSET)
    for workload in workloads:
        spec = service_spec(production, workload.name)
        assert sends_to_ready_pods_only(spec), workload.name
        assert spec["selector"] == workload.inputs["spec"]["selector"]["matchLabels"], workload.name


def test_every_statefulset_is_governed_by_a_headless_service_of_all_its_pods(production: ProgramRun) -> None:
    for statefulset in production.of_type(STATEFULSET):
        name = statefulset.inputs["spec"]["serviceName"]
        spec = service_spec(production, name)
        assert name == f"{statefulset.name}-headless"
        assert (spec["clusterIP"], spec["publishNotReadyAddresses"]) == ("None", True), name
        assert spec["selector"] == statefulset.inputs["spec"]["selector"]["matchLabels"], name


def test_deployments_get_no_headless_service(production: ProgramRun) -> None:
    headless = {s.name for s in production.of_type(SERVICE) if s.inputs["spec"].get("clusterIP") == "None"}
    assert headless == {f"{s.name}-headless" for s in production.of_type(STATEFULSET)}


def test_alertmanager_members_start_in_parallel(production: ProgramRun) -> None:
    spec = production.get(STATEFULSET, "alertmanager").inputs["spec"]
    assert spec["podManagementPolicy"] == "Parallel"


def test_redis_data_nodes_start_one_after_another(production: ProgramRun) -> None:
    # Pod 0 becomes the first master; the others follow it once it is up.
    assert "podManagementPolicy" not in production.get(STATEFULSET, "redis").inputs["spec"]
