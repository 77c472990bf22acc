"""policy/rules.py: each rule rejects what it forbids and accepts what it allows, and the real stacks pass.

Examples are resource inputs as the engine sends them (camelCase; numbers
arrive as floats). The stack tests feed every resource of a mocked run of
the program through every rule.
"""

from typing import Any

import pytest

from infra.mockrun import MockedResource, ProgramRun
from policy import rules
from tests.conftest import run_stack

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
CRONJOB = "kubernetes:batch/v1:CronJob"
SERVICE = "kubernetes:core/v1:Service"
HTTPROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
CONTAINER = "docker:index/container:Container"

RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}}
MANDATORY_RULES = list(rules.RULES)


def container(name: str = "app", image: str = "ghcr.io/example/api:1.4.2", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": image, "resources": RESOURCES, **fields}


def workload(*containers: dict[str, Any], name: str = "api", **spec: Any) -> dict[str, Any]:
    """Deployment/StatefulSet inputs with the given containers."""
    return {
        "metadata": {"name": name, "namespace": "perfstack"},
        "spec": {"replicas": 1.0, **spec, "template": {"spec": {"containers": list(containers)}}},
    }


def redis_statefulset(replicas: float = 3.0, claims: bool = True, mounted: bool = True) -> dict[str, Any]:
    mounts = [{"name": "data", "mountPath": "/data"}] if mounted else []
    extra: dict[str, Any] = {"serviceName": "redis", "replicas": replicas}
    if claims:
        extra["volumeClaimTemplates"] = [
            {"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "2Gi"}}}}
        ]
    return workload(container("redis", "redis:7.2.7-alpine", volumeMounts=mounts), name="redis", **extra)


def route(*weights: float | None) -> dict[str, Any]:
    refs = []
    for index, weight in enumerate(weights):
        ref: dict[str, Any] = {"name": f"backend-{index}", "port": 8080.0}
        if weight is not None:
            ref["weight"] = weight
        refs.append(ref)
    return {"metadata": {"name": "api"}, "spec": {"rules": [{"backendRefs": refs}]}}


def k8s_env(**values: str) -> dict[str, Any]:
    return workload(container(env=[{"name": k, "value": v} for k, v in values.items()]))


# --- pinned-image-tags -------------------------------------------------------------


def test_a_version_tagged_image_passes() -> None:
    assert rules.check_image(DEPLOYMENT, "api", workload(container())) == []


def test_a_latest_image_is_rejected() -> None:
    (message,) = rules.check_image(DEPLOYMENT, "api", workload(container(image="redis:latest")))

    assert "'redis:latest' is tagged latest" in message


def test_an_untagged_image_is_rejected() -> None:
    (message,) = rules.check_image(DEPLOYMENT, "api", workload(container(image="ghcr.io/example/api")))

    assert "untagged" in message


def test_a_registry_port_is_not_taken_for_a_tag() -> None:
    assert rules.check_image(DEPLOYMENT, "api", workload(container(image="registry:5000/example/api"))) != []


def test_a_digest_pins_an_image_without_a_tag() -> None:
    image = "ghcr.io/example/api@sha256:" + "a" * 64

    assert rules.check_image(DEPLOYMENT, "api", workload(container(image=image))) == []


def test_init_container_images_are_checked_too() -> None:
    props = workload(container())
    props["spec"]["template"]["spec"]["initContainers"] = [container("init", "busybox")]

    assert len(rules.check_image(DEPLOYMENT, "api", props)) == 1


def test_a_docker_remote_image_tagged_latest_is_rejected() -> None:
    assert rules.check_image(REMOTE_IMAGE, "redis-image", {"name": "redis:latest", "keepLocally": True}) != []


def test_a_docker_remote_image_with_a_version_passes() -> None:
    assert rules.check_image(REMOTE_IMAGE, "redis-image", {"name": "redis:7.2.7-alpine"}) == []


# --- container-resources ---------------------------------------------------------------


def test_a_container_with_requests_and_limits_passes() -> None:
    assert rules.check_container_resources(DEPLOYMENT, "api", workload(container())) == []


def test_a_missing_memory_limit_is_rejected_by_name() -> None:
    resources = {"requests": RESOURCES["requests"], "limits": {"cpu": "1"}}

    (message,) = rules.check_container_resources(DEPLOYMENT, "api", workload(container(resources=resources)))

    assert message == "container 'app' has no resources.limits.memory"


def test_a_container_without_resources_misses_all_four() -> None:
    (message,) = rules.check_container_resources(DEPLOYMENT, "api", workload(container(resources={})))

    assert message.count("resources.") == 4


def test_a_cronjob_container_is_found_under_its_job_template() -> None:
    props = {
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [container(resources={})]}}}}}
    }

    assert rules.check_container_resources(CRONJOB, "backup", props) != []


