"""Runs workloads as containers on one Docker host (the staging platform)."""

from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

import pulumi
import pulumi_docker as docker

from components.platform.addressing import DEFAULT_SUBNET, dynamic_range, gateway, parse_subnet
from components.platform.base import Platform
from components.platform.images import IMAGES
from components.platform.live_file import WRITER
from components.platform.registry import RegistryLogin
from components.platform.settings import memory_bytes
from components.platform.spec import Deployed, Workload

SHUTDOWN_GRACE_SECONDS = 30
"""Seconds a rolling container has, after its drain, to finish open requests before it is killed."""
HEALTHY_TIMEOUT_SECONDS = 300
"""How long a new rolling container may take to become healthy before the deployment stops (its
predecessor then keeps running)."""

ONE_SHOT_MEMORY_MB = 16
"""Memory limit of the one-shot helper containers (volume init, live-file writer)."""


LOOPBACK = "127.0.0.1"
"""Where a published port binds unless the stack names another address for its workload."""


class DockerPlatformArgs:
    """Where the Docker engine is and how the stack's containers are named."""

    def __init__(
        self,
        *,
        stack: str,
        host: str | None = None,
        publish_addresses: Mapping[str, str] | None = None,
        subnet: str = DEFAULT_SUBNET,
        registry: RegistryLogin | None = None,
    ) -> None:
        self.stack = stack
        self.host = host
        self.publish_addresses = dict(publish_addresses or {})
        """Host address each workload's published ports bind to, by workload name; loopback for
        any other (nothing is published on every interface unless asked for)."""
        self.subnet = subnet
        self.registry = registry
        """A private registry's login: the engine pulls with it."""


