"""The whole program under mocks, for each committed stack file."""

from infra.mockrun import ProgramRun
from infra.render import resource_list

DOCKER_CONTAINER = "docker:index/container:Container"


def component_names(run: ProgramRun) -> set[tuple[str, str]]:
    return {(r.type, r.name) for r in run.resources if r.type.startswith("perfstack:")}


def test_staging_runs_on_the_docker_platform(staging: ProgramRun) -> None:
    assert staging.exports["platform"] == "docker"
    assert ("perfstack:platform:Docker", "platform") in component_names(staging)
    assert not [r for r in staging.resources if r.type.startswith("kubernetes:")]


def test_production_runs_on_the_kubernetes_platform(production: ProgramRun) -> None:
    assert production.exports["platform"] == "kubernetes"
    assert ("perfstack:platform:Kubernetes", "platform") in component_names(production)
    assert not [r for r in production.resources if r.type.startswith("docker:")]


def test_only_components_sit_directly_under_the_stack(stack_run: ProgramRun) -> None:
    top_level = {r.type for r in stack_run.resources if "::pulumi:pulumi:Stack::" in (r.parent or "")}
    assert top_level
    assert all(t.startswith("perfstack:") for t in top_level), top_level


def test_docker_containers_are_delete_before_replace_except_the_app_tracks(staging: ProgramRun) -> None:
    # A fixed container name (or host port) clashes with a second container beside it; the app
    # tracks have generated names, so the new container runs before the old one goes.
    containers = staging.of_type(DOCKER_CONTAINER)
    create_first = {c.name for c in containers if not c.delete_before_replace}

    assert create_first == {"api-stable", "api-canary"}
    for name in create_first:
        track = staging.get(DOCKER_CONTAINER, name).inputs
        assert "name" not in track
        assert track["wait"] is True  # healthy before anything after it, or the old one's delete
        assert track["destroyGraceSeconds"] >= 30  # the old one drains before it is killed


def test_docker_containers_join_the_stack_network_under_their_workload_name(staging: ProgramRun) -> None:
    redis = staging.get(DOCKER_CONTAINER, "redis")
    assert redis.inputs["name"] == "perfstack-staging-redis"
    assert redis.inputs["networksAdvanced"][0]["aliases"] == ["redis"]


def test_kubernetes_objects_live_in_the_stack_namespace(production: ProgramRun) -> None:
    namespaced = [
        r
        for r in production.resources
        if r.type.startswith("kubernetes:") and r.type != "kubernetes:core/v1:Namespace"
    ]
    assert namespaced
    assert {r.inputs["metadata"]["namespace"] for r in namespaced} == {"perfstack"}


def test_namespace_enforces_restricted_pod_security(production: ProgramRun) -> None:
    namespace = production.get("kubernetes:core/v1:Namespace", "namespace")
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_redis_is_a_statefulset_with_a_data_claim(production: ProgramRun) -> None:
    redis = production.get("kubernetes:apps/v1:StatefulSet", "redis")
    claims = redis.inputs["spec"]["volumeClaimTemplates"]
    assert [c["metadata"]["name"] for c in claims] == ["data"]
    mounts = redis.inputs["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert {"name": "data", "mountPath": "/data"} in mounts


def test_redis_config_map_holds_no_password(production: ProgramRun) -> None:
    config_map = production.get("kubernetes:core/v1:ConfigMap", "redis-config")
    assert "requirepass" not in config_map.inputs["data"]["redis.conf"]
    assert "include /run/secrets/perfstack/redis-auth.conf" in config_map.inputs["data"]["redis.conf"]


def test_redis_password_reaches_the_pod_only_through_a_secret(production: ProgramRun) -> None:
    secret = production.get("kubernetes:core/v1:Secret", "redis-secrets")
    assert ("stringData",) in secret.secret_paths
    pod = production.get("kubernetes:apps/v1:StatefulSet", "redis").inputs["spec"]["template"]["spec"]
    secret_volume = next(v for v in pod["volumes"] if "secret" in v)
    assert secret_volume["secret"]["secretName"] == secret.state["metadata"]["name"]


def test_every_kubernetes_container_has_requests_and_limits(production: ProgramRun) -> None:
    for workload in production.resources:
        if workload.type in ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet"):
            for container in workload.inputs["spec"]["template"]["spec"]["containers"]:
                resources = container["resources"]
                assert set(resources["requests"]) == {"cpu", "memory"}, workload.name
                assert set(resources["limits"]) == {"cpu", "memory"}, workload.name


def test_redis_has_a_health_check_on_both_platforms(staging: ProgramRun, production: ProgramRun) -> None:
    container = staging.get(DOCKER_CONTAINER, "redis")
    assert "redis-cli" in " ".join(container.inputs["healthcheck"]["tests"])
    pod = production.get("kubernetes:apps/v1:StatefulSet", "redis").inputs["spec"]["template"]["spec"]
    assert "redis-cli" in " ".join(pod["containers"][0]["readinessProbe"]["exec"]["command"])


def test_resource_listing_does_not_depend_on_registration_order(staging: ProgramRun) -> None:
    # The engine registers resources concurrently; two renders must still be identical.
    reversed_run = ProgramRun(resources=list(reversed(staging.resources)), exports=staging.exports)
    assert resource_list(reversed_run) == resource_list(staging)
