"""The registry login's Secret and a pod template that names it, as the real API server takes them.

The API server validates a `kubernetes.io/dockerconfigjson` Secret (its
`.dockerconfigjson` must be a Docker config in JSON), and the ReplicaSet
controller copies the template's `imagePullSecrets` into each pod, which is
where the kubelet reads it. The objects are the production program's under
mocks with `perfstack:registry` set, in a namespace of their own.
"""

import base64
import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from infra.render import manifests
from tests.conftest import run_stack
from tests.engine.cluster import LocalCluster
from tests.foundation.test_registry import PASSWORD, PULL_SECRET, REGISTRY, SECRETS, SERVER, USERNAME

pytestmark = pytest.mark.engine

WORKLOAD = "api-stable"
"""A Deployment of the stack that needs no ServiceAccount or other object to get its pods created."""
PODS_TIMEOUT_S = 30.0


@pytest.fixture
def applied(cluster: LocalCluster) -> Iterator[tuple[str, str]]:
    """The pull Secret and the WORKLOAD Deployment applied: (namespace, the Secret's name)."""
    run = run_stack("production", overrides=REGISTRY, secrets=SECRETS)
    namespace = f"registry-{secrets.token_hex(3)}"
    (secret,) = [r for r in run.resources if r.type == "kubernetes:core/v1:Secret" and r.name == PULL_SECRET]
    (deployment,) = [
        m for m in manifests(run).values() if m["kind"] == "Deployment" and m["metadata"]["name"] == WORKLOAD
    ]
    (reference,) = deployment["spec"]["template"]["spec"]["imagePullSecrets"]
    pull_secret: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": reference["name"], "namespace": namespace},
        "type": secret.inputs["type"],
        # The value itself: the render masks it.
        "stringData": secret.inputs["stringData"],
    }
    deployment["metadata"]["namespace"] = namespace
    namespace_object = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    cluster.apply([namespace_object, pull_secret, deployment])
    try:
        yield namespace, reference["name"]
    finally:
        cluster.kubectl("delete", "namespace", "--wait=false", namespace)


def test_the_api_server_takes_the_pull_secret_as_a_docker_config(
    cluster: LocalCluster, applied: tuple[str, str]
) -> None:
    namespace, name = applied
    stored = cluster.get(f"/api/v1/namespaces/{namespace}/secrets/{name}")
    assert stored["type"] == "kubernetes.io/dockerconfigjson"
    config = json.loads(base64.b64decode(stored["data"][".dockerconfigjson"]))
    assert config["auths"][SERVER]["username"] == USERNAME
    assert config["auths"][SERVER]["password"] == PASSWORD


def test_every_pod_of_the_deployment_names_the_pull_secret(
    cluster: LocalCluster, applied: tuple[str, str]
) -> None:
    namespace, name = applied

    def pods() -> list[dict[str, Any]]:
        return cluster.get(f"/api/v1/namespaces/{namespace}/pods")["items"]

    cluster.wait_until(lambda: bool(pods()), timeout=PODS_TIMEOUT_S, what=f"pods of {WORKLOAD}")
    assert [pod["spec"].get("imagePullSecrets") for pod in pods()] == [[{"name": name}]] * len(pods())
