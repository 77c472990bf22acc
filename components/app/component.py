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
    redis_host: str
    redis_port: int
    redis_password: pulumi.Input[str]
    redis_client_env: dict[str, str]
    """Extra env to find the Redis master (REDIS_SENTINELS, REDIS_MASTER_NAME in sentinel mode)."""
    otlp_endpoint: str
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
            env=args.redis_client_env
            | track_env(
                service_name=name,
                service=service,
                track=track,
                kill_switch=args.kill_switch,
                environment=args.environment,
                redis_host=args.redis_host,
                redis_port=args.redis_port,
                redis_password_file=REDIS_PASSWORD_PATH,
                otlp_endpoint=args.otlp_endpoint,
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
