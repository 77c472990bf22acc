"""Runs workloads as containers on one Docker host (the staging platform)."""

import pulumi
import pulumi_docker as docker

from components.platform.base import Platform
from components.platform.settings import memory_bytes
from components.platform.spec import Deployed, Workload


class DockerPlatformArgs:
    """Where the Docker engine is and how the stack's containers are named."""

    def __init__(self, *, stack: str, host: str | None = None, publish_address: str = "127.0.0.1") -> None:
        self.stack = stack
        self.host = host
        self.publish_address = publish_address


class DockerPlatform(Platform):
    """A Docker provider, one private network, and containers on it.

    Containers keep fixed names (``perfstack-<stack>-<workload>``) so operators
    can find them with ``docker ps``; a fixed name clashes with Docker's default
    create-before-delete, so every container is delete-before-replace.
    """

    def __init__(
        self, name: str, args: DockerPlatformArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("perfstack:platform:Docker", name, None, opts)
        self._args = args
        self._prefix = f"perfstack-{args.stack}"
        self._provider = docker.Provider("docker", host=args.host, opts=pulumi.ResourceOptions(parent=self))
        self.network = docker.Network(
            "network",
            name=self._prefix,
            driver="bridge",
            opts=self._child_opts(self),
        )
        self.register_outputs({"network": self.network.name})

    def _child_opts(self, parent: pulumi.Resource, **kwargs: object) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent, provider=self._provider, **kwargs)

    def address(self, name: str) -> str:
        return name

    def instance_hosts(self, name: str, replicas: int) -> list[str]:
        if replicas == 1:
            return [name]
        return [self._container_name(name, index, replicas) for index in range(replicas)]

    def _container_name(self, name: str, index: int, replicas: int) -> str:
        return f"{self._prefix}-{name}" + (f"-{index}" if replicas > 1 else "")

    def deploy(self, workload: Workload, parent: pulumi.Resource) -> Deployed:
        image = docker.RemoteImage(
            f"{workload.name}-image",
            name=workload.image,
            keep_locally=True,
            opts=self._child_opts(parent),
        )
        volumes = [
            docker.Volume(
                f"{workload.name}-{volume.name}",
                name=f"{self._prefix}-{workload.name}-{volume.name}",
                opts=self._child_opts(parent),
            )
            for volume in workload.volumes
        ]
        containers = [
            self._container(workload, parent, image, volumes, index) for index in range(workload.replicas)
        ]
        return Deployed(host=self.address(workload.name), resources=(image, *volumes, *containers))

    def _env(self, workload: Workload, index: int) -> dict[str, str]:
        env = dict(workload.env)
        if workload.pod_name_env:
            env[workload.pod_name_env] = self._container_name(workload.name, index, workload.replicas)
        return env

    def _container(
        self,
        workload: Workload,
        parent: pulumi.Resource,
        image: docker.RemoteImage,
        volumes: list[docker.Volume],
        index: int,
    ) -> docker.Container:
        suffix = f"-{index}" if workload.replicas > 1 else ""
        labels = dict(workload.standard_labels)
        if workload.metrics:
            labels["prometheus.io/port"] = str(workload.metrics.port)
            labels["prometheus.io/path"] = workload.metrics.path
        uploads = [
            docker.ContainerUploadArgs(file=f.path, content=f.content, permissions="0444")
            for f in workload.files
        ] + [
            docker.ContainerUploadArgs(
                file=f.path,
                content=f.content,
                owner=workload.run_as_user,
                permissions="0400",
            )
            for f in workload.secret_files
        ]
        tmpfs = {d: f"uid={workload.run_as_user}" for d in sorted(set(workload.writable_dirs))}
        health = workload.health
        return docker.Container(
            f"{workload.name}{suffix}",
            name=self._container_name(workload.name, index, workload.replicas),
            image=image.image_id,
            command=list(workload.args) or None,
            entrypoints=list(workload.command) or None,
            envs=[f"{k}={v}" for k, v in sorted(self._env(workload, index).items())],
            uploads=uploads or None,
            labels=[docker.ContainerLabelArgs(label=k, value=v) for k, v in sorted(labels.items())],
            networks_advanced=[
                docker.ContainerNetworksAdvancedArgs(name=self.network.id, aliases=[workload.name])
            ],
            ports=[
                docker.ContainerPortArgs(internal=p.port, external=p.publish, ip=self._args.publish_address)
                for p in workload.ports
                if p.publish is not None
            ]
            or None,
            volumes=[
                docker.ContainerVolumeArgs(volume_name=v.name, container_path=spec.mount_path)
                for v, spec in zip(volumes, workload.volumes, strict=True)
            ]
            or None,
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=["CMD", *health.command],
                interval=f"{health.period_seconds}s",
                timeout=f"{health.timeout_seconds}s",
                retries=health.failure_threshold,
                start_period=f"{health.initial_delay_seconds}s",
            )
            if health and health.command
            else None,
            restart=workload.restart,
            user=str(workload.run_as_user),
            # Docker refuses to copy uploads into a read-only root filesystem.
            read_only=workload.read_only_root and not uploads,
            tmpfs=tmpfs or None,
            memory=memory_bytes(workload.resources.memory_limit) // (1024 * 1024),
            cpus=_cpus(workload.resources.cpu_limit),
            security_opts=["no-new-privileges:true"],
            capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"]),
            opts=self._child_opts(parent, delete_before_replace=True),
        )


def _cpus(quantity: str) -> str:
    """Docker's --cpus from a Kubernetes CPU quantity ('500m' -> '0.5')."""
    if quantity.endswith("m"):
        return str(int(quantity[:-1]) / 1000)
    return quantity
