"""The local cluster behaves like the production cluster in the ways the engine tests rely on."""

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.engine.cluster import DEFAULT_STORAGE_CLASS, LocalCluster, has_condition, production_gateway

pytestmark = pytest.mark.engine

RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted"}
ROLLOUT_TIMEOUT = 30.0
"""Seconds a small workload may take to become Available (kwok marks pods Ready within about a second)."""

NamespaceFactory = Callable[[str, dict[str, str]], str]


@pytest.fixture
def namespace(cluster: LocalCluster) -> Iterator[NamespaceFactory]:
    """Makes uniquely named namespaces (prefix, labels) and deletes them after the test."""
    made: list[str] = []

    def make(prefix: str, labels: dict[str, str]) -> str:
        name = f"{prefix}-{secrets.token_hex(3)}"
        cluster.apply(
            [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}]
        )
        made.append(name)
        return name

    yield make
    if made:
        # The namespace controller finishes the deletion in the background.
        cluster.kubectl("delete", "namespace", "--wait=false", *made)


def deployment(name: str, namespace: str, pod_spec: dict[str, Any], replicas: int = 2) -> dict[str, Any]:
    """A Deployment of ``replicas`` pods with ``pod_spec``, selected by ``app: <name>``."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def restricted_pod_spec() -> dict[str, Any]:
    """A pod that meets the `restricted` Pod Security Standard."""
    return {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "app",
                # Never pulled: kwok plays the kubelet.
                "image": "registry.invalid/app:1.0",
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            }
        ],
    }


def test_api_server_is_ready(cluster: LocalCluster) -> None:
    status, body = cluster.request("/readyz?verbose")

    assert status == 200, body
    assert body.rstrip().endswith("readyz check passed")
    assert "[-]" not in body


def test_restricted_deployment_becomes_available_on_fake_nodes(
    cluster: LocalCluster, namespace: NamespaceFactory
) -> None:
    ns = namespace("spec-rollout", RESTRICTED)

    applied = cluster.apply([deployment("web", ns, restricted_pod_spec(), replicas=2)])

    assert "Warning" not in applied.stderr

    def available() -> bool:
        web = cluster.get(f"/apis/apps/v1/namespaces/{ns}/deployments/web")
        return has_condition(web, "Available") and web["status"].get("readyReplicas") == 2

    cluster.wait_until(available, timeout=ROLLOUT_TIMEOUT, what="Deployment web to be Available with 2 Ready")
    pods = cluster.get(f"/api/v1/namespaces/{ns}/pods", labelSelector="app=web")["items"]
    assert len(pods) == 2
    for pod in pods:
        assert pod["spec"]["nodeName"] in cluster.node_names
        assert pod["status"]["phase"] == "Running"
        assert has_condition(pod, "Ready")


def test_claim_without_class_binds_through_the_default_storage_class(
    cluster: LocalCluster, namespace: NamespaceFactory
) -> None:
    ns = namespace("spec-storage", {})
    cluster.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data", "namespace": ns},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}},
            }
        ]
    )

    def bound() -> dict[str, Any] | None:
        claim = cluster.get(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/data")
        return claim if claim["status"].get("phase") == "Bound" else None

    claim = cluster.wait_until(bound, timeout=ROLLOUT_TIMEOUT, what="claim data to be Bound")
    assert claim["spec"]["storageClassName"] == DEFAULT_STORAGE_CLASS
    volume = cluster.get(f"/api/v1/persistentvolumes/{claim['spec']['volumeName']}")
    assert volume["status"]["phase"] == "Bound"


def test_gateway_api_crds_are_established(cluster: LocalCluster) -> None:
    names = cluster.crd_names()

    crds = [cluster.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}") for name in names]

    assert {"gateways.gateway.networking.k8s.io", "httproutes.gateway.networking.k8s.io"} <= set(names)
    assert [crd["metadata"]["name"] for crd in crds if not has_condition(crd, "Established")] == []


def test_gateway_named_in_the_production_stack_accepts_routes_from_every_namespace(
    cluster: LocalCluster,
) -> None:
    ref = production_gateway()

    gateway = cluster.get(
        f"/apis/gateway.networking.k8s.io/v1/namespaces/{ref.namespace}/gateways/{ref.name}"
    )

    (listener,) = gateway["spec"]["listeners"]
    assert (listener["protocol"], listener["port"]) == ("HTTP", 80)
    assert listener["allowedRoutes"]["namespaces"]["from"] == "All"


def test_pod_violating_restricted_is_warned_about_on_apply_and_refused_by_admission(
    cluster: LocalCluster, namespace: NamespaceFactory
) -> None:
    ns = namespace("spec-podsecurity", RESTRICTED)
    root_pod = {"containers": [{"name": "app", "image": "registry.invalid/app:1.0"}]}

    applied = cluster.apply([deployment("rooted", ns, root_pod, replicas=1)])

    # Accepted with a warning: the Deployment itself is not a pod.
    assert applied.returncode == 0
    assert 'Warning: would violate PodSecurity "restricted:latest"' in applied.stderr
    refused = cluster.wait_for_events(ns, "FailedCreate", timeout=ROLLOUT_TIMEOUT)
    assert any("violates PodSecurity" in event["message"] for event in refused), refused
    assert cluster.get(f"/api/v1/namespaces/{ns}/pods")["items"] == []
