"""The production stack's security posture, over every Kubernetes object it declares."""

from typing import Any

import pytest

from infra.mockrun import ProgramRun

WORKLOAD_TYPES = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet")
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def workloads(run: ProgramRun) -> list[Any]:
    return [r for r in run.resources if r.type in WORKLOAD_TYPES]


def pod_labels(run: ProgramRun) -> dict[str, dict[str, str]]:
    return {w.name: w.inputs["spec"]["template"]["metadata"]["labels"] for w in workloads(run)}


def test_every_container_runs_restricted(production: ProgramRun) -> None:
    for workload in workloads(production):
        pod = workload.inputs["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, workload.name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, workload.name
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, workload.name
            assert context["capabilities"] == {"drop": ["ALL"]}, workload.name
            assert context["runAsNonRoot"] is True, workload.name
            assert context["readOnlyRootFilesystem"] is True, workload.name


def test_every_container_has_requests_and_limits(production: ProgramRun) -> None:
    for workload in workloads(production):
        for container in workload.inputs["spec"]["template"]["spec"]["containers"]:
            assert set(container["resources"]["requests"]) == {"cpu", "memory"}, workload.name
            assert set(container["resources"]["limits"]) == {"cpu", "memory"}, workload.name


def test_every_replicated_workload_has_a_disruption_budget(production: ProgramRun) -> None:
    budgets = {
        tuple(sorted(p.inputs["spec"]["selector"]["matchLabels"].items()))
        for p in production.of_type("kubernetes:policy/v1:PodDisruptionBudget")
    }
    replicated = [w for w in workloads(production) if w.inputs["spec"]["replicas"] > 1]
    assert replicated
    for workload in replicated:
        assert tuple(sorted(workload.inputs["spec"]["selector"]["matchLabels"].items())) in budgets, (
            workload.name
        )


def test_app_deployments_never_drop_below_desired_ready_pods(production: ProgramRun) -> None:
    for workload in production.of_type("kubernetes:apps/v1:Deployment"):
        rolling = workload.inputs["spec"]["strategy"]["rollingUpdate"]
        assert rolling["maxUnavailable"] == 0, workload.name


def test_services_are_cluster_internal(production: ProgramRun) -> None:
    for service in production.of_type("kubernetes:core/v1:Service"):
        assert service.inputs["spec"]["type"] == "ClusterIP", service.name


def test_namespace_is_labelled_for_restricted_pod_security(production: ProgramRun) -> None:
    labels = production.get("kubernetes:core/v1:Namespace", "namespace").inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


# --- network policies, evaluated like a CNI would -------------------------------------------------


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _peer_matches(peer: dict[str, Any], source: str | dict[str, str], namespace: str = "perfstack") -> bool:
    """Does a `from`/`to` peer admit ``source`` (pod labels in our namespace, or a namespace name)?"""
    if "ipBlock" in peer:
        return False
    if "namespaceSelector" in peer:
        return isinstance(source, str) and _selects(
            peer["namespaceSelector"], {"kubernetes.io/metadata.name": source}
        )
    return isinstance(source, dict) and _selects(peer["podSelector"], source)


def ingress_allowed(run: ProgramRun, source: str | dict[str, str], target: dict[str, str], port: int) -> bool:
    for policy in run.of_type(POLICY):
        spec = policy.inputs["spec"]
        if "Ingress" not in spec["policyTypes"] or not _selects(spec["podSelector"], target):
            continue
        for rule in spec.get("ingress", []):
            if any(p["port"] == port for p in rule["ports"]) and any(
                _peer_matches(f, source) for f in rule["from"]
            ):
                return True
    return False


def egress_allowed(run: ProgramRun, source: dict[str, str], target: dict[str, str], port: int) -> bool:
    for policy in run.of_type(POLICY):
        spec = policy.inputs["spec"]
        if "Egress" not in spec["policyTypes"] or not _selects(spec["podSelector"], source):
            continue
        for rule in spec.get("egress", []):
            if any(p["port"] == port for p in rule["ports"]) and any(
                _peer_matches(t, target) for t in rule["to"]
            ):
                return True
    return False


def connection_allowed(run: ProgramRun, source: str, target: str, port: int) -> bool:
    labels = pod_labels(run)
    return ingress_allowed(run, labels[source], labels[target], port) and egress_allowed(
        run, labels[source], labels[target], port
    )


def test_default_deny_selects_every_pod_both_ways(production: ProgramRun) -> None:
    deny = production.get(POLICY, "default-deny").inputs["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


@pytest.mark.parametrize(
    ("source", "target", "port"),
    [
        ("api-stable", "redis", 6379),
        ("api-canary", "redis", 6379),
        ("api-stable", "jaeger", 4317),
        ("redis-exporter", "redis", 6379),
        ("prometheus", "api-stable", 8080),
        ("prometheus", "redis-exporter", 9121),
        ("prometheus", "jaeger", 8888),
        ("prometheus", "alertmanager", 9093),
        ("grafana", "prometheus", 9090),
        ("grafana", "jaeger", 16686),
        ("alertmanager", "alertmanager", 9094),
    ],
)
def test_needed_path_is_open(production: ProgramRun, source: str, target: str, port: int) -> None:
    assert connection_allowed(production, source, target, port)


@pytest.mark.parametrize(
    ("source", "target", "port"),
    [
        ("grafana", "redis", 6379),
        ("jaeger", "redis", 6379),
        ("api-stable", "prometheus", 9090),
        ("api-stable", "alertmanager", 9093),
        ("redis", "api-stable", 8080),
        ("grafana", "api-stable", 8080),
    ],
)
def test_unneeded_path_is_closed(production: ProgramRun, source: str, target: str, port: int) -> None:
    assert not connection_allowed(production, source, target, port)


def test_only_the_gateway_reaches_the_app_from_outside(production: ProgramRun) -> None:
    labels = pod_labels(production)
    assert ingress_allowed(production, "gateway", labels["api-stable"], 8080)
    assert ingress_allowed(production, "gateway", labels["api-canary"], 8080)
    for name in ("redis", "prometheus", "grafana", "alertmanager", "jaeger"):
        pod = labels[name]
        assert not any(
            ingress_allowed(production, "gateway", pod, port) for port in (6379, 9090, 3000, 9093, 16686)
        )
