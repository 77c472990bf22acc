"""Wires the components of one stack together."""

import pulumi

from components.alertmanager.component import PORT as ALERTMANAGER_PORT
from components.alertmanager.component import Alertmanager, AlertmanagerArgs, credential_files
from components.app.component import AppService, AppServiceArgs
from components.app.loadgen import LoadGenerator, LoadGeneratorArgs
from components.app.settings import ServiceConfig, effective_weight, track_workload_name
from components.grafana.component import Grafana, GrafanaArgs
from components.jaeger.component import Jaeger, JaegerArgs
from components.jaeger.config import OTLP_GRPC_PORT, QUERY_HTTP_PORT
from components.network.component import NetworkIsolation, NetworkIsolationArgs
from components.platform.base import Platform
from components.platform.images import IMAGES
from components.platform.kubernetes import KubernetesPlatform
from components.platform.telemetry import STACK_LABEL
from components.prometheus.component import Prometheus, PrometheusArgs
from components.prometheus.config import PORT as PROMETHEUS_PORT
from components.prometheus.config import (
    AppTarget,
    DockerTargets,
    KubernetesPods,
    PrometheusSettings,
    RedisTargets,
)
from components.redis.component import Redis, RedisArgs
from components.traffic.component import RoutedService, TrafficRouter, TrafficRouterArgs
from components.traffic.nginx_conf import DEFAULT_LISTEN_PORT as ROUTER_PORT
from components.traffic.nginx_conf import RouteTarget
from infra.config import StackConfig
from infra.network import stack_flows
from infra.platform import create_platform
from infra.secrets import StackSecrets
from infra.wiring import dashboard_thresholds, external_url, monitored_deployment, route_target, service_slos

JAEGER_NAME = "jaeger"


def build_stack(config: StackConfig, secrets: StackSecrets) -> None:
    """Declare every resource of the stack and export what operators need."""
    environment = pulumi.get_stack()
    platform = create_platform(config, secrets)
    redis = Redis(
        "redis",
        RedisArgs(
            config=config.redis,
            password=secrets.redis_password,
            platform=platform,
            also_accepted_password=secrets.redis_password_also_accepted,
        ),
    )

    routed: list[RoutedService] = []
    apps: dict[str, AppService] = {}
    for name, service in config.services.items():
        app = AppService(
            name,
            AppServiceArgs(
                service=service,
                kill_switch=config.kill_switch,
                environment=environment,
                redis_env=redis.client_env,
                redis_password=secrets.redis_password,
                otlp_endpoint=f"http://{platform.address(JAEGER_NAME)}:{OTLP_GRPC_PORT}",
                trace_sampling=config.tracing.probability_for(name),
                platform=platform,
            ),
        )
        apps[name] = app
        if service.route is not None:
            target = _target(name, service, app, config)
            routed.append(RoutedService(target, service.port, tuple(service.route.hostnames)))

    _observability(config, secrets, platform, apps, redis)
    NetworkIsolation("network", NetworkIsolationArgs(flows=stack_flows(config), platform=platform))
    TrafficRouter(
        "router",
        TrafficRouterArgs(
            services=routed,
            platform=platform,
            nginx_image=IMAGES["nginx"].reference(config.router.version),
            nginx_resources=config.router.resources,
            publish_port=config.docker.ports.router,
            gateway_name=config.kubernetes.gateway.name,
            gateway_namespace=config.kubernetes.gateway.namespace,
            proxy=config.router.proxy_options(),
        ),
    )
    if config.load_generator is not None:
        _load_generator(config, platform)
    pulumi.export("platform", config.platform)
    pulumi.export("redisEndpoint", pulumi.Output.concat(redis.host, ":", redis.port.apply(str)))
    pulumi.export(
        "canaryWeights",
        {name: effective_weight(s, config.kill_switch) for name, s in config.services.items() if s.route},
    )


def _target(
    name: str, service: ServiceConfig, app: AppService, config: StackConfig
) -> pulumi.Input[RouteTarget]:
    """The service's RouteTarget; on Docker, an output: its containers' names are known once they exist."""
    stable = list(app.addresses["stable"])
    canary = list(app.addresses.get("canary", ()))

    def build(names: list[str]) -> RouteTarget:
        target = route_target(
            name,
            service,
            kill_switch=config.kill_switch,
            stable_upstream=tuple(f"{n}:{service.port}" for n in names[: len(stable)]),
            canary_upstream=tuple(f"{n}:{service.port}" for n in names[len(stable) :]) or None,
        )
        assert target is not None  # the service has a route
        return target

    names = [*stable, *canary]
    if all(isinstance(n, str) for n in names):
        return build([str(n) for n in names])
    return pulumi.Output.all(*names).apply(build)


