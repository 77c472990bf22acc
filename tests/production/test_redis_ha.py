"""Production Redis: data nodes and Sentinels as the failover test runs them."""

from pathlib import Path

from infra.mockrun import ProgramRun
from infra.render import config_files
from tests.conftest import run_stack

STATEFULSET = "kubernetes:apps/v1:StatefulSet"
BOOTSTRAP = Path(__file__).resolve().parents[2] / "components" / "redis" / "bootstrap.sh"


def pod(run: ProgramRun, name: str) -> dict:
    return run.get(STATEFULSET, name).inputs["spec"]["template"]["spec"]


def env(run: ProgramRun, name: str) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in pod(run, name)["containers"][0]["env"]}


def test_three_data_nodes_and_three_sentinels(production: ProgramRun) -> None:
    replicas = {
        name: production.get(STATEFULSET, name).inputs["spec"]["replicas"]
        for name in ("redis", "redis-sentinel")
    }
    assert replicas == {"redis": 3, "redis-sentinel": 3}


def test_every_data_node_has_its_own_claim(production: ProgramRun) -> None:
    claims = production.get(STATEFULSET, "redis").inputs["spec"]["volumeClaimTemplates"]
    assert [c["metadata"]["name"] for c in claims] == ["data"]


def test_pods_start_through_the_tested_bootstrap_script(production: ProgramRun) -> None:
    files = config_files(production)
    assert files["redis/perfstack-bootstrap.sh"] == BOOTSTRAP.read_text()
    for name, role in (("redis", "redis"), ("redis-sentinel", "sentinel")):
        assert pod(production, name)["containers"][0]["command"] == [
            "sh",
            "/usr/local/bin/perfstack-bootstrap.sh",
            role,
        ]


def test_data_nodes_bound_data_loss_with_min_replicas(production: ProgramRun) -> None:
    conf = config_files(production)["redis/redis.conf"]
    assert "min-replicas-to-write 1\n" in conf
    assert "min-replicas-max-lag 10\n" in conf


def test_sentinel_config_monitors_pod_zero_without_a_password(production: ProgramRun) -> None:
    conf = config_files(production)["redis/sentinel.conf"]
    assert "sentinel monitor perfstack redis-0.redis-headless 6379 2" in conf
    assert "auth-pass" not in conf
    assert "requirepass" not in conf


def test_pods_know_their_own_stable_name(production: ProgramRun) -> None:
    for name in ("redis", "redis-sentinel"):
        first = pod(production, name)["containers"][0]["env"][0]
        assert first == {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
        assert env(production, name)["MY_HOST"] == f"$(POD_NAME).{name}-headless"


def test_app_finds_the_master_through_sentinel(production: ProgramRun) -> None:
    container = production.get("kubernetes:apps/v1:Deployment", "api-stable").inputs["spec"]["template"][
        "spec"
    ]["containers"][0]
    app_env = {e["name"]: e["value"] for e in container["env"]}
    assert app_env["REDIS_MASTER_NAME"] == "perfstack"
    assert app_env["REDIS_SENTINELS"] == ",".join(
        f"redis-sentinel-{i}.redis-sentinel-headless:26379" for i in range(3)
    )


def test_replicas_spread_over_nodes(production: ProgramRun) -> None:
    for name in ("redis", "redis-sentinel"):
        terms = pod(production, name)["affinity"]["podAntiAffinity"][
            "preferredDuringSchedulingIgnoredDuringExecution"
        ]
        assert terms[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"


def test_peers_resolve_before_they_are_ready(production: ProgramRun) -> None:
    for name in ("redis", "redis-sentinel"):
        spec = production.get("kubernetes:core/v1:Service", f"{name}-headless").inputs["spec"]
        assert (spec["clusterIP"], spec["publishNotReadyAddresses"]) == ("None", True)
        assert production.get(STATEFULSET, name).inputs["spec"]["serviceName"] == f"{name}-headless"


def test_sentinels_start_in_parallel(production: ProgramRun) -> None:
    assert production.get(STATEFULSET, "redis-sentinel").inputs["spec"]["podManagementPolicy"] == "Parallel"


def test_staging_keeps_a_single_node(staging: ProgramRun) -> None:
    names = {r.name for r in staging.of_type("docker:index/container:Container")}
    assert "redis" in names
    assert not [n for n in names if "sentinel" in n]


def test_redis_memory_follows_maxmemory_when_resources_are_not_set() -> None:
    run = run_stack("production", overrides={"redis.maxmemory": "2gb", "redis.storageSize": "8Gi"})
    (container,) = run.get("kubernetes:apps/v1:StatefulSet", "redis").inputs["spec"]["template"]["spec"][
        "containers"
    ]

    # 2gb = 2048 MiB: request x1.25, limit x2.5 for a fork that copies every page of the data.
    assert container["resources"]["requests"]["memory"] == "2560Mi"
    assert container["resources"]["limits"]["memory"] == "5120Mi"
