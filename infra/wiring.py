"""Pure translations from this stack's settings to the inputs of components.

Where one component's settings feed another component (a service's route and
canary weight into the traffic router, the alert catalog into the dashboards),
the translation lives here, above both, so that no component imports another.
"""

from components.app.settings import ServiceConfig, effective_weight, running_tracks
from components.grafana.dashboards import ServiceSlos, Thresholds
from components.platform.settings import memory_bytes
from components.prometheus.alerts import AlertsConfig, MonitoredDeployment
from components.traffic.nginx_conf import RouteTarget
from infra.config import StackConfig


def route_target(
    service_name: str,
    service: ServiceConfig,
    *,
    kill_switch: bool,
    stable_upstream: str | tuple[str, ...],
    canary_upstream: str | tuple[str, ...] | None,
) -> RouteTarget | None:
    """The RouteTarget of a configured service (None when it has no route), weight after the kill switch."""
    if service.route is None:
        return None
    return RouteTarget(
        service_name=service_name,
        path_prefix=service.route.path_prefix,
        stable_upstream=stable_upstream,
        canary_upstream=canary_upstream if service.canary is not None else None,
        canary_weight=effective_weight(service, kill_switch),
        sticky_cookie=service.route.sticky_cookie,
    )


def dashboard_thresholds(alerts: AlertsConfig) -> Thresholds:
    """The dashboards' colour bands: the alert catalog's lines (latency in seconds, as panels show it)."""
    return Thresholds(
        p95_target_s=alerts.dashboard_p95_target_ms / 1000,
        p95_warning_s=alerts.p95_warning_ms / 1000,
        error_rate_warning=alerts.error_rate_warning,
        error_rate_critical=alerts.error_rate_critical,
        token_baseline_per_request=alerts.token_baseline_per_request,
        token_limit_per_request=alerts.token_limit_per_request,
        quality_target=alerts.dashboard_quality_target,
        quality_critical=alerts.quality_critical,
        cache_hit_target=alerts.dashboard_cache_hit_target,
        cache_hit_low=alerts.cache_hit_rate_low,
        canary_min_request_rate=alerts.canary_min_request_rate,
    )


def monitored_deployment(config: StackConfig) -> MonitoredDeployment:
    """What the alert rules must know of the stack: the tracks that run, the Alertmanager members, the
    services' objectives, and the Redis containers' memory limit, volume and write quorum.

    The tracks are those with containers (stable, a canary with replicas), never
    their weights: a weight change must touch only the router, and a changed
    rule file would roll Prometheus.
    """
    return MonitoredDeployment(
        tracks=tuple(
            (name, track) for name, service in config.services.items() for track in running_tracks(service)
        ),
        alertmanager_replicas=config.alertmanager.replicas,
        slos=service_slos(config),
        redis_memory_limit_bytes=memory_bytes(config.redis.container_resources.memory_limit),
        redis_volume_bytes=memory_bytes(config.redis.storage_size),
        redis_min_replicas_to_write=(
            config.redis.sentinel.min_replicas_to_write if config.redis.mode == "sentinel" else 0
        ),
    )


def service_slos(config: StackConfig) -> ServiceSlos:
    """The services with `slo` set and their objectives, in the stack file's order: what the SLO rules
    record and the SLO dashboard draws (one list for both, so every panel has its series)."""
    return tuple((name, service.slo) for name, service in config.services.items() if service.slo is not None)


def external_url(
    config: StackConfig, name: str, explicit: str | None, host_port: int | None, port: int
) -> str:
    """Where people open workload `name` (`--web.external-url`): `explicit` when set, else on Docker
    the UI address and host port (the container's name on the stack's network when the port is not
    published), on Kubernetes the in-cluster Service URL."""
    if explicit is not None:
        return explicit
    if config.platform == "docker":
        return (
            f"http://{name}:{port}" if host_port is None else f"http://{config.docker.ui_address}:{host_port}"
        )
    return f"http://{name}.{config.kubernetes.namespace}.svc:{port}"
