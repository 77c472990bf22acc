"""The address range of the Docker platform's network (pure).

The network has an explicit subnet (``perfstack:docker.subnet``), so a stack
can stay clear of the host's LANs and VPN. Docker hands out addresses from its
lower half only (``ip_range``), the gateway included. The upper half once held
fixed app container addresses and is unused now; ``ip_range`` still stops at
the lower half because a change to a network's IPAM config replaces the
network, and every container on it with it.
"""

import ipaddress
from ipaddress import IPv4Address, IPv4Network

DEFAULT_SUBNET = "172.16.208.0/20"
"""Outside Docker's default pools (172.17-31.0.0/16, 192.168.0.0/16) and the /24s common in examples."""
MAX_PREFIX = 24
"""The smallest subnet accepted (a /24: 126 addresses for Docker to hand out)."""
MIN_PREFIX = 16
"""The largest subnet accepted (a /16)."""


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
            f"{value!r} is a /{network.prefixlen}: use a /{MIN_PREFIX} to /{MAX_PREFIX} (Docker hands out "
            "addresses from its lower half only)"
        )
    return network


def dynamic_range(subnet: IPv4Network) -> IPv4Network:
    """The lower half of ``subnet``: Docker's ``ip_range``, where it allocates every address."""
    return next(subnet.subnets(prefixlen_diff=1))


def gateway(subnet: IPv4Network) -> IPv4Address:
    """The bridge's own address: the first host address, inside the dynamic range."""
    return subnet.network_address + 1
