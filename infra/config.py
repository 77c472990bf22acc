"""The whole stack config: one model, validated as a whole."""

from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import InitErrorDetails

from components.alertmanager.settings import AlertmanagerConfig, NotificationsConfig
from components.app.settings import (
    LoadGeneratorConfig,
    ServiceConfig,
    Services,
)
from components.grafana.settings import GrafanaConfig
from components.jaeger.settings import JaegerConfig, TracingConfig
from components.platform.registry import RegistryConfig
from components.platform.settings import ConfigModel, config_error, duration_seconds, raise_errors
from components.prometheus.alerts import AlertsConfig
from components.prometheus.settings import PrometheusConfig
from components.redis.settings import RedisConfig
from components.traffic.settings import RouterConfig
from infra.platforms import DockerConfig, KubernetesConfig

RATE_WINDOW_MIN_SCRAPES = 4
"""Scrapes `alerts.rateWindow` must span at least (Prometheus' usual advice for `rate()` windows)."""


class StackConfig(ConfigModel):
    """Everything under `perfstack:` in `Pulumi.<stack>.yaml`, except secrets."""

    platform: Literal["docker", "kubernetes"]
    """Where the stack runs: `docker` (one host, staging) or `kubernetes` (production)."""
    environment: Literal["production", "staging", "dev"] = "production"
    """What the stack is for. `production` (the default, so a stack that does not say is held to the
    strictest rules) requires `notifications.deadMansSwitch`; `staging` and `dev` leave it optional."""
    docker: DockerConfig = Field(default_factory=DockerConfig)
    """Docker host settings (platform docker)."""
    kubernetes: KubernetesConfig = Field(default_factory=KubernetesConfig)
    """Cluster settings (platform kubernetes)."""
    registry: RegistryConfig | None = None
    """A private registry to log in to when pulling images (both platforms), e.g. `{server:
    registry.example.internal:5000, username: perfstack-pull}`; its password is the secret
    `perfstack:registryPassword`. Unset pulls without a login."""
    kill_switch: bool = False
    """Emergency rollback: every feature flag off, `DISABLE_ALL_OPTIMIZATIONS=true`, every canary weight 0."""
    services: Services = Field(default_factory=dict)
    """The application's services, each with a stable and an optional canary track."""
    redis: RedisConfig = Field(default_factory=RedisConfig)
    """The Redis cache."""
    prometheus: PrometheusConfig = Field(default_factory=PrometheusConfig)
    """Prometheus server."""
    alertmanager: AlertmanagerConfig = Field(default_factory=AlertmanagerConfig)
    """Alertmanager."""
    jaeger: JaegerConfig = Field(default_factory=JaegerConfig)
    """Jaeger v2 tracing backend."""
    grafana: GrafanaConfig = Field(default_factory=GrafanaConfig)
    """Grafana."""
    router: RouterConfig = Field(default_factory=RouterConfig)
    """The nginx traffic router (platform docker; Kubernetes uses Gateway API HTTPRoutes)."""
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    """Alert thresholds and durations (the alert catalog)."""
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig)
    """Where alerts go (non-secret settings; credentials are secrets)."""
    tracing: TracingConfig = Field(default_factory=TracingConfig)
    """Trace sampling and storage."""
    load_generator: LoadGeneratorConfig | None = None
    """Platform docker: steady traffic through the router so the dashboards fill (the `dev` stack)."""

    @model_validator(mode="after")
    def _production_has_a_dead_mans_switch(self) -> "StackConfig":
        # Without it nothing notices Prometheus or Alertmanager being down as a whole: every other
        # alert goes through them, so in production that silence must be someone else's alarm.
        if self.environment == "production" and self.notifications.dead_mans_switch is None:
            raise_errors(
                "StackConfig",
                [
                    config_error(
                        "dead_mans_switch_required",
                        "is required when environment is production: the Watchdog must reach a dead "
                        "man's switch (set `notifications.deadMansSwitch: {repeatInterval: 1m}` and the "
                        "secret `deadMansSwitchUrl`), or set `environment` to staging or dev",
                        ("notifications", "deadMansSwitch"),
                        None,
                    )
                ],
            )
        return self

    @model_validator(mode="after")
    def _sentinel_needs_kubernetes(self) -> "StackConfig":
        if self.redis.mode == "sentinel" and self.platform != "kubernetes":
            raise ValueError(
                "redis.mode: sentinel needs platform kubernetes (stable pod names for the Sentinels)"
            )
        return self

    def _too_few_scrapes(
        self, error_type: str, loc: tuple[str | int, ...], window: str
    ) -> list[InitErrorDetails]:
        """The error for a `rate()` window that spans fewer than RATE_WINDOW_MIN_SCRAPES scrapes."""
        minimum = RATE_WINDOW_MIN_SCRAPES * duration_seconds(self.prometheus.scrape_interval)
        if duration_seconds(window) >= minimum:
            return []
        message = (
            f"must span at least {RATE_WINDOW_MIN_SCRAPES} scrapes of prometheus.scrapeInterval "
            f"({self.prometheus.scrape_interval}): {minimum:g}s or longer"
        )
        return [config_error(error_type, message, loc, window)]

    @model_validator(mode="after")
    def _rate_window_spans_enough_scrapes(self) -> "StackConfig":
        # rate() needs two samples in its window; below 4 scrapes one missed scrape
        # leaves the recording rules empty, and every alert that reads them silent.
        raise_errors(
            "StackConfig",
            self._too_few_scrapes("rate_window_too_short", ("alerts", "rateWindow"), self.alerts.rate_window),
        )
        return self

    @model_validator(mode="after")
    def _rollout_interval_spans_enough_scrapes(self) -> "StackConfig":
        # The judge's rate() windows need the same margin as the recording rules'.
        raise_errors(
            "StackConfig",
            [
                error
                for name, service in self.services.items()
                for error in self._too_few_scrapes(
                    "rollout_interval_too_short",
                    ("services", name, "rollout", "interval"),
                    service.rollout.interval,
                )
            ],
        )
        return self

    @model_validator(mode="after")
    def _slo_fits_prometheus(self) -> "StackConfig":
        # The budget is a rate() over the whole window: Prometheus must still hold its start, and
        # each burn window needs the scrapes any rate() window needs.
        retention = self.prometheus.retention
        errors = []
        for name, service in self.services.items():
            if service.slo is None:
                continue
            if duration_seconds(service.slo.window) > duration_seconds(retention):
                errors.append(
                    config_error(
                        "slo_window_beyond_retention",
                        f"is longer than prometheus.retention ({retention}): the error budget would be "
                        "counted from part of the window; raise the retention or shorten the window",
                        ("services", name, "slo", "window"),
                        service.slo.window,
                    )
                )
            for index, alert in enumerate(service.slo.burn_rate_alerts):
                errors += self._too_few_scrapes(
                    "slo_window_too_short",
                    ("services", name, "slo", "burnRateAlerts", index, "shortWindow"),
                    alert.short_window,
                )
        raise_errors("StackConfig", errors)
        return self

    @model_validator(mode="after")
    def _sticky_needs_the_docker_router(self) -> "StackConfig":
        # A promise the platform cannot keep is refused, not silently dropped:
        # a weight change must stay an HTTPRoute-only change, and Gateway API's
        # sessionPersistence is not in the standard channel.
        if self.platform != "kubernetes":
            return self
        raise_errors(
            "StackConfig",
            [
                config_error(
                    "sticky_on_kubernetes",
                    "not supported on platform kubernetes: the Gateway API HTTPRoute splits each request "
                    "at random by weight, so neither this cookie nor the X-User-Id header keeps a user on "
                    "one track there (sticky routing is only done by the Docker nginx router); remove it",
                    ("services", name, "route", "stickyCookie"),
                    service.route.sticky_cookie,
                )
                for name, service in self.services.items()
                if service.route is not None and service.route.sticky_cookie is not None
            ],
        )
        return self

    @model_validator(mode="after")
    def _docker_only_features(self) -> "StackConfig":
        # Kubernetes pulls every image from a registry and has no local Docker host.
        if self.platform == "docker":
            return self
        only_docker = "only for platform docker"
        errors = [
            config_error(
                "docker_only", f"{only_docker}: Kubernetes pulls images", ("services", name, "build"), None
            )
            for name, service in self.services.items()
            if service.build is not None
        ]
        if self.load_generator is not None:
            errors.append(
                config_error("docker_only", f"{only_docker} (the dev stack)", ("loadGenerator",), None)
            )
        raise_errors("StackConfig", errors)
        return self

    @model_validator(mode="after")
    def _load_generator_targets_a_routed_service(self) -> "StackConfig":
        generator = self.load_generator
        if generator is None:
            return self
        service = self.services.get(generator.service)
        if service is None or service.route is None:
            routed = ", ".join(sorted(n for n, s in self.services.items() if s.route is not None)) or "none"
            raise ValueError(
                f"loadGenerator.service: {generator.service!r} is not a routed service (routed: {routed})"
            )
        return self

    @field_validator("services")
    @classmethod
    def _services_exist(cls, services: dict[str, ServiceConfig]) -> dict[str, ServiceConfig]:
        if not services:
            raise ValueError("at least one service is required")
        return services
