"""The traffic router: how outside requests reach each service's tracks.

On Docker one nginx container splits by weight (sticky per user) and keeps
connections open to the app containers, named one by one in its config. The
config is a live file (``LiveFile``): the container runs nginx under
``reloader.RELOADER``, which reloads it in place, so a weight change or a
replaced app container rewrites the file and never replaces the router. On
Kubernetes each routed service gets a Gateway API HTTPRoute with weighted
backendRefs, split per request. Either way a weight change touches only these
resources.
"""

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.platform.base import Platform
from components.platform.kubernetes import KubernetesPlatform
from components.platform.settings import Resources
from components.platform.spec import ConfigFile, DataVolume, LiveFile, Port, Workload, http_health
from components.traffic.nginx_conf import (
    DEFAULT_LISTEN_PORT,
    NGINX_HEALTH_PATH,
    ProxyOptions,
    RouteTarget,
    httproute_spec,
    render_nginx_conf,
)
from components.traffic.reloader import RELOADER

NGINX_UID = 101  # the official image's `nginx` user
CONFIG_DIR = "/etc/perfstack-router"
"""Where the router's config volume is mounted: nginx.conf and its acknowledgement."""
LIVE_CONF_PATH = f"{CONFIG_DIR}/nginx.conf"
RELOADER_PATH = "/usr/local/bin/perfstack-router"


@dataclass(frozen=True)
class RoutedService:
    """A service with a route, its path and its tracks' hosts, after the kill switch."""

    target: pulumi.Input[RouteTarget]
    """A RouteTarget, or (Docker) an output of one: its servers are container names known once the
    containers exist."""
    port: int
    hostnames: tuple[str, ...] = ()


@dataclass
class TrafficRouterArgs:
    """Routed services and where the router runs."""

    services: list[RoutedService]
    platform: Platform
    nginx_image: str
    nginx_resources: Resources
    publish_port: int
    gateway_name: str
    gateway_namespace: str
    proxy: ProxyOptions = field(default_factory=ProxyOptions)
    """Timeouts and connection reuse of the nginx router (Docker)."""


class TrafficRouter(pulumi.ComponentResource):
    """Weighted stable/canary traffic split for every routed service."""

    def __init__(
        self, name: str, args: TrafficRouterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("perfstack:traffic:Router", name, None, opts)
        if isinstance(args.platform, KubernetesPlatform):
            self._http_routes(args, args.platform)
        elif args.services:
            self._nginx(name, args)
        self.register_outputs({})

    def _http_routes(self, args: TrafficRouterArgs, platform: KubernetesPlatform) -> None:
        for routed in args.services:
            target = routed.target
            # Kubernetes routes to Services, known before anything is created.
            assert isinstance(target, RouteTarget)
            k8s.apiextensions.CustomResource(
                f"{target.service_name}-route",
                api_version="gateway.networking.k8s.io/v1",
                kind="HTTPRoute",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=target.service_name,
                    namespace=platform.namespace.metadata.name,
                    labels={
                        "app.kubernetes.io/name": target.service_name,
                        "app.kubernetes.io/part-of": "perfstack",
                    },
                ),
                spec=httproute_spec(
                    service_name=target.service_name,
                    path_prefix=target.path_prefix,
                    hostnames=routed.hostnames,
                    gateway_name=args.gateway_name,
                    gateway_namespace=args.gateway_namespace,
                    stable_service=target.stable_servers[0].split(":")[0],
                    canary_service=target.canary_servers[0].split(":")[0] if target.canary_servers else None,
                    port=routed.port,
                    canary_weight=target.canary_weight,
                ),
                opts=platform.child_opts(self),
            )

    def _nginx(self, name: str, args: TrafficRouterArgs) -> None:
        conf = pulumi.Output.all(*[s.target for s in args.services]).apply(
            lambda targets: render_nginx_conf(list(targets), proxy=args.proxy)
        )
        args.platform.deploy(
            Workload(
                name=name,
                app="router",
                component="traffic",
                image=args.nginx_image,
                command=("sh", RELOADER_PATH, LIVE_CONF_PATH),
                # Static: the router container is the same whatever the routes and weights.
                files=(ConfigFile(RELOADER_PATH, RELOADER),),
                volumes=(DataVolume("config", CONFIG_DIR, size="1Mi"),),
                live_file=LiveFile(LIVE_CONF_PATH, conf, volume="config"),
                ports=(Port("http", DEFAULT_LISTEN_PORT, publish=args.publish_port),),
                writable_dirs=("/tmp",),
                health=http_health(NGINX_HEALTH_PATH, DEFAULT_LISTEN_PORT),
                resources=args.nginx_resources,
                run_as_user=NGINX_UID,
            ),
            parent=self,
        )