def _scrape_targets(
    config: StackConfig,
    platform: Platform,
    apps: dict[str, AppService],
    alertmanagers: list[str],
    redis: Redis,
) -> PrometheusSettings:
    # Every alert says which stack it comes from (notifications name it).
    labels = {STACK_LABEL: pulumi.get_stack()}
    # Each Redis process on its own, through the exporter, on both platforms.
    nodes = RedisTargets(exporter=redis.exporter, data_nodes=redis.data_nodes, sentinels=redis.sentinels)
    if isinstance(platform, KubernetesPlatform):
        return PrometheusSettings(
            targets=KubernetesPods(platform.namespace_name),
            alertmanagers=tuple(alertmanagers),
            redis=nodes,
            scrape_interval=config.prometheus.scrape_interval,
            evaluation_interval=config.prometheus.evaluation_interval,
            external_labels=labels,
        )
    apps = tuple(
        AppTarget(name, track, f"{host}:{service.port}", service.metrics_path)
        for name, service in config.services.items()
        for track in apps[name].hosts  # the tracks that run: no canary without one, or at 0 replicas
        for host in platform.instance_hosts(track_workload_name(name, track), service.track(track).replicas)
    )
    return PrometheusSettings(
        targets=DockerTargets(apps=apps),
        alertmanagers=tuple(alertmanagers),
        redis=nodes,
        scrape_interval=config.prometheus.scrape_interval,
        evaluation_interval=config.prometheus.evaluation_interval,
        external_labels=labels,
    )


def _observability(
    config: StackConfig, secrets: StackSecrets, platform: Platform, apps: dict[str, AppService], redis: Redis
) -> None:
    ports = config.docker.ports
    Jaeger(
        JAEGER_NAME,
        JaegerArgs(
            config=config.jaeger, tracing=config.tracing, platform=platform, publish_port=ports.jaeger
        ),
    )
    alertmanager = Alertmanager(
        "alertmanager",
        AlertmanagerArgs(
            config=config.alertmanager,
            notifications=config.notifications,
            credentials=credential_files(
                secrets.slack_webhook_url,
                secrets.smtp_password,
                secrets.pagerduty_routing_key,
                secrets.dead_mans_switch_url,
            ),
            platform=platform,
            external_url=external_url(
                config,
                "alertmanager",
                config.alertmanager.external_url,
                ports.alertmanager,
                ALERTMANAGER_PORT,
            ),
            publish_port=ports.alertmanager,
        ),
    )
    Prometheus(
        "prometheus",
        PrometheusArgs(
            config=config.prometheus,
            alerts=config.alerts,
            scrape=_scrape_targets(config, platform, apps, alertmanager.addresses, redis),
            platform=platform,
            external_url=external_url(
                config, "prometheus", config.prometheus.external_url, ports.prometheus, PROMETHEUS_PORT
            ),
            deployment=monitored_deployment(config),
            publish_port=ports.prometheus,
        ),
    )
    Grafana(
        "grafana",
        GrafanaArgs(
            config=config.grafana,
            thresholds=dashboard_thresholds(config.alerts),
            slos=service_slos(config),
            prometheus_url=f"http://{platform.address('prometheus')}:{PROMETHEUS_PORT}",
            jaeger_url=f"http://{platform.address(JAEGER_NAME)}:{QUERY_HTTP_PORT}",
            prometheus_scrape_interval=config.prometheus.scrape_interval,
            admin_password=secrets.grafana_admin_password,
            platform=platform,
            publish_port=ports.grafana,
        ),
    )


def _load_generator(config: StackConfig, platform: Platform) -> None:
    settings = config.load_generator
    assert settings is not None
    service = config.services[settings.service]
    LoadGenerator(
        "loadgen",
        LoadGeneratorArgs(
            settings=settings,
            # A tag of its own: a track's version change must not rebuild or restart it.
            image=f"{service.image}:loadgen",
            build=service.build.image_build() if service.build else None,
            target=f"http://{platform.address('router')}:{ROUTER_PORT}",
            platform=platform,
        ),
    )
