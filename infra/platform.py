"""Picks the platform the stack config asks for."""

import pulumi

from components.platform.base import Platform
from components.platform.kubernetes import KubernetesPlatform, KubernetesPlatformArgs
from components.platform.registry import RegistryLogin
from infra.config import StackConfig
from infra.secrets import StackSecrets

ROUTER = "router"
"""The workload whose port is the application's entry point (`docker.publishAddress`)."""
UI_WORKLOADS = ("grafana", "prometheus", "alertmanager", "jaeger")
"""The workloads whose ports are operators' UIs and APIs (`docker.uiAddress`)."""


def registry_login(config: StackConfig, secrets: StackSecrets) -> RegistryLogin | None:
    """`perfstack:registry` with its password, when the stack pulls from a private registry."""
    if config.registry is None:
        return None
    # load_secrets refuses a stack with `registry` and no `registryPassword`.
    assert secrets.registry_password is not None
    return RegistryLogin(config.registry.server, config.registry.username, secrets.registry_password)


def create_platform(config: StackConfig, secrets: StackSecrets) -> Platform:
    """The Docker or Kubernetes platform of this stack."""
    if config.platform == "docker":
        # Imported here: pulumi_docker takes a tenth of a second to import and a
        # Kubernetes stack never needs it (the Kubernetes SDK is needed either way,
        # the components check for its platform).
        from components.platform.docker import DockerPlatform, DockerPlatformArgs

        return DockerPlatform(
            "platform",
            DockerPlatformArgs(
                stack=pulumi.get_stack(),
                host=config.docker.host,
                publish_addresses={
                    ROUTER: config.docker.publish_address,
                    **dict.fromkeys(UI_WORKLOADS, config.docker.ui_address),
                },
                subnet=config.docker.subnet,
                registry=registry_login(config, secrets),
            ),
        )
    k8s = config.kubernetes
    return KubernetesPlatform(
        "platform",
        KubernetesPlatformArgs(
            namespace=k8s.namespace,
            context=k8s.context,
            storage_class=k8s.storage_class,
            render_yaml_to_directory=k8s.render_yaml_to,
            protect_data=k8s.protect_data,
            registry=registry_login(config, secrets),
        ),
    )
