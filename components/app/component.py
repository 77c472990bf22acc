"""An app service: a stable track and an optional canary track of one image."""

from dataclasses import dataclass

import pulumi

from components.app.env import track_env
from components.app.settings import ServiceConfig, Track
from components.platform.base import Platform
from components.platform.kubernetes import TRACK_LABEL
from components.platform.spec import SECRETS_DIR, HealthCheck, Metrics, Port, SecretFile, Workload

REDIS_PASSWORD_PATH = f"{SECRETS_DIR}/redis-password"


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


def track_workload_name(service_name: str, track: Track) -> str:
    """The workload (and host) name of a service's track: `api-stable`, `api-canary`."""
    return f"{service_name}-{track}"


class AppService(pulumi.ComponentResource):
    """The tracks of one app service, each its own workload.

    Each track is a separate Deployment (or container set) so that changing
    one track's version or flags never touches the other, and so that a
    traffic weight change touches only the router.
    Outputs: ``hosts``, track name to the host the router sends traffic to.
    """

    hosts: dict[Track, str]

    def __init__(self, name: str, args: AppServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("perfstack:app:Service", name, None, opts)
        tracks: list[Track] = ["stable", "canary"] if args.service.canary is not None else ["stable"]
        self.hosts = {}
        for track in tracks:
            config = args.service.track(track)
            if config.replicas == 0:
                continue
            deployed = args.platform.deploy(self._workload(name, track, args), parent=self)
            self.hosts[track] = deployed.host
        self.register_outputs({"hosts": self.hosts})

    @staticmethod
    def _workload(name: str, track: Track, args: AppServiceArgs) -> Workload:
        service = args.service
        config = service.track(track)
        return Workload(
            name=track_workload_name(name, track),
            app=name,
            component="app",
            image=f"{service.image}:{config.version}",
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
            health=HealthCheck(http_path=service.health_path, port=service.port),
            metrics=Metrics(service.port, service.metrics_path),
            resources=config.resources,
            replicas=config.replicas,
            labels={TRACK_LABEL: track},
            writable_dirs=("/tmp",),
        )
