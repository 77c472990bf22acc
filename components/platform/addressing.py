"""Fixed container addresses on the Docker platform's network (pure).

The stack's Docker network has an explicit subnet split in two halves: Docker
hands out addresses dynamically from the lower half only (``ip_range``, the
gateway included), and workloads that ask for a fixed address get one in the
upper half, derived from their own name. A container replaced by a new
version therefore comes back at the address it had, which is what lets the
traffic router hold keep-alive connections to literal addresses instead of
resolving names per request. The address depends on nothing but the name and
the subnet, so adding a service never moves another; two names that land on
the same address are reported, never silently shifted.
"""

import hashlib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

DEFAULT_SUBNET = "172.16.208.0/20"
"""Outside Docker's default pools (172.17-31.0.0/16, 192.168.0.0/16) and the /24s common in examples."""
MAX_PREFIX = 24
"""The smallest subnet accepted (a /24: 127 fixed addresses); smaller ones make collisions likely."""
MIN_PREFIX = 16
"""The largest subnet accepted (a /16)."""


class AddressCollision(ValueError):
    """Two workloads would get the same fixed address."""


def parse_subnet(value: str) -> IPv4Network:
    """``value`` as an IPv4 network between /16 and /24 without host bits; ValueError otherwise."""
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an IPv4 network such as '172.16.208.0/20': {exc}") from None
    if not isinstance(network, IPv4Network):
        raise ValueError(f"{value!r} is not an IPv4 network (the stack's Docker network is IPv4 only)")
    if not MIN_PREFIX <= network.prefixlen <= MAX_PREFIX:
        raise ValueError(
            f"{value!r} is a /{network.prefixlen}: use a /{MIN_PREFIX} to /{MAX_PREFIX}, so that its upper "
            "half has room for the fixed addresses"
        )
    return network


def instance_names(workload: str, replicas: int) -> list[str]:
    """The name of each replica of ``workload``: the name itself, or ``<name>-<index>`` for several."""
    if replicas == 1:
        return [workload]
    return [f"{workload}-{index}" for index in range(replicas)]


@dataclass(frozen=True)
class AddressPlan:
    """How one subnet is shared between Docker's dynamic addresses and the fixed ones."""

    subnet: IPv4Network

    @classmethod
    def of(cls, subnet: str) -> "AddressPlan":
        """The plan of a subnet given as text ('172.16.208.0/20'); ValueError if it is not usable."""
        return cls(parse_subnet(subnet))

    @property
    def dynamic_range(self) -> IPv4Network:
        """The lower half: Docker's ``ip_range``, where it allocates every address not fixed here."""
        return next(self.subnet.subnets(prefixlen_diff=1))

    @property
    def fixed_range(self) -> IPv4Network:
        """The upper half: the addresses derived from names."""
        return list(self.subnet.subnets(prefixlen_diff=1))[1]

    @property
    def gateway(self) -> IPv4Address:
        """The bridge's own address: the first host address, inside the dynamic half."""
        return self.subnet.network_address + 1

    def fixed_address(self, name: str) -> IPv4Address:
        """The address of ``name``: a hash of the name into the upper half (never its broadcast address)."""
        fixed = self.fixed_range
        # The subnet's broadcast address is the last one of the upper half.
        slots = fixed.num_addresses - 1
        digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
        return fixed.network_address + digest % slots

    def assign(self, names: Iterable[str]) -> dict[str, IPv4Address]:
        """Each name's fixed address; AddressCollision naming both when two names share one."""
        owners: dict[IPv4Address, str] = {}
        assigned: dict[str, IPv4Address] = {}
        for name in names:
            address = self.fixed_address(name)
            other = owners.get(address)
            if other is not None and other != name:
                raise self.collision(other, name, address)
            owners[address] = name
            assigned[name] = address
        return assigned

    def collision(self, first: str, second: str, address: IPv4Address) -> AddressCollision:
        """The error for two names that hash to one address: both names, the address, and the way out."""
        return AddressCollision(
            f"containers {first!r} and {second!r} would both get the fixed address {address} "
            f"(derived from their names in {self.subnet}): rename one of the services, or use a "
            "larger subnet (every fixed address then moves once)"
        )
