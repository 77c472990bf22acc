"""How the app tracks roll on Docker, and what the router's config names (issue 20, finding 8).

The app track containers have generated names and are replaced create-before-delete;
the router's config lists each container by that name, so a replaced container comes
with a new config. The canary rolls before the stable track, never at the same time.
"""

import yaml

from infra.mockrun import MockedResource, ProgramRun
from infra.render import config_files
from tests.conftest import run_stack

CONTAINER = "docker:index/container:Container"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def router_conf(run: ProgramRun) -> str:
    (upload,) = run.get(CONTAINER, "router-config-writer").inputs["uploads"]
    return str(upload["content"])


def servers(run: ProgramRun) -> list[str]:
    return [
        line.strip()
        for line in router_conf(run).splitlines()
        if line.strip().startswith("server ") and line.endswith(";")
    ]


def generated_name(container: MockedResource) -> str:
    return str(container.state["name"])


def test_router_upstreams_are_the_app_containers_generated_names(staging: ProgramRun) -> None:
    stable, canary = staging.get(CONTAINER, "api-stable"), staging.get(CONTAINER, "api-canary")

    assert servers(staging) == [
        f"server {generated_name(stable)}:8080;",
        f"server {generated_name(canary)}:8080;",
    ]


def test_each_replica_is_its_own_router_server() -> None:
    run = run_stack("staging", overrides={"services.api.stable.replicas": 2})
    replicas = [generated_name(run.get(CONTAINER, f"api-stable-{index}")) for index in range(2)]

    assert len(set(replicas)) == 2
    assert all(f"server {name}:8080;" in servers(run) for name in replicas)


def test_app_containers_keep_their_workload_and_fixed_container_names_as_aliases(staging: ProgramRun) -> None:
    # Other workloads reach the track by `api-stable`; Prometheus scrapes each replica by its old name.
    (network,) = staging.get(CONTAINER, "api-stable").inputs["networksAdvanced"]

    assert network["aliases"] == ["api-stable", "perfstack-staging-api-stable"]


def test_the_stable_track_rolls_only_after_the_canary_on_docker(staging: ProgramRun) -> None:
    stable, canary = staging.get(CONTAINER, "api-stable"), staging.get(CONTAINER, "api-canary")

    assert canary.urn in stable.dependencies
    assert stable.urn not in canary.dependencies


def test_the_stable_track_rolls_only_after_the_canary_on_kubernetes(production: ProgramRun) -> None:
    stable, canary = production.get(DEPLOYMENT, "api-stable"), production.get(DEPLOYMENT, "api-canary")

    assert canary.urn in stable.dependencies


def test_prometheus_scrapes_the_stable_track_first_though_the_canary_rolls_first(staging: ProgramRun) -> None:
    # The order the release before generated names wrote: another one changes Prometheus' config
    # file and so replaces its container on the first `pulumi up` after upgrading.
    config = yaml.safe_load(config_files(staging)["prometheus/prometheus.yml"])
    (app,) = [job for job in config["scrape_configs"] if job["job_name"] == "app"]

    assert [group["targets"] for group in app["static_configs"]] == [["api-stable:8080"], ["api-canary:8080"]]