def test_non_workloads_have_no_containers_to_check() -> None:
    assert rules.check_container_resources(SERVICE, "api", {"spec": {"type": "ClusterIP"}}) == []


# --- redis-persistence -----------------------------------------------------------------


def test_a_redis_statefulset_mounting_its_claim_passes() -> None:
    assert rules.check_redis_persistence(STATEFULSET, "redis", redis_statefulset()) == []


def test_redis_as_a_deployment_is_rejected() -> None:
    (message,) = rules.check_redis_persistence(
        DEPLOYMENT, "redis", workload(container("redis"), name="redis")
    )

    assert "runs as a Deployment" in message


def test_a_redis_statefulset_without_claims_is_rejected() -> None:
    assert rules.check_redis_persistence(STATEFULSET, "redis", redis_statefulset(claims=False)) != []


def test_a_redis_statefulset_that_never_mounts_its_claim_is_rejected() -> None:
    assert rules.check_redis_persistence(STATEFULSET, "redis", redis_statefulset(mounted=False)) != []


def test_redis_persistence_applies_to_redis_only() -> None:
    assert rules.check_redis_persistence(DEPLOYMENT, "api", workload(container())) == []


def test_a_docker_redis_container_with_a_named_volume_passes() -> None:
    props = {"volumes": [{"volumeName": "perfstack-staging-redis-data", "containerPath": "/data"}]}

    assert rules.check_redis_persistence(CONTAINER, "redis", props) == []


def test_a_docker_redis_container_without_a_volume_is_rejected() -> None:
    assert rules.check_redis_persistence(CONTAINER, "redis", {"volumes": []}) != []


# --- redis-sentinel-ha -----------------------------------------------------------------


def test_a_three_node_redis_statefulset_passes() -> None:
    assert rules.check_redis_ha(STATEFULSET, "redis", redis_statefulset(replicas=3.0)) == []


def test_a_single_node_redis_statefulset_is_rejected() -> None:
    (message,) = rules.check_redis_ha(STATEFULSET, "redis", redis_statefulset(replicas=1.0))

    assert "runs 1 replica(s)" in message


def test_an_unset_replica_count_counts_as_one() -> None:
    props = redis_statefulset()
    del props["spec"]["replicas"]

    assert rules.check_redis_ha(STATEFULSET, "redis", props) != []


def test_other_statefulsets_need_no_quorum() -> None:
    assert rules.check_redis_ha(STATEFULSET, "prometheus", workload(container(), name="prometheus")) == []


# --- no-external-service-types -----------------------------------------------------------


@pytest.mark.parametrize("service_type", ["LoadBalancer", "NodePort"])
def test_externally_reachable_services_are_rejected(service_type: str) -> None:
    props = {"metadata": {"name": "api"}, "spec": {"type": service_type}}

    (message,) = rules.check_service_type(SERVICE, "api", props)

    assert f"Service type {service_type}" in message


@pytest.mark.parametrize("spec", [{"type": "ClusterIP"}, {"type": "ClusterIP", "clusterIP": "None"}, {}])
def test_cluster_internal_services_pass(spec: dict[str, str]) -> None:
    assert rules.check_service_type(SERVICE, "redis", {"spec": spec}) == []


# --- no-plaintext-secret-env -------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "REDIS_PASSWORD",
        "CLIENT_SECRET",
        "GITHUB_TOKEN",
        "OPENAI_API_KEY",
        "SLACK_WEBHOOK_URL",
        "PAGERDUTY_ROUTING_KEY",
    ],
)
def test_a_secret_looking_name_with_a_plaintext_value_is_rejected(name: str) -> None:
    (message,) = rules.check_plaintext_secrets(DEPLOYMENT, "api", k8s_env(**{name: "s3cr3t-value"}))

    assert f"{name} looks like a secret" in message


def test_a_file_variable_pointing_at_a_mounted_secret_passes() -> None:
    props = k8s_env(REDIS_PASSWORD_FILE="/run/secrets/perfstack/redis-password")

    assert rules.check_plaintext_secrets(DEPLOYMENT, "api", props) == []


def test_a_file_variable_holding_the_secret_itself_is_rejected() -> None:
    assert rules.check_plaintext_secrets(DEPLOYMENT, "api", k8s_env(REDIS_PASSWORD_FILE="hunter2")) != []


