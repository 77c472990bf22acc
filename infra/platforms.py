"""Stack config for the two platforms: where the stack runs."""

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator, Field

from components.platform.addressing import DEFAULT_SUBNET, parse_subnet
from components.platform.settings import ConfigModel

DnsLabel = Annotated[str, Field(pattern=r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")]
"""A lowercase DNS label (RFC 1123): Kubernetes object and namespace names."""

HostPort = Annotated[int, Field(ge=1, le=65535)]


def _ip_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not an IP address: e.g. 127.0.0.1 (this host only) or 0.0.0.0 (every interface)"
        ) from None
    return value


HostAddress = Annotated[str, AfterValidator(_ip_address)]
"""An address of the Docker host that published ports bind to."""

# Kubernetes label syntax: an optional DNS-subdomain prefix and "/", then a name of at most 63
# characters; values are at most 63 characters of the same alphabet, or empty.
_LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_KEY = re.compile(rf"^([a-z0-9]([-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_LABEL_NAME}$")
_LABEL_VALUE = re.compile(rf"^({_LABEL_NAME})?$")


def _pod_labels(labels: dict[str, str]) -> dict[str, str]:
    for key, value in labels.items():
        if not _LABEL_KEY.match(key):
            raise ValueError(
                f"{key!r} is not a Kubernetes label key: [prefix/]name, the name at most 63 letters, "
                "digits, '-', '_' or '.' starting and ending with a letter or digit"
            )
        if not _LABEL_VALUE.match(value):
            raise ValueError(
                f"label {key!r}: {value!r} is not a Kubernetes label value: at most 63 letters, "
                "digits, '-', '_' or '.' starting and ending with a letter or digit"
            )
    return labels


PodLabels = Annotated[dict[str, str], AfterValidator(_pod_labels)]
"""Kubernetes labels that select pods, e.g. {'app.kubernetes.io/name': 'envoy'}."""


class DockerPorts(ConfigModel):
    """Host ports the Docker host publishes: the router's on `publishAddress`, the others on
    `uiAddress`; null publishes none for that workload."""

    router: HostPort | None = 8080
    """The nginx traffic router: the application's entry point."""
    grafana: HostPort | None = 3000
    """Grafana's web UI."""
    prometheus: HostPort | None = 9090
    """Prometheus' web UI and API."""
    alertmanager: HostPort | None = 9093
    """Alertmanager's web UI and API."""
    jaeger: HostPort | None = 16686
    """The Jaeger query UI."""


class DockerConfig(ConfigModel):
    """The Docker host of a `platform: docker` stack."""

    host: str | None = None
    """Docker engine address (`unix:///var/run/docker.sock`, `ssh://user@host`).

    Unset uses DOCKER_HOST or the local socket.
    """
    publish_address: HostAddress = "127.0.0.1"
    """Host address the router's port (`ports.router`, the application's entry point) binds to; the
    default keeps it off the network, `0.0.0.0` serves every interface. Only the router's: the UIs
    bind to `uiAddress`."""
    ui_address: HostAddress = "127.0.0.1"
    """Host address the ports of Grafana, Prometheus, Alertmanager and Jaeger bind to. Keep it on
    loopback and reach them through an SSH tunnel (`ssh -L 9090:127.0.0.1:9090 <host>`) unless a
    proxy with authentication stands in front: Prometheus, Alertmanager and Jaeger have none of their
    own, and Alertmanager's API creates and deletes silences. A port set to null is not published."""
    ports: DockerPorts = Field(default_factory=DockerPorts)
    """Published host ports."""
    subnet: Annotated[str, AfterValidator(lambda value: str(parse_subnet(value)))] = DEFAULT_SUBNET
    """IPv4 subnet (/16 to /24) of the stack's Docker network: choose one that does not clash with a
    network the host already reaches (its LANs, a VPN). Docker hands out container addresses from its
    lower half. Give each stack on one Docker host its own; changing it replaces the network and every
    container with it (volumes are kept)."""


class GatewayRef(ConfigModel):
    """The Gateway API Gateway that the stack's HTTPRoutes attach to."""

    name: DnsLabel = "perfstack"
    """Name of an existing Gateway (owned by the cluster operator)."""
    namespace: DnsLabel = "gateway"
    """Namespace of that Gateway; it must allow routes from the stack's namespace."""


class IngressPeer(ConfigModel):
    """Pods allowed to open connections to the routed app services: the Gateway's proxies."""

    namespace: DnsLabel
    """Namespace the Gateway's proxy pods run in (for some implementations not the Gateway's own)."""
    pod_labels: PodLabels = Field(default_factory=dict)
    """Labels of those proxy pods; empty admits every pod of the namespace."""


def _some_peers(peers: list[IngressPeer]) -> list[IngressPeer]:
    if not peers:
        raise ValueError(
            "an empty list admits no one and leaves the app unreachable; "
            "remove the key to admit the Gateway's namespace"
        )
    return peers


class KubernetesConfig(ConfigModel):
    """The cluster of a `platform: kubernetes` stack."""

    namespace: DnsLabel = "perfstack"
    """Namespace every object of the stack goes to (created by the stack)."""
    context: str | None = None
    """kubeconfig context to deploy to; unset uses the current context."""
    storage_class: DnsLabel | None = None
    """StorageClass of the PVCs; unset uses the cluster's default."""
    gateway: GatewayRef = Field(default_factory=GatewayRef)
    """Gateway that routes outside traffic to the app services."""
    ingress_from: Annotated[list[IngressPeer], AfterValidator(_some_peers)] | None = None
    """Who may connect to the routed app services (their NetworkPolicy ingress): a list of
    `{namespace, podLabels}`, e.g. `[{namespace: envoy-gateway-system, podLabels:
    {gateway.envoyproxy.io/owning-gateway-name: perfstack}}]`. Unset admits every pod of
    `gateway.namespace`; many Gateway implementations run their proxies elsewhere."""
    render_yaml_to: str | None = None
    """Write manifests to this directory instead of applying them (the provider's `renderYamlToDirectory`)."""
    protect_data: bool = True
    """The engine refuses to delete or replace what holds data: the namespace (its deletion takes the
    volume claims with it) and every StatefulSet with volumes (`protect`). A volume size change needs
    no replace: the claims are expanded in place. Set `false` for the one `pulumi up` that must
    replace a StatefulSet (a new `storageClass`, a changed `serviceName`; each of its replicas is
    down meanwhile, the claims are kept) or before `pulumi destroy`, then set it back."""

    def ingress_peers(self) -> list[IngressPeer]:
        """The pods that reach the routed app services: ``ingressFrom``, or the Gateway's namespace."""
        return self.ingress_from or [IngressPeer(namespace=self.gateway.namespace)]
