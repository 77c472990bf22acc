"""Grafana: datasources, dashboard provider and dashboards, all provisioned from code."""

from dataclasses import dataclass

import pulumi

from components.grafana.dashboards import ServiceSlos, Thresholds, render_dashboards
from components.grafana.provisioning import (
    ADMIN_PASSWORD_FILE,
    DASHBOARDS_DIR,
    DATASOURCES_PATH,
    DEFAULT_SCRAPE_INTERVAL,
    PORT,
    PROVIDER_PATH,
    grafana_environment,
    render_dashboard_provider,
    render_datasources,
)
from components.grafana.settings import GrafanaConfig
from components.platform.base import Platform
from components.platform.images import IMAGES
from components.platform.spec import ConfigFile, Metrics, Port, SecretFile, Workload, http_health

GRAFANA_UID = 472  # the official image's `grafana` user


@dataclass
class GrafanaArgs:
    """Image, panel thresholds (from the alert catalog), the services' objectives, datasource URLs,
    admin password."""

    config: GrafanaConfig
    thresholds: Thresholds
    prometheus_url: str
    jaeger_url: str
    admin_password: pulumi.Input[str]
    platform: Platform
    publish_port: int | None = None
    prometheus_scrape_interval: str = DEFAULT_SCRAPE_INTERVAL
    """Prometheus' scrape interval: the datasource's `timeInterval`, the floor of `$__rate_interval`."""
    slos: ServiceSlos = ()
    """The services' objectives (those with `slo` set): the SLO dashboard, none without any."""


class Grafana(pulumi.ComponentResource):
    """A stateless Grafana: everything it shows is provisioned, nothing is clicked together."""

    def __init__(self, name: str, args: GrafanaArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("perfstack:monitoring:Grafana", name, None, opts)
        dashboards = tuple(
            ConfigFile(f"{DASHBOARDS_DIR}/{file}", text)
            for file, text in render_dashboards(args.thresholds, args.slos).items()
        )
        args.platform.deploy(
            Workload(
                name=name,
                app="grafana",
                component="monitoring",
                image=IMAGES["grafana"].reference(args.config.version),
                env=grafana_environment(ADMIN_PASSWORD_FILE),
                files=(
                    ConfigFile(
                        DATASOURCES_PATH,
                        render_datasources(
                            args.prometheus_url, args.jaeger_url, args.prometheus_scrape_interval
                        ),
                    ),
                    ConfigFile(PROVIDER_PATH, render_dashboard_provider(DASHBOARDS_DIR)),
                    *dashboards,
                ),
                secret_files=(SecretFile(ADMIN_PASSWORD_FILE, args.admin_password),),
                ports=(Port("http", PORT, publish=args.publish_port),),
                writable_dirs=("/var/lib/grafana", "/tmp"),
                health=http_health("/api/health", PORT),
                # Grafana serves /metrics on its HTTP port (unauthenticated by default): scraped so
                # that `TargetDown` notices a Grafana down.
                metrics=Metrics(PORT),
                resources=args.config.resources,
                run_as_user=GRAFANA_UID,
            ),
            parent=self,
        )
        self.register_outputs({})
