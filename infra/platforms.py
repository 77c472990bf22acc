"""Stack config for the two platforms: where the stack runs."""

from typing import Annotated

from pydantic import Field

from components.platform.settings import ConfigModel

DnsLabel = Annotated[str, Field(pattern=r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")]
"""A lowercase DNS label (RFC 1123): Kubernetes object and namespace names."""

HostPort = Annotated[int, Field(ge=1, le=65535)]


class DockerPorts(ConfigModel):
    """Host ports the staging host publishes (on `publishAddress`)."""

    router: HostPort = 8080
    """The nginx traffic router: the application's entry point."""
    grafana: HostPort = 3000
    """Grafana's web UI."""
    prometheus: HostPort = 9090
    """Prometheus' web UI and API."""
    alertmanager: HostPort = 9093
    """Alertmanager's web UI and API."""
    jaeger: HostPort = 16686
    """The Jaeger query UI."""


class DockerConfig(ConfigModel):
    """The Docker host of a `platform: docker` stack."""

    host: str | None = None
    """Docker engine address (`unix:///var/run/docker.sock`, `ssh://user@host`).

    Unset uses DOCKER_HOST or the local socket.
    """
    publish_address: str = "127.0.0.1"
    """Host address the published ports bind to; the default keeps them off the network."""
    ports: DockerPorts = DockerPorts()
    """Published host ports."""


class GatewayRef(ConfigModel):
    """The Gateway API Gateway that the stack's HTTPRoutes attach to."""

    name: DnsLabel = "perfstack"
    """Name of an existing Gateway (owned by the cluster operator)."""
    namespace: DnsLabel = "gateway"
    """Namespace of that Gateway; it must allow routes from the stack's namespace."""


class KubernetesConfig(ConfigModel):
    """The cluster of a `platform: kubernetes` stack."""

    namespace: DnsLabel = "perfstack"
    """Namespace every object of the stack goes to (created by the stack)."""
    context: str | None = None
    """kubeconfig context to deploy to; unset uses the current context."""
    storage_class: DnsLabel | None = None
    """StorageClass of the PVCs; unset uses the cluster's default."""
    gateway: GatewayRef = GatewayRef()
    """Gateway that routes outside traffic to the app services."""
    render_yaml_to: str | None = None
    """Write manifests to this directory instead of applying them (the provider's `renderYamlToDirectory`)."""
