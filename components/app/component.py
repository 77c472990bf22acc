"""An app service: a stable track and an optional canary track of one image."""

import math
from dataclasses import dataclass
from typing import NamedTuple

import pulumi

from components.app.env import track_env
from components.app.settings import ServiceConfig, Track, running_tracks, track_workload_name
from components.platform.base import Platform
from components.platform.kubernetes import TRACK_LABEL
from components.platform.spec import SECRETS_DIR, HealthCheck, Metrics, Port, SecretFile, Workload

REDIS_PASSWORD_PATH = f"{SECRETS_DIR}/redis-password"
STARTUP_PERIOD_SECONDS = 5
"""How often a starting pod is probed: a pod that is up sooner starts serving sooner."""


class Probes(NamedTuple):
    """The three checks of an app container."""

    readiness: HealthCheck
    liveness: HealthCheck
    startup: HealthCheck


def probes(service: ServiceConfig) -> Probes:
    """The app's checks from its service settings.

    Liveness asks ``healthPath``, which never depends on Redis or Jaeger;
    readiness asks ``readyPath``, which fails while the app starts or drains.
    Both wait for the start-up check, which allows ``startupSeconds``.
    """
    return Probes(
        readiness=HealthCheck(
            http_path=service.ready_path,
            port=service.port,
            initial_delay_seconds=0,
            period_seconds=5,
            failure_threshold=2,
        ),
        liveness=HealthCheck(http_path=service.health_path, port=service.port, initial_delay_seconds=0),
        startup=HealthCheck(
            http_path=service.health_path,
            port=service.port,
            initial_delay_seconds=0,
            period_seconds=STARTUP_PERIOD_SECONDS,
            failure_threshold=math.ceil(service.startup_seconds / STARTUP_PERIOD_SECONDS),
        ),
    )


@dataclass
class AppServiceArgs:
    """One configured service and the infrastructure its tracks connect to."""

    service: ServiceConfig
    kill_switch: bool
    environment: str
    redis_env: dict[str, str]
    """Where Redis is: REDIS_HOST/REDIS_PORT, or REDIS_SENTINELS/REDIS_MASTER_NAME in sentinel mode."""
    redis_password: pulumi.Input[str]
    otlp_endpoint: str
    trace_sampling: float
    """Share of new traces the app keeps (OTEL_TRACES_SAMPLER_ARG)."""
    platform: Platform


class AppService(pulumi.ComponentResource):
    """The tracks of one app service, each its own workload.

    Each track is a separate Deployment (or container set) so that changing
    one track's version or flags never touches the other, and so that a
    traffic weight change touches only the router.
    Outputs: ``hosts``, track name to the host other workloads use; ``addresses``,
    track name to what the router connects to: each replica's container name on
    Docker (a new name with every replacement, so the router's config follows
    it), the host elsewhere.
    """

    hosts: dict[Track, str]
    addresses: dict[Track, tuple[pulumi.Input[str], ...]]

    def __init__(self, name: str, args: AppServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("perfstack:app:Service", name, None, opts)
        self.hosts = {}
        self.addresses = {}
        # The canary rolls first and the stable track only once the canary's replicas are up:
        # a change to both (a flag, the kill switch) is proven on the canary before the stable
        # track is touched, and the two never roll at the same time.
        tracks = running_tracks(args.service)
        after: tuple[pulumi.Resource, ...] = ()
        for track in sorted(tracks, key=lambda t: t != "canary"):
            deployed = args.platform.deploy(self._workload(name, track, args), parent=self, after=after)
            after = deployed.resources
            self.hosts[track] = deployed.host
            self.addresses[track] = deployed.addresses or (deployed.host,)
        # Outputs list the stable track first whatever the rollout order: Prometheus' scrape config
        # follows them, and a new order would replace Prometheus' container on Docker.
        self.hosts = {track: self.hosts[track] for track in tracks}
        self.register_outputs({"hosts": self.hosts})

    @staticmethod
    def _workload(name: str, track: Track, args: AppServiceArgs) -> Workload:
        service = args.service
        config = service.track(track)
        checks = probes(service)
        return Workload(
            name=track_workload_name(name, track),
            app=name,
            component="app",
            image=f"{service.image}:{config.version}",
            build=service.build.image_build() if service.build else None,
            env=track_env(
                service_name=name,
                service=service,
                track=track,
                kill_switch=args.kill_switch,
                environment=args.environment,
                redis_env=args.redis_env,
                redis_password_file=REDIS_PASSWORD_PATH,
                otlp_endpoint=args.otlp_endpoint,
                trace_sampling=args.trace_sampling,
            ),
            secret_files=(SecretFile(REDIS_PASSWORD_PATH, args.redis_password),),
            ports=(Port("http", service.port),),
            health=checks.readiness,
            liveness=checks.liveness,
            startup=checks.startup,
            drain_seconds=service.drain_seconds,
            metrics=Metrics(service.port, service.metrics_path),
            resources=config.resources,
            replicas=config.replicas,
            labels={TRACK_LABEL: track},
            writable_dirs=("/tmp",),
            # A flag or version change must never leave the track without a running replica.
            rolling=True,
        )
