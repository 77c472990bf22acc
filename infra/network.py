"""Every network path this stack needs on Kubernetes; all others are closed."""

from components.alertmanager.component import CLUSTER_PORT as ALERTMANAGER_CLUSTER_PORT
from components.alertmanager.component import PORT as ALERTMANAGER_PORT
from components.jaeger.config import (
    METRICS_PORT as JAEGER_METRICS_PORT,
)
from components.jaeger.config import (
    OTLP_GRPC_PORT,
    OTLP_HTTP_PORT,
    QUERY_HTTP_PORT,
    SAMPLING_HTTP_PORT,
)
from components.platform.network import ALL_NAMESPACES, ANYWHERE, EVERY_POD, Flow, Peer, app, component
from components.prometheus.config import GRAFANA_PORT, REDIS_EXPORTER_PORT
from components.prometheus.config import PORT as PROMETHEUS_PORT
from components.redis.component import SENTINEL_PORT
from infra.config import StackConfig

# DNS goes to port 53 of any pod of any namespace, and to NodeLocal DNSCache's link-local address.
# Not only to `k8s-app: kube-dns` pods in kube-system: CoreDNS is labelled differently by some
# distributions, and with NodeLocal DNSCache the pods ask a node-local (host network) address that
# no pod selector matches. Port 53 alone is what stays closed to the rest of the cluster.
CLUSTER_DNS = Peer(namespace=ALL_NAMESPACES)
NODE_LOCAL_DNS = Peer(cidr="169.254.20.10/32")
"""NodeLocal DNSCache's default listen address (the Kubernetes docs' and most distributions')."""


def stack_flows(config: StackConfig) -> list[Flow]:
    """The allowed paths: DNS, Gateway to apps, apps to Redis and Jaeger, monitoring, clustering."""
    redis_port = config.redis.port
    app_ports = tuple(sorted({s.port for s in config.services.values()}))
    gateways = [
        Peer(labels=tuple(sorted(peer.pod_labels.items())), namespace=peer.namespace)
        for peer in config.kubernetes.ingress_peers()
    ]
    flows = [
        Flow("dns", EVERY_POD, CLUSTER_DNS, (53,), ("UDP", "TCP")),
        Flow("dns-node-local", EVERY_POD, NODE_LOCAL_DNS, (53,), ("UDP", "TCP")),
        Flow("app-redis", component("app"), app("redis"), (redis_port,)),
        Flow("app-sentinel", component("app"), app("redis-sentinel"), (SENTINEL_PORT,)),
        Flow(
            "app-jaeger",
            component("app"),
            app("jaeger"),
            (OTLP_GRPC_PORT, OTLP_HTTP_PORT, SAMPLING_HTTP_PORT),
        ),
        Flow("exporter-redis", app("redis-exporter"), app("redis"), (redis_port,)),
        # The exporter scrapes every Sentinel too (each is its own Prometheus target).
        Flow("exporter-sentinel", app("redis-exporter"), app("redis-sentinel"), (SENTINEL_PORT,)),
        Flow("redis-replication", app("redis"), app("redis"), (redis_port,)),
        Flow("redis-sentinel-lookup", app("redis"), app("redis-sentinel"), (SENTINEL_PORT,)),
        Flow("sentinel-redis", app("redis-sentinel"), app("redis"), (redis_port,)),
        Flow("sentinel-gossip", app("redis-sentinel"), app("redis-sentinel"), (SENTINEL_PORT,)),
        Flow(
            "prometheus-scrape",
            app("prometheus"),
            EVERY_POD,
            # Prometheus' own port: every replica scrapes the others (one alerts when another fails).
            tuple(
                sorted(
                    {
                        *app_ports,
                        REDIS_EXPORTER_PORT,
                        JAEGER_METRICS_PORT,
                        ALERTMANAGER_PORT,
                        GRAFANA_PORT,
                        PROMETHEUS_PORT,
                    }
                )
            ),
        ),
        # Pod discovery talks to the API server, whose address is the cluster's own.
        Flow("prometheus-kube-api", app("prometheus"), ANYWHERE, (443, 6443)),
        Flow("grafana-prometheus", app("grafana"), app("prometheus"), (PROMETHEUS_PORT,)),
        Flow("grafana-jaeger", app("grafana"), app("jaeger"), (QUERY_HTTP_PORT,)),
        Flow(
            "alertmanager-gossip",
            app("alertmanager"),
            app("alertmanager"),
            (ALERTMANAGER_CLUSTER_PORT,),
            ("TCP", "UDP"),
        ),
    ]
    notifications = config.notifications
    # The dead man's switch URL is a secret, unknown here: an https service is assumed (443).
    https = notifications.slack or notifications.pagerduty or notifications.dead_mans_switch
    outbound = {443} if https else set()
    if notifications.email is not None:
        outbound.add(int(notifications.email.smarthost.rsplit(":", 1)[1]))
    if outbound:
        flows.append(Flow("alertmanager-notify", app("alertmanager"), ANYWHERE, tuple(sorted(outbound))))
    for name, service in config.services.items():
        if service.route is not None:
            flows += [Flow(f"gateway-{name}", gateway, app(name), (service.port,)) for gateway in gateways]
    return flows
