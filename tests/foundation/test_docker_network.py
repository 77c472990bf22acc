"""The stack's Docker network: what upgrading keeps, and the range `docker.subnet` chooses."""

from infra.mockrun import ProgramRun
from tests.conftest import run_stack

NETWORK = "docker:index/network:Network"


def test_upgrading_replaces_no_network(staging: ProgramRun) -> None:
    # The staging network exactly as the release before generated app container names declared it
    # (main at ed757b9): a change to any of these inputs replaces the network, and every container
    # on it with it, delete-before-replace.
    assert staging.get(NETWORK, "network").inputs == {
        "name": "perfstack-staging",
        "driver": "bridge",
        "ipamConfigs": [
            {"subnet": "172.16.208.0/20", "ipRange": "172.16.208.0/21", "gateway": "172.16.208.1"}
        ],
    }


def test_docker_subnet_chooses_the_range_docker_hands_out_from_its_lower_half() -> None:
    run = run_stack("staging", overrides={"docker.subnet": "10.20.30.0/24"})

    (ipam,) = run.get(NETWORK, "network").inputs["ipamConfigs"]
    assert ipam == {"subnet": "10.20.30.0/24", "ipRange": "10.20.30.0/25", "gateway": "10.20.30.1"}
