"""Alertmanager settings: the workload (`perfstack:alertmanager`) and where alerts are sent
(`perfstack:notifications`), the non-secret half of each channel.

The secret half (Slack webhook URL, SMTP password, PagerDuty routing key) is
never part of this model: it is mounted into Alertmanager as files and the
rendered config only points at those files (`*_file` fields). A channel left
out (None) is not configured at all; alerts meant for it are not routed there.
Staging sets only `slack`; production sets all three.
"""

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from components.platform.images import IMAGES
from components.platform.settings import ConfigModel, HttpUrl, ImageTag, PromDuration, WorkloadConfig


class AlertmanagerConfig(WorkloadConfig):
    """Alertmanager (`prom/alertmanager`)."""

    version: ImageTag = IMAGES["alertmanager"].version
    """Image tag."""
    replicas: Annotated[int, Field(ge=1, le=5)] = 1
    """Cluster members (gossip); alerts are deduplicated across them."""
    external_url: HttpUrl | None = None
    """The address people open Alertmanager at (`--web.external-url`): the links in notifications
    (silence, source) start with it. Unset: on Docker
    `http://<docker.uiAddress>:<docker.ports.alertmanager>` (with the port unpublished `http://alertmanager:<port>`,
    which resolves on the stack's network), on Kubernetes the in-cluster
    Service, `http://alertmanager.<namespace>.svc:9093`, which resolves inside the cluster (from a
    laptop: `kubectl port-forward svc/alertmanager 9093` and the same path on 127.0.0.1); set the
    public address when an ingress publishes it. A path in it is only used for links: Alertmanager
    keeps serving at `/` (`--web.route-prefix=/`), so the proxy in front must strip it."""


_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_HOST_PORT = re.compile(r"^[A-Za-z0-9.-]+:\d{1,5}$")
_SLACK_CHANNEL = re.compile(r"^[#@][a-z0-9._-]{1,80}$")


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f"{value!r} is not an email address")
    return value


def _host_port(value: str) -> str:
    if not _HOST_PORT.match(value) or not 0 < int(value.rsplit(":", 1)[1]) < 65536:
        raise ValueError(f"{value!r} is not host:port (e.g. 'smtp.example.com:587')")
    return value


def _slack_channel(value: str) -> str:
    if not _SLACK_CHANNEL.match(value):
        raise ValueError(f"{value!r} is not a Slack channel: '#name' (lowercase) or '@user'")
    return value


EmailAddress = Annotated[str, AfterValidator(_email)]
"""An email address such as 'oncall@example.com'."""

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
"""PagerDuty's Events API v2 endpoint, Alertmanager's default for `pagerduty_configs`."""

PagerDutySeverity = Literal["critical", "error", "warning", "info"]
"""Severities the PagerDuty Events API v2 accepts."""


class SlackConfig(ConfigModel):
    """Slack channel for every alert (the webhook URL is the secret file `slack-webhook-url`)."""

    channel: Annotated[str, AfterValidator(_slack_channel)]
    """Channel the alerts are posted to, e.g. '#perfstack-alerts'."""
    username: str = Field(default="perfstack-alertmanager", min_length=1)
    """Name the messages are posted under."""
    send_resolved: bool = True
    """Also post when an alert resolves."""


class EmailConfig(ConfigModel):
    """Email for critical alerts (the SMTP password is the secret file `smtp-password`)."""

    to: list[EmailAddress] = Field(min_length=1)
    """Recipients of every email."""
    from_address: EmailAddress
    """Sender address (the SMTP `From`)."""
    smarthost: Annotated[str, AfterValidator(_host_port)]
    """SMTP server as host:port, e.g. 'smtp.example.com:587'."""
    auth_username: str | None = None
    """SMTP login; when set, the password is read from the secret file. None = no SMTP auth."""
    require_tls: bool = True
    """Refuse to send unless the server offers STARTTLS."""
    send_resolved: bool = True
    """Also send an email when an alert resolves."""


class PagerDutyConfig(ConfigModel):
    """PagerDuty (Events API v2) for paging alerts (routing key: secret file `pagerduty-routing-key`)."""

    enabled: bool = True
    """False keeps the settings but sends nothing (same as leaving `pagerduty` out)."""
    url: HttpUrl = PAGERDUTY_EVENTS_URL
    """PagerDuty Events API v2 endpoint the events are posted to. The default is PagerDuty's own (and
    Alertmanager's); set another for PagerDuty's EU service region (`https://events.eu.pagerduty.com/v2/enqueue`),
    an egress proxy, or a stand-in in tests."""
    # Literal keys, not the Severity enum: the stack config is validated strictly and YAML gives strings.
    severity_map: dict[Literal["critical", "warning"], PagerDutySeverity] = Field(
        default_factory=lambda: {"critical": "critical", "warning": "warning"}
    )
    """PagerDuty severity for each alert severity; unmapped severities are sent as 'error'."""
    send_resolved: bool = True
    """Resolve the PagerDuty incident when the alert resolves."""


class DeadMansSwitchConfig(ConfigModel):
    """A dead man's switch (e.g. healthchecks.io, Dead Man's Snitch, PagerDuty or Opsgenie heartbeats)
    that the always-firing `Watchdog` alert pings through Alertmanager; it raises an incident when the
    pings stop, which catches what no alert can: Prometheus or Alertmanager down, or the path between
    them broken. Its URL is the secret `deadMansSwitchUrl` (it holds the check's token)."""

    repeat_interval: PromDuration = "1m"
    """How often Alertmanager sends the Watchdog to the URL; give the check a period a few times
    longer (5m for 1m), so one late ping does not raise an incident."""


class NotificationsConfig(ConfigModel):
    """Notification channels; each one is optional and left out cleanly when None."""

    slack: SlackConfig | None = None
    """Slack settings, or None when Slack is not used."""
    email: EmailConfig | None = None
    """Email settings, or None when email is not used."""
    pagerduty: PagerDutyConfig | None = None
    """PagerDuty settings, or None when PagerDuty is not used."""
    group_wait: PromDuration = "30s"
    """How long Alertmanager waits to batch the first notification of a group."""
    group_interval: PromDuration = "5m"
    """How long it waits before notifying about new alerts in a group already notified."""
    repeat_interval: PromDuration = "4h"
    """How long before a still-firing alert is sent again."""
    dead_mans_switch: DeadMansSwitchConfig | None = None
    """Where the `Watchdog` heartbeat goes. Unset, Watchdog goes to a receiver that sends nothing
    (`watchdog`): it never reaches a person, and the stack has no alarm for Prometheus or
    Alertmanager being down as a whole."""
