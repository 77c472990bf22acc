"""Prometheus: scrapes every target on its own and evaluates the alert rules."""

from dataclasses import dataclass

import pulumi

from components.platform.base import Platform
from components.platform.images import IMAGES
from components.platform.spec import ConfigFile, DataVolume, Port, Workload, http_health
from components.prometheus.alerts import AlertsConfig
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
                    "--web.enable-lifecycle",
                ),
                files=(
                    ConfigFile(CONFIG_PATH, render_prometheus_config(args.scrape)),
                    ConfigFile(f"{RULES_DIR}/{RULES_FILE_NAME}", render_rules(args.alerts)),
                ),
                ports=(Port("http", PORT, publish=args.publish_port),),
                volumes=(DataVolume("data", DATA_DIR, config.storage_size),),
                health=http_health("/-/ready", PORT),
                resources=config.resources,
                replicas=config.replicas,
                discovers_pods=True,
                run_as_user=PROMETHEUS_UID,
            ),
            parent=self,
        )
        self.register_outputs({})
