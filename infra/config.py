"""The whole stack config: one model, validated as a whole."""

from typing import Literal

from pydantic import Field, field_validator, model_validator

from components.alertmanager.settings import AlertmanagerConfig, NotificationsConfig
from components.app.settings import ServiceConfig, Services
from components.grafana.settings import GrafanaConfig
from components.jaeger.settings import JaegerConfig, TracingConfig
from components.platform.settings import ConfigModel
from components.prometheus.alerts import AlertsConfig
from components.prometheus.settings import PrometheusConfig
from components.redis.settings import RedisConfig
from components.traffic.settings import RouterConfig
from infra.platforms import DockerConfig, KubernetesConfig


class StackConfig(ConfigModel):
    """Everything under `perfstack:` in `Pulumi.<stack>.yaml`, except secrets."""

    platform: Literal["docker", "kubernetes"]
    """Where the stack runs: `docker` (one host, staging) or `kubernetes` (production)."""
    docker: DockerConfig = DockerConfig()
    """Docker host settings (platform docker)."""
    kubernetes: KubernetesConfig = KubernetesConfig()
    """Cluster settings (platform kubernetes)."""
    kill_switch: bool = False
    """Emergency rollback: every feature flag off, `DISABLE_ALL_OPTIMIZATIONS=true`, every canary weight 0."""
    services: Services = Field(default_factory=dict)
    """The application's services, each with a stable and an optional canary track."""
    redis: RedisConfig = RedisConfig()
    """The Redis cache."""
    prometheus: PrometheusConfig = PrometheusConfig()
    """Prometheus server."""
    alertmanager: AlertmanagerConfig = AlertmanagerConfig()
    """Alertmanager."""
    jaeger: JaegerConfig = JaegerConfig()
    """Jaeger v2 tracing backend."""
    grafana: GrafanaConfig = GrafanaConfig()
    """Grafana."""
    router: RouterConfig = RouterConfig()
    """The nginx traffic router (platform docker; Kubernetes uses Gateway API HTTPRoutes)."""
    alerts: AlertsConfig = AlertsConfig()
    """Alert thresholds and durations (the alert catalog)."""
    notifications: NotificationsConfig = NotificationsConfig()
    """Where alerts go (non-secret settings; credentials are secrets)."""
    tracing: TracingConfig = TracingConfig()
    """Trace sampling and storage."""

    @model_validator(mode="after")
    def _sentinel_needs_kubernetes(self) -> "StackConfig":
        if self.redis.mode == "sentinel" and self.platform != "kubernetes":
            raise ValueError(
                "redis.mode: sentinel needs platform kubernetes (stable pod names for the Sentinels)"
            )
        return self

    @field_validator("services")
    @classmethod
    def _services_exist(cls, services: dict[str, ServiceConfig]) -> dict[str, ServiceConfig]:
        if not services:
            raise ValueError("at least one service is required")
        return services
