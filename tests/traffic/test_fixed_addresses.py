"""Fixed app container addresses on Docker: where they come from, that they hold still, and collisions."""

import itertools
from ipaddress import IPv4Address

import pytest

from components.platform.addressing import DEFAULT_SUBNET, AddressCollision, AddressPlan
from infra.loader import ConfigError
from infra.mockrun import MockedResource, ProgramRun
from tests.conftest import run_stack

CONTAINER = "docker:index/container:Container"
NETWORK = "docker:index/network:Network"
PLAN = AddressPlan.of(DEFAULT_SUBNET)
WORKER = {"image": "ghcr.io/example/worker", "stable": {"version": "2.0.0"}}


def address_of(container: MockedResource) -> str | None:
    return container.inputs["networksAdvanced"][0].get("ipv4Address")


def router_conf(run: ProgramRun) -> str:
    (upload,) = run.get(CONTAINER, "router").inputs["uploads"]
    return upload["content"]


def colliding_names(plan: AddressPlan, count: int = 2) -> list[str]:
    """``count`` service names whose stable containers hash to the same address in ``plan``."""
    seen: dict[IPv4Address, list[str]] = {}
    for index in itertools.count():
        name = f"svc{index}"
        names = seen.setdefault(plan.fixed_address(f"{name}-stable"), [])
        names.append(name)
        if len(names) == count:
            return names
    raise AssertionError("unreachable")


def test_fixed_addresses_are_in_the_upper_half_and_never_its_broadcast_address() -> None:
    plan = AddressPlan.of("10.20.30.0/24")
    addresses = {plan.fixed_address(f"service{index}-stable") for index in range(2000)}

    assert all(address in plan.fixed_range for address in addresses)
    assert plan.subnet.broadcast_address not in addresses
    assert len(addresses) == plan.fixed_range.num_addresses - 1  # every usable slot is reachable


def test_docker_network_hands_out_dynamic_addresses_from_the_lower_half_only(staging: ProgramRun) -> None:
    (ipam,) = staging.get(NETWORK, "network").inputs["ipamConfigs"]

    assert ipam == {"subnet": "172.16.208.0/20", "ipRange": "172.16.208.0/21", "gateway": "172.16.208.1"}


def test_app_track_containers_get_the_address_derived_from_their_name(staging: ProgramRun) -> None:
    for track in ("api-stable", "api-canary"):
        assert address_of(staging.get(CONTAINER, track)) == str(PLAN.fixed_address(track))


def test_router_upstreams_are_the_app_containers_fixed_addresses(staging: ProgramRun) -> None:
    servers = [line.strip() for line in router_conf(staging).splitlines() if line.endswith(":8080;")]

    assert servers == [
        f"server {address_of(staging.get(CONTAINER, 'api-stable'))}:8080;",
        f"server {address_of(staging.get(CONTAINER, 'api-canary'))}:8080;",
    ]


def test_adding_a_service_moves_no_existing_address(staging: ProgramRun) -> None:
    more = run_stack("staging", overrides={"services.worker": WORKER})

    for track in ("api-stable", "api-canary"):
        assert address_of(more.get(CONTAINER, track)) == address_of(staging.get(CONTAINER, track))


def test_each_replica_gets_its_own_address_and_router_server() -> None:
    run = run_stack("staging", overrides={"services.api.stable.replicas": 2})
    replicas = [address_of(run.get(CONTAINER, f"api-stable-{index}")) for index in range(2)]

    assert len(set(replicas)) == 2
    assert all(f"server {address}:8080;" in router_conf(run) for address in replicas)


def test_two_names_on_one_address_are_reported_naming_both() -> None:
    plan = AddressPlan.of("10.20.30.0/24")
    first, second = colliding_names(plan)

    with pytest.raises(AddressCollision, match=f"'{first}-stable' and '{second}-stable'"):
        plan.assign([f"{first}-stable", f"{second}-stable"])


def test_services_whose_containers_collide_are_refused_before_anything_is_declared() -> None:
    subnet = "10.20.30.0/24"
    first, second = colliding_names(AddressPlan.of(subnet))
    declared: list[MockedResource] = []

    with pytest.raises(ConfigError) as error:
        run_stack(
            "staging",
            overrides={"docker.subnet": subnet, f"services.{first}": WORKER, f"services.{second}": WORKER},
            declared=declared,
        )

    assert f"perfstack:docker.subnet: containers '{first}-stable' and '{second}-stable'" in str(error.value)
    assert declared == []


@pytest.mark.parametrize(
    "subnet", ["172.16.208.1/20", "10.0.0.0/8", "10.0.0.0/28", "fd00::/64", "not-a-subnet"]
)
def test_subnet_that_is_not_a_plain_ipv4_16_to_24_is_refused(subnet: str) -> None:
    with pytest.raises(ConfigError, match=r"perfstack:docker\.subnet: "):
        run_stack("staging", overrides={"docker.subnet": subnet})
