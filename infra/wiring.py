"""Pure translations from this stack's settings to the inputs of components.

Where one component's settings feed another component (a service's route and
canary weight into the traffic router, the alert catalog into the dashboards),
the translation lives here, above both, so that no component imports another.
"""

from components.app.settings import ServiceConfig, effective_weight
from components.grafana.dashboards import Thresholds
from components.prometheus.alerts import AlertsConfig
from components.traffic.nginx_conf import RouteTarget


def route_target(
    service_name: str,
    service: ServiceConfig,
    *,
    kill_switch: bool,
    stable_upstream: str,
    canary_upstream: str | None,
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
        redis_memory_ratio=alerts.redis_memory_ratio,
    )
