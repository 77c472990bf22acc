"""Alertmanager: routes alerts by severity, a gossip cluster when replicated."""

from dataclasses import dataclass

import pulumi

from components.alertmanager.config import (
    CONFIG_PATH,
    DEAD_MANS_SWITCH_URL_FILE,
    DEFAULT_SECRETS_DIR,
    PAGERDUTY_ROUTING_KEY_FILE,
    SLACK_WEBHOOK_FILE,
    SMTP_PASSWORD_FILE,
    render_alertmanager_config,
    required_secret_files,
)
from components.alertmanager.settings import AlertmanagerConfig, NotificationsConfig
from components.platform.base import Platform
from components.platform.images import IMAGES
from components.platform.spec import ConfigFile, DataVolume, Metrics, Port, SecretFile, Workload, http_health

PORT = 9093
CLUSTER_PORT = 9094
DATA_DIR = "/alertmanager"
ALERTMANAGER_UID = 65534


@dataclass
class AlertmanagerArgs:
    """Settings, channels, their credentials, and where to run."""

    config: AlertmanagerConfig
    notifications: NotificationsConfig
    credentials: dict[str, pulumi.Input[str]]
    """Secret file name (SLACK_WEBHOOK_FILE, ...) to its value; only configured channels."""
    platform: Platform
    external_url: str
    """Where people open this Alertmanager (`--web.external-url`): notification links start with it."""
    publish_port: int | None = None


def credential_files(
    slack_webhook_url: pulumi.Input[str] | None,
    smtp_password: pulumi.Input[str] | None,
    pagerduty_routing_key: pulumi.Input[str] | None,
    dead_mans_switch_url: pulumi.Input[str] | None = None,
) -> dict[str, pulumi.Input[str]]:
    """The credentials that are set, keyed by the file name the config reads them from."""
    files = {
        SLACK_WEBHOOK_FILE: slack_webhook_url,
        SMTP_PASSWORD_FILE: smtp_password,
        PAGERDUTY_ROUTING_KEY_FILE: pagerduty_routing_key,
        DEAD_MANS_SWITCH_URL_FILE: dead_mans_switch_url,
    }
    return {name: value for name, value in files.items() if value is not None}


class Alertmanager(pulumi.ComponentResource):
    """Alertmanager with credentials mounted as files (`*_file` fields), never inline.

    With more than one replica the members find each other through their
    stable host names and deduplicate notifications.
    Outputs: ``addresses``, the host:port of every member, for Prometheus.
    """

    addresses: list[str]

    def __init__(self, name: str, args: AlertmanagerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("perfstack:monitoring:Alertmanager", name, None, opts)
        config = args.config
        hosts = args.platform.instance_hosts(name, config.replicas)
        cluster = (
            [f"--cluster.listen-address=0.0.0.0:{CLUSTER_PORT}"]
            + [f"--cluster.peer={host}:{CLUSTER_PORT}" for host in hosts]
            if config.replicas > 1
            else ["--cluster.listen-address="]  # empty: no clustering for a single member
        )
        missing = set(required_secret_files(args.notifications)) - set(args.credentials)
        if missing:
            raise ValueError(f"credentials missing for configured channels: {sorted(missing)}")
        args.platform.deploy(
            Workload(
                name=name,
                app="alertmanager",
                component="monitoring",
                image=IMAGES["alertmanager"].reference(config.version),
                args=(
                    f"--config.file={CONFIG_PATH}",
                    f"--storage.path={DATA_DIR}",
                    f"--web.external-url={args.external_url}",
                    # Serve at / whatever path the external URL has: probes and Prometheus keep working.
                    "--web.route-prefix=/",
                    *cluster,
                ),
                files=(
                    ConfigFile(
                        CONFIG_PATH, render_alertmanager_config(args.notifications, DEFAULT_SECRETS_DIR)
                    ),
                ),
                secret_files=tuple(
                    SecretFile(f"{DEFAULT_SECRETS_DIR}/{file}", args.credentials[file])
                    for file in required_secret_files(args.notifications)
                ),
                ports=(Port("http", PORT, publish=args.publish_port), Port("cluster", CLUSTER_PORT)),
                volumes=(DataVolume("data", DATA_DIR, "1Gi"),),
                health=http_health("/-/ready", PORT),
                liveness=http_health("/-/healthy", PORT),
                metrics=Metrics(PORT),
                resources=config.resources,
                replicas=config.replicas,
                # Members gossip to settle: none should wait for another to be ready first. Set for
                # one replica too, as the policy cannot change on a StatefulSet without replacing it.
                parallel_start=True,
                run_as_user=ALERTMANAGER_UID,
            ),
            parent=self,
        )
        self.addresses = [f"{host}:{PORT}" for host in hosts]
        self.register_outputs({"addresses": self.addresses})