class DockerPlatform(Platform):
    """A Docker provider, one private network, and containers on it.

    Containers keep fixed names (``perfstack-<stack>-<workload>``) so operators
    can find them with ``docker ps``; a fixed name clashes with Docker's default
    create-before-delete, so those containers are delete-before-replace.
    ``Workload.rolling`` containers (the app tracks) instead get a generated name
    (``<workload>-<random>``, filtered by the ``app.kubernetes.io/instance``
    label or the network) and are replaced create-before-delete: the engine
    waits until the new one is healthy and deletes the old one last, giving it
    time to drain. A ``Workload.live_file`` is written into a volume by a
    one-shot container that waits for the workload to apply it, so the
    workload itself is not replaced (the router's config).

    The network has an explicit subnet (``addressing.py``); Docker allocates
    from its lower half.

    Docker creates a named volume owned by root unless the image has a
    directory at the mount path to copy ownership from, so a workload that
    runs unprivileged could not write to it. Before such a workload starts, a
    one-shot container (busybox, CAP_CHOWN only, no network) hands each of
    its volumes to the workload's user, as ``fsGroup`` does on Kubernetes.
    """

    def __init__(
        self, name: str, args: DockerPlatformArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("perfstack:platform:Docker", name, None, opts)
        self._args = args
        self._prefix = f"perfstack-{args.stack}"
        self._init_image: docker.RemoteImage | None = None
        subnet = parse_subnet(args.subnet)
        self._provider = docker.Provider(
            "docker",
            host=args.host,
            registry_auth=[
                docker.ProviderRegistryAuthArgs(
                    address=args.registry.server,
                    username=args.registry.username,
                    password=pulumi.Output.secret(args.registry.password),
                )
            ]
            if args.registry
            else None,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.network = docker.Network(
            "network",
            name=self._prefix,
            driver="bridge",
            ipam_configs=[
                docker.NetworkIpamConfigArgs(
                    subnet=str(subnet), ip_range=str(dynamic_range(subnet)), gateway=str(gateway(subnet))
                )
            ],
            # Its fixed name clashes with create-before-delete, like the containers' names.
            opts=self._child_opts(self, delete_before_replace=True),
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

    def _image(self, workload: Workload, parent: pulumi.Resource) -> pulumi.Output[str]:
        """The image id the workload's containers run: a pulled image's, or a built image's
        `repoDigest` (for a local build, its image id). Never the tag: a rebuild keeps the tag, so a
        container naming it would never change and keep running the old build."""
        if workload.build is None:
            return docker.RemoteImage(
                f"{workload.name}-image",
                name=workload.image,
                keep_locally=True,
                opts=self._child_opts(parent),
            ).image_id
        return docker.Image(
            f"{workload.name}-image",
            image_name=workload.image,
            build=docker.DockerBuildArgs(context=workload.build.context),
            # A local image for this host's containers: no registry, no push.
            skip_push=True,
            opts=self._child_opts(parent),
        ).repo_digest

    def deploy(
        self, workload: Workload, parent: pulumi.Resource, after: Sequence[pulumi.Resource] = ()
    ) -> Deployed:
        image = self._image(workload, parent)
        volumes = [
            docker.Volume(
                f"{workload.name}-{volume.name}",
                name=f"{self._prefix}-{workload.name}-{volume.name}",
                opts=self._child_opts(parent),
            )
            for volume in workload.volumes
        ]
        init = [self._volume_init(workload, parent, volumes)] if volumes else []
        if workload.live_file is not None:
            init.append(self._live_file_writer(workload, parent, volumes, init))
        containers = [
            self._container(workload, parent, image, volumes, index, [*after, *init])
            for index in range(workload.replicas)
        ]
        return Deployed(
            host=self.address(workload.name),
            resources=(*volumes, *init, *containers),
            addresses=tuple(c.name for c in containers) if workload.rolling else (),
        )

    def _live_file_writer(
        self,
        workload: Workload,
        parent: pulumi.Resource,
        volumes: list[docker.Volume],
        after: list[docker.Container],
    ) -> docker.Container:
        """A one-shot container that puts the live file into its volume and waits until it is applied.

        Only this container is replaced when the file changes (its upload forces that); it exits
        non-zero when the workload does not acknowledge the content in time, and the program then
        fails the deployment before the engine deletes anything it replaced."""
        live = workload.live_file
        assert live is not None
        spec = next((v for v in workload.volumes if v.name == live.volume), None)
        if spec is None:
            raise ValueError(
                f"{workload.name}: live_file names volume {live.volume!r}, which it does not have"
            )
        volume = volumes[workload.volumes.index(spec)]
        # Named like the live file, so `python -m infra render` shows it under its own name.
        upload = f"/run/perfstack/{PurePosixPath(live.path).name}"
        writer = docker.Container(
            f"{workload.name}-config-writer",
            name=f"{self._prefix}-{workload.name}-config-writer",
            image=self._busybox(),
            command=["sh", "-c", WRITER, "writer", upload, live.path, str(live.timeout_seconds)],
            uploads=[docker.ContainerUploadArgs(file=upload, content=live.content, permissions="0444")],
            volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path=spec.mount_path)],
            user=str(workload.run_as_user),
            capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"]),
            **_one_shot(workload),
            opts=self._child_opts(parent, delete_before_replace=True, depends_on=after),
        )
        writer.exit_code.apply(_applied(workload.name))
        return writer

    def _volume_init(
        self, workload: Workload, parent: pulumi.Resource, volumes: list[docker.Volume]
    ) -> docker.Container:
        """A container that runs once, before the workload, and gives its volumes to the workload's user."""
        owner = f"{workload.run_as_user}:{workload.run_as_user}"
        return docker.Container(
            f"{workload.name}-volume-init",
            name=f"{self._prefix}-{workload.name}-volume-init",
            image=self._busybox(),
            # Only the volume's root: it is new and empty when this runs, and a
            # recursive chown would need more than CAP_CHOWN to read into the
            # workload's own private directories on a re-run.
            command=["chown", owner, *(spec.mount_path for spec in workload.volumes)],
            volumes=[
                docker.ContainerVolumeArgs(volume_name=v.name, container_path=spec.mount_path)
                for v, spec in zip(volumes, workload.volumes, strict=True)
            ],
            user="0",
            capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"], adds=["CHOWN"]),
            read_only=True,
            **_one_shot(workload),
            opts=self._child_opts(parent, delete_before_replace=True),
        )

    def _busybox(self) -> pulumi.Output[str]:
        """The image id of busybox, which the one-shot containers run (pulled once per stack)."""
        if self._init_image is None:
            self._init_image = docker.RemoteImage(
                "volume-init-image",
                name=IMAGES["busybox"].reference(),
                keep_locally=True,
                opts=self._child_opts(self),
            )
        return self._init_image.image_id

    def _env(self, workload: Workload, index: int) -> dict[str, str]:
        env = dict(workload.env)
        if workload.pod_name_env:
            env[workload.pod_name_env] = self._container_name(workload.name, index, workload.replicas)
        return env

    def _container(
        self,
        workload: Workload,
        parent: pulumi.Resource,
        image: pulumi.Output[str],
        volumes: list[docker.Volume],
        index: int,
        after: Sequence[pulumi.Resource],
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
        rolling = workload.rolling
        return docker.Container(
            f"{workload.name}{suffix}",
            # A rolling container's old and new versions run side by side for a while: the engine
            # names each one (`<logical name>-<random>`).
            name=None if rolling else self._container_name(workload.name, index, workload.replicas),
            image=image,
            command=list(workload.args) or None,
            entrypoints=list(workload.command) or None,
            envs=[f"{k}={v}" for k, v in sorted(self._env(workload, index).items())],
            uploads=uploads or None,
            labels=[docker.ContainerLabelArgs(label=k, value=v) for k, v in sorted(labels.items())],
            networks_advanced=[
                docker.ContainerNetworksAdvancedArgs(
                    name=self.network.id,
                    # A rolling container's generated name is not what others use: its instance keeps
                    # the fixed container name as an alias (Prometheus scrapes each replica by it).
                    aliases=[workload.name]
                    + ([self._container_name(workload.name, index, workload.replicas)] if rolling else []),
                )
            ],
            ports=[
                docker.ContainerPortArgs(
                    internal=p.port,
                    external=p.publish,
                    ip=self._args.publish_addresses.get(workload.name, LOOPBACK),
                )
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
            # Rolling: nothing after it (the router's new config) and no deletion of its
            # predecessor happens before it is healthy; the old one is stopped, not killed, so it
            # drains.
            wait=True if rolling and workload.health else None,
            wait_timeout=HEALTHY_TIMEOUT_SECONDS if rolling and workload.health else None,
            destroy_grace_seconds=workload.drain_seconds + SHUTDOWN_GRACE_SECONDS if rolling else None,
            opts=self._child_opts(parent, delete_before_replace=not rolling, depends_on=list(after)),
        )


def _applied(workload: str) -> Callable[[int | None], None]:
    def check(exit_code: int | None) -> None:
        if exit_code:
            raise RuntimeError(
                f"{workload} did not apply its new config (the config writer exited with {exit_code}; "
                "see its log and the workload's): nothing replaced has been deleted"
            )

    return check


def _one_shot(workload: Workload) -> dict[str, Any]:
    """What every one-shot helper container of ``workload`` shares: no network, little memory, and
    the engine waits for it to exit (so what depends on it comes after) and leaves it exited."""
    return {
        "security_opts": ["no-new-privileges:true"],
        "network_mode": "none",
        "memory": ONE_SHOT_MEMORY_MB,
        "attach": True,
        "must_run": False,
        "restart": "no",
        "labels": [
            docker.ContainerLabelArgs(label=k, value=v) for k, v in sorted(workload.standard_labels.items())
        ],
    }


def _cpus(quantity: str) -> str:
    """Docker's --cpus from a Kubernetes CPU quantity ('500m' -> '0.5')."""
    if quantity.endswith("m"):
        return str(int(quantity[:-1]) / 1000)
    return quantity