def test_a_secret_key_reference_passes() -> None:
    env = [{"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "redis", "key": "password"}}}]

    assert rules.check_plaintext_secrets(DEPLOYMENT, "api", workload(container(env=env))) == []


def test_a_slack_webhook_url_is_rejected_whatever_the_name() -> None:
    props = k8s_env(NOTIFY_URL="https://hooks.slack.com/services/T000/B000/XXXXXXXX")

    (message,) = rules.check_plaintext_secrets(DEPLOYMENT, "api", props)

    assert "Slack webhook URL" in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FEATURE_TOKEN_BUDGET", "true"),
        ("FF_TOKEN_BUDGET", "25"),
        ("MAX_TOKENS", "4096"),
        ("REDIS_HOST", "redis"),
    ],
)
def test_feature_flags_and_ordinary_settings_pass(name: str, value: str) -> None:
    assert rules.check_plaintext_secrets(DEPLOYMENT, "api", k8s_env(**{name: value})) == []


def test_docker_envs_with_a_plaintext_token_are_rejected() -> None:
    props = {"envs": ["APP_TRACK=stable", "SLACK_API_TOKEN=xoxb-123"]}

    (message,) = rules.check_plaintext_secrets(CONTAINER, "api-stable", props)

    assert "SLACK_API_TOKEN looks like a secret" in message


def test_docker_envs_with_a_secret_file_path_pass() -> None:
    props = {"envs": ["REDIS_PASSWORD_FILE=/run/secrets/perfstack/redis-password"]}

    assert rules.check_plaintext_secrets(CONTAINER, "api-stable", props) == []


# --- canary-weights --------------------------------------------------------------------


@pytest.mark.parametrize("weights", [(90.0, 10.0), (100.0, 0.0), (50, 25, 25)])
def test_a_split_adding_up_to_100_passes(weights: tuple[float, ...]) -> None:
    assert rules.check_canary_weights(HTTPROUTE, "api-route", route(*weights)) == []


def test_a_split_not_adding_up_to_100_is_rejected() -> None:
    (message,) = rules.check_canary_weights(HTTPROUTE, "api-route", route(80.0, 10.0))

    assert "add up to 90, not 100" in message


@pytest.mark.parametrize("weight", [150.0, -10.0, 12.5, "10"])
def test_a_weight_outside_0_to_100_is_rejected(weight: object) -> None:
    (message,) = rules.check_canary_weights(HTTPROUTE, "api-route", route(100.0, weight))  # type: ignore[arg-type]

    assert "not a whole number 0..100" in message


def test_a_split_with_an_implicit_weight_is_rejected() -> None:
    assert rules.check_canary_weights(HTTPROUTE, "api-route", route(90.0, None)) != []


def test_a_single_backend_needs_no_weight() -> None:
    assert rules.check_canary_weights(HTTPROUTE, "api-route", route(None)) == []


# --- the committed stacks ------------------------------------------------------------------


def violations(run: ProgramRun, rule: rules.Rule) -> list[str]:
    return [
        f"{resource.type} {resource.name}: {message}"
        for resource in run.resources
        for message in rule.check(resource.type, resource.name, resource.inputs)
    ]


@pytest.mark.parametrize("rule", MANDATORY_RULES, ids=lambda rule: rule.name)
def test_every_resource_of_each_stack_passes_every_mandatory_rule(
    stack_run: ProgramRun, rule: rules.Rule
) -> None:
    assert violations(stack_run, rule) == []


def test_the_production_stack_gives_every_rule_something_to_check(production: ProgramRun) -> None:
    types = {resource.type for resource in production.resources}

    assert {DEPLOYMENT, STATEFULSET, SERVICE, HTTPROUTE} <= types
    assert any(r.type == STATEFULSET and r.name == "redis" for r in production.resources)


def test_the_staging_stack_gives_the_docker_rules_something_to_check(staging: ProgramRun) -> None:
    assert {REMOTE_IMAGE, CONTAINER} <= {resource.type for resource in staging.resources}


def test_the_kill_switched_production_stack_passes_every_mandatory_rule() -> None:
    """The emergency rollback (every canary weight 0) must not be blocked by the pack."""
    run = run_stack("production", overrides={"killSwitch": True})

    assert [v for rule in MANDATORY_RULES for v in violations(run, rule)] == []


def test_mocked_resources_carry_what_the_rules_read(production: ProgramRun) -> None:
    """The stack tests read `.inputs`, the camelCase inputs the engine would hand the pack."""
    redis: MockedResource = production.get(STATEFULSET, "redis")

    assert redis.inputs["spec"]["volumeClaimTemplates"]
