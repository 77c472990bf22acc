"""Wires the components of one stack together."""

import pulumi

from components.app.component import AppService, AppServiceArgs
from components.redis.component import Redis, RedisArgs
from components.traffic.component import RoutedService, TrafficRouter, TrafficRouterArgs
from components.traffic.nginx_conf import route_target
from infra.config import StackConfig
from infra.platform import create_platform
from infra.secrets import StackSecrets

JAEGER_NAME = "jaeger"
OTLP_GRPC_PORT = 4317


def build_stack(config: StackConfig, secrets: StackSecrets) -> None:
    """Declare every resource of the stack and export what operators need."""
    environment = pulumi.get_stack()
    platform = create_platform(config)
    redis = Redis("redis", RedisArgs(config=config.redis, password=secrets.redis_password, platform=platform))

    routed: list[RoutedService] = []
    for name, service in config.services.items():
        app = AppService(
            name,
            AppServiceArgs(
                service=service,
                kill_switch=config.kill_switch,
                environment=environment,
                redis_host=platform.address("redis"),
                redis_port=config.redis.port,
                redis_password=secrets.redis_password,
                otlp_endpoint=f"http://{platform.address(JAEGER_NAME)}:{OTLP_GRPC_PORT}",
                platform=platform,
            ),
        )
        canary_host = app.hosts.get("canary")
        target = route_target(
            name,
            service,
            kill_switch=config.kill_switch,
            stable_upstream=f"{app.hosts['stable']}:{service.port}",
            canary_upstream=f"{canary_host}:{service.port}" if canary_host else None,
        )
        if target is not None:
            routed.append(RoutedService(target, service.port, tuple(service.route.hostnames)))

    TrafficRouter(
        "router",
        TrafficRouterArgs(
            services=routed,
            platform=platform,
            nginx_image=f"nginx:{config.router.version}",
            nginx_resources=config.router.resources,
            publish_port=config.docker.ports.router,
            gateway_name=config.kubernetes.gateway.name,
            gateway_namespace=config.kubernetes.gateway.namespace,
        ),
    )
    pulumi.export("platform", config.platform)
    pulumi.export("redisEndpoint", pulumi.Output.concat(redis.host, ":", redis.port.apply(str)))
    pulumi.export("canaryWeights", {t.target.service_name: t.target.canary_weight for t in routed})
