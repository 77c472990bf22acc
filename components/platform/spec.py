"""What a workload needs, described once for every platform.

A component fills in a :class:`Workload` (image, command, env, files,
secrets, ports, volumes, health check, resources, replicas) and hands it to
the stack's platform, which decides how it runs: containers on a Docker host
or Kubernetes objects. Secrets are only ever delivered as files (Kubernetes
Secret volumes, Docker uploads marked secret), so no secret value is ever
part of a container's environment; programs that need one read
``<NAME>_FILE``-style paths.
"""

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import pulumi

from components.platform.settings import Resources

SECRETS_DIR = "/run/secrets/perfstack"
"""Where every workload finds its secret files."""


@dataclass(frozen=True)
class ConfigFile:
    """A generated, non-secret file mounted read-only at ``path``."""

    path: str
    content: str


@dataclass(frozen=True)
class SecretFile:
    """A file whose content is a Pulumi secret, mounted read-only at ``path``."""

    path: str
    content: pulumi.Input[str]


@dataclass(frozen=True)
class LiveFile:
    """A config file the running workload re-reads, delivered without replacing it (Docker only).

    It is written into the workload's volume ``volume`` (mounted at its ``mount_path``; ``path`` is
    inside it) by a one-shot container that then waits until the workload writes the file's SHA-256
    to ``<path>.applied`` (see components/traffic/reloader.py), and fails if that does not happen
    within ``timeout_seconds``.
    """

    path: str
    content: pulumi.Input[str]
    volume: str
    timeout_seconds: int = 60


@dataclass(frozen=True)
class Port:
    """A TCP port the workload listens on.

    ``publish`` is the Docker host port (bound to the platform's publish
    address); Kubernetes never publishes, traffic enters through the Gateway.
    """

    name: str
    port: int
    publish: int | None = None


@dataclass(frozen=True)
class DataVolume:
    """Persistent storage: a Docker volume or one PVC per replica.

    Every platform makes it writable by the workload's ``run_as_user``, whether
    or not the image has a directory at ``mount_path`` (Kubernetes ``fsGroup``;
    Docker a one-shot container that chowns the new volume first).
    """

    name: str
    mount_path: str
    size: str = "1Gi"


@dataclass(frozen=True)
class HealthCheck:
    """One check of a container: a command or an HTTP GET, and how often and how patiently to run it.

    ``command`` is run inside the container (Docker health check and, when no
    ``http_path`` is given, the Kubernetes exec probe); ``http_path`` on
    ``port`` makes Kubernetes probe over HTTP instead. A workload uses checks
    for readiness (``Workload.health``), liveness and start-up.
    """

    command: tuple[str, ...] = ()
    http_path: str | None = None
    port: int | None = None
    initial_delay_seconds: int = 5
    period_seconds: int = 10
    timeout_seconds: int = 3
    failure_threshold: int = 3


def http_health(path: str, port: int) -> HealthCheck:
    """An HTTP health check: Kubernetes probes the path, Docker runs the image's busybox wget on it."""
    return HealthCheck(
        command=("wget", "-q", "-O-", f"http://127.0.0.1:{port}{path}"), http_path=path, port=port
    )


@dataclass(frozen=True)
class Metrics:
    """Where Prometheus scrapes the workload (becomes pod annotations / container labels)."""

    port: int
    path: str = "/metrics"


@dataclass(frozen=True)
class ImageBuild:
    """Build ``Workload.image`` from source on the Docker host instead of pulling it (nothing is pushed)."""

    context: str
    """The build context holding a `Dockerfile`, relative to the project directory (where Pulumi runs
    the program): relative, so the state and every preview are the same on every operator's machine."""


