"""A private registry's login (`perfstack:registry` + the secret `registryPassword`) on both platforms."""

import base64
import json

import pytest

from infra.mockrun import MockedResource, ProgramRun
from tests.conftest import KNOWN_SECRETS, run_stack

SERVER = "registry.example.internal:5000"
USERNAME = "perfstack-pull"
PASSWORD = "registry-Secret-Value-4716"
REGISTRY = {"registry": {"server": SERVER, "username": USERNAME}}
SECRETS = {**KNOWN_SECRETS, "registryPassword": PASSWORD}
POD_OWNERS = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet")
PULL_SECRET = "registry-credentials"


@pytest.fixture(scope="module")
def production_with_registry() -> ProgramRun:
    return run_stack("production", overrides=REGISTRY, secrets=SECRETS)


@pytest.fixture(scope="module")
def staging_with_registry() -> ProgramRun:
    return run_stack("staging", overrides=REGISTRY, secrets=SECRETS)


def pull_secrets(run: ProgramRun) -> list[MockedResource]:
    return [r for r in run.resources if r.type == "kubernetes:core/v1:Secret" and r.name == PULL_SECRET]


def docker_provider(run: ProgramRun) -> MockedResource:
    (provider,) = [r for r in run.resources if r.type == "pulumi:providers:docker"]
    return provider


def test_kubernetes_gets_a_dockerconfigjson_secret_for_the_server_in_the_namespace(
    production_with_registry: ProgramRun,
) -> None:
    (secret,) = pull_secrets(production_with_registry)
    assert secret.inputs["type"] == "kubernetes.io/dockerconfigjson"
    assert secret.inputs["metadata"]["namespace"] == "perfstack"
    config = json.loads(secret.inputs["stringData"][".dockerconfigjson"])
    auth = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    assert config == {"auths": {SERVER: {"username": USERNAME, "password": PASSWORD, "auth": auth}}}


def test_the_pull_secret_data_is_a_pulumi_secret(production_with_registry: ProgramRun) -> None:
    (secret,) = pull_secrets(production_with_registry)
    assert ("stringData",) in secret.secret_paths


def test_every_pod_template_pulls_with_the_secret(production_with_registry: ProgramRun) -> None:
    (secret,) = pull_secrets(production_with_registry)
    owners = [r for r in production_with_registry.resources if r.type in POD_OWNERS]
    assert owners
    referenced = {r.name: r.inputs["spec"]["template"]["spec"].get("imagePullSecrets") for r in owners}
    # Auto-named: the program hands every pod the name the Secret was given.
    name = next(iter(referenced.values()))[0]["name"]
    assert name.startswith(f"{secret.name}-")
    assert referenced == {owner: [{"name": name}] for owner in referenced}


def test_the_docker_provider_logs_in_to_the_server_with_the_secret_password(
    staging_with_registry: ProgramRun,
) -> None:
    provider = docker_provider(staging_with_registry)
    (auth,) = json.loads(provider.inputs["registryAuth"])
    assert auth == {"address": SERVER, "username": USERNAME, "password": PASSWORD}
    assert ("registryAuth",) in provider.secret_paths


def test_without_a_registry_no_pod_pulls_with_a_secret_and_the_engine_logs_in_nowhere(
    production: ProgramRun, staging: ProgramRun
) -> None:
    assert pull_secrets(production) == []
    owners = [r for r in production.resources if r.type in POD_OWNERS]
    assert owners
    assert [r.name for r in owners if r.inputs["spec"]["template"]["spec"].get("imagePullSecrets")] == []
    assert "registryAuth" not in docker_provider(staging).inputs
