"""Jaeger v2: OTLP in, traces stored in badger (or an external backend), UI out."""

from dataclasses import dataclass

import pulumi

from components.jaeger.config import (
    CONFIG_PATH,
    HEALTH_PORT,
    METRICS_PORT,
    OTLP_GRPC_PORT,
    OTLP_HTTP_PORT,
    QUERY_HTTP_PORT,
    SAMPLING_HTTP_PORT,
    render_tracing_files,
)
from components.jaeger.settings import JaegerConfig, TracingConfig
from components.platform.base import Platform
from components.platform.images import IMAGES
from components.platform.spec import ConfigFile, DataVolume, HealthCheck, Metrics, Port, Workload

JAEGER_UID = 10001  # the jaegertracing/jaeger image's user


@dataclass
class JaegerArgs:
    """Image, tracing settings, and where to run."""

    config: JaegerConfig
    tracing: TracingConfig
    platform: Platform
    publish_port: int | None = None


class Jaeger(pulumi.ComponentResource):
    """A single Jaeger v2 instance (one YAML config, remote sampling from a file)."""

    def __init__(self, name: str, args: JaegerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("perfstack:tracing:Jaeger", name, None, opts)
        storage = args.tracing.storage
        volumes = (
            (DataVolume("badger", storage.badger_directory, args.config.storage_size),)
            if storage.type == "badger"
            else ()
        )
        args.platform.deploy(
            Workload(
                name=name,
                app="jaeger",
                component="tracing",
                image=IMAGES["jaeger"].reference(args.config.version),
                args=(f"--config={CONFIG_PATH}",),
                files=tuple(
                    ConfigFile(path, text) for path, text in render_tracing_files(args.tracing).items()
                ),
                ports=(
                    Port("otlp-grpc", OTLP_GRPC_PORT),
                    Port("otlp-http", OTLP_HTTP_PORT),
                    Port("query", QUERY_HTTP_PORT, publish=args.publish_port),
                    Port("sampling", SAMPLING_HTTP_PORT),
                    Port("metrics", METRICS_PORT),
                    Port("health", HEALTH_PORT),
                ),
                volumes=volumes,
                # The image has no shell or HTTP client: Kubernetes probes over HTTP only.
                health=HealthCheck(http_path="/status", port=HEALTH_PORT),
                metrics=Metrics(METRICS_PORT),
                resources=args.config.resources,
                run_as_user=JAEGER_UID,
            ),
            parent=self,
        )
        self.register_outputs({})