@dataclass(frozen=True)
class Workload:
    """One workload: the unit a platform turns into containers or pods.

    ``name`` is unique in the stack and becomes the host name other workloads
    use; ``app`` and ``component`` become the ``app.kubernetes.io/name`` and
    ``app.kubernetes.io/component`` labels, ``labels`` are added to them.
    """

    name: str
    app: str
    component: str
    image: str
    build: ImageBuild | None = None
    """Docker only: build ``image`` locally from this source (Kubernetes pulls from a registry)."""
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    files: tuple[ConfigFile, ...] = ()
    secret_files: tuple[SecretFile, ...] = ()
    ports: tuple[Port, ...] = ()
    volumes: tuple[DataVolume, ...] = ()
    writable_dirs: tuple[str, ...] = ()
    health: HealthCheck | None = None
    """Readiness: may this replica get traffic now (Kubernetes readiness probe, Docker health check).

    Also the liveness probe, with a longer delay and more failures allowed,
    unless ``liveness`` is given."""
    liveness: HealthCheck | None = None
    """Is the process broken beyond repair, so restart it (Kubernetes liveness probe).

    Check the process alone, never what it depends on: a dependency outage
    would otherwise restart every replica at once."""
    startup: HealthCheck | None = None
    """Holds liveness and readiness back until it first passes (Kubernetes startup probe).

    A slow start is waited for, up to ``failure_threshold`` x
    ``period_seconds``, instead of being killed by the liveness probe."""
    drain_seconds: int = 0
    """Seconds a stopping replica keeps running before it gets SIGTERM (Kubernetes preStop sleep).

    Endpoint removal reaches kube-proxy and the Gateway's proxies a moment
    after the pod starts terminating; until then they still send it requests."""
    parallel_start: bool = False
    """Replicas start and stop together, not one after another (StatefulSet
    ``podManagementPolicy: Parallel``): for peers that must find each other to form a cluster."""
    metrics: Metrics | None = None
    resources: Resources = field(default_factory=Resources)
    replicas: int = 1
    labels: dict[str, str] = field(default_factory=dict)
    stable_identity: bool = False
    """Replicas keep their names across restarts (a StatefulSet even without volumes)."""
    rolling: bool = False
    """Replace the workload create-before-delete, so it always has a running replica (Docker: a
    generated container name, the new container healthy before the old one is deleted and drained
    for ``drain_seconds``; Kubernetes Deployments roll that way anyway). ``Deployed.addresses`` are
    then the containers' names (outputs), one per replica; the network alias stays ``name``."""
    live_file: LiveFile | None = None
    """A config file the running workload reloads by itself (Docker only, see ``LiveFile``)."""
    pod_name_env: str | None = None
    """Env var that carries the replica's own name (Kubernetes downward API; Docker: the container name)."""
    discovers_pods: bool = False
    """Needs read access to the pods of its namespace (Prometheus' service discovery)."""
    run_as_user: int = 65534
    read_only_root: bool = True
    restart: Literal["unless-stopped", "always"] = "unless-stopped"

    @property
    def standard_labels(self) -> dict[str, str]:
        """The `app.kubernetes.io/*` labels (plus ``labels``) every platform puts on the workload."""
        return {
            "app.kubernetes.io/name": self.app,
            "app.kubernetes.io/instance": self.name,
            "app.kubernetes.io/component": self.component,
            "app.kubernetes.io/part-of": "perfstack",
            **self.labels,
        }


@dataclass(frozen=True)
class Deployed:
    """What other components need to reach a deployed workload."""

    host: str
    resources: tuple[pulumi.Resource, ...]
    addresses: tuple[pulumi.Input[str], ...] = ()
    """Each replica's container name, in order, where a proxy must name replicas one by one (Docker,
    ``Workload.rolling``); empty where ``host`` is the stable way in."""


def file_keys(paths: Iterable[str]) -> dict[str, str]:
    """A short, unique, ConfigMap-valid key for each mounted file path.

    The base name where it is unique (`redis.conf`), else prefixed with its
    directory (`datasources-perfstack.yaml`, `dashboards-perfstack.yaml`).
    """
    paths = list(paths)
    names = [posixpath.basename(p) for p in paths]
    keys = {}
    for path, name in zip(paths, names, strict=True):
        if names.count(name) > 1:
            name = f"{posixpath.basename(posixpath.dirname(path))}-{name}"
        keys[path] = re.sub(r"[^-._a-zA-Z0-9]", "-", name)
    if len(set(keys.values())) != len(keys):
        raise ValueError(f"mounted files need distinct names: {sorted(paths)}")
    return keys
