"""Prometheus: scrapes every target on its own and evaluates the alert rules."""

from dataclasses import dataclass, field

import pulumi

from components.platform.base import Platform
from components.platform.images import IMAGES
from components.platform.spec import ConfigFile, DataVolume, Metrics, Port, Workload, http_health
from components.prometheus.alerts import AlertsConfig, MonitoredDeployment
from components.prometheus.config import (
    CONFIG_PATH,
    DATA_DIR,
    PORT,
    RULES_DIR,
    PrometheusSettings,
    render_prometheus_config,
)
from components.prometheus.rules import RULES_FILE_NAME, render_rules
from components.prometheus.settings import PrometheusConfig

PROMETHEUS_UID = 65534  # the official image's `nobody`


@dataclass
class PrometheusArgs:
    """Settings, alert catalog, and what to scrape (from the stack wiring)."""

    config: PrometheusConfig
    alerts: AlertsConfig
    scrape: PrometheusSettings
    platform: Platform
    external_url: str
    """Where people open Prometheus (`--web.external-url`): alerts link to their source with it."""
    deployment: MonitoredDeployment = field(default_factory=MonitoredDeployment)
    """What runs, for the alerts that depend on it (tracks, Alertmanager members); never weights."""
    publish_port: int | None = None


class Prometheus(pulumi.ComponentResource):
    """One or more identical Prometheus servers, each with its own storage.

    Every replica gets the same prometheus.yml and rule file, so HA pairs
    scrape and alert identically and Alertmanager deduplicates.
    """

    def __init__(self, name: str, args: PrometheusArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("perfstack:monitoring:Prometheus", name, None, opts)
        config = args.config
        args.platform.deploy(
            Workload(
                name=name,
                app="prometheus",
                component="monitoring",
                image=IMAGES["prometheus"].reference(config.version),
                args=(
                    f"--config.file={CONFIG_PATH}",
                    f"--storage.tsdb.path={DATA_DIR}",
                    f"--storage.tsdb.retention.time={config.retention}",
                    f"--storage.tsdb.retention.size={config.retention_size}",
                    f"--web.external-url={args.external_url}",
                    # Serve at / whatever path the external URL has: probes and Grafana keep working.
                    "--web.route-prefix=/",
                    # Grafana's Prometheus datasource links exemplars' trace_id to Jaeger; without
                    # exemplar storage Prometheus drops the exemplars it scrapes.
                    "--enable-feature=exemplar-storage",
                ),
                files=(
                    ConfigFile(CONFIG_PATH, render_prometheus_config(args.scrape)),
                    ConfigFile(f"{RULES_DIR}/{RULES_FILE_NAME}", render_rules(args.alerts, args.deployment)),
                ),
                ports=(Port("http", PORT, publish=args.publish_port),),
                volumes=(DataVolume("data", DATA_DIR, config.storage_size),),
                # Ready once the TSDB is loaded (a WAL replay can take minutes); healthy as soon as
                # the process serves, so liveness does not kill a long replay.
                health=http_health("/-/ready", PORT),
                liveness=http_health("/-/healthy", PORT),
                # On Kubernetes every replica discovers and scrapes every replica, so that one can
                # alert on another (rule failures, no Alertmanager reachable, a replica down).
                metrics=Metrics(PORT),
                resources=config.resources,
                replicas=config.replicas,
                discovers_pods=True,
                run_as_user=PROMETHEUS_UID,
            ),
            parent=self,
        )
        self.register_outputs({})
