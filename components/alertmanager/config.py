"""alertmanager.yml from the notification settings (Alertmanager 0.25+).

Routing reads the `notify` label every catalog alert carries (see
components/platform/telemetry.py): one child route per configured channel,
each matching its channel name in that comma-separated list, all with
`continue: true`, so an alert reaches exactly the channels it lists that this
stack has configured:

    notify=slack,email,pagerduty  -> slack, email, pagerduty   (critical)
    notify=slack,email            -> slack, email              (quality critical)
    notify=slack                  -> slack                     (warnings, canary)

An alert without `notify` (a rule written by hand, a future rule) is routed by
`severity`: critical to every configured channel of PAGE, warning to those of
CHAT, and anything else, or a severity whose channels are not configured, to
the default receiver. The default receiver is the first configured of slack,
email and pagerduty, so that every alert reaches a person; it also takes an
alert whose listed channels are none of this stack's. Only a stack without
any channel sends to `null`, which sends nothing.

The `Watchdog` alert always fires; it goes to its own receiver, `watchdog`,
and nowhere else. With `deadMansSwitch` configured that receiver posts it to
the dead man's switch every `deadMansSwitch.repeatInterval`, which raises an
incident when the posts stop (Prometheus or Alertmanager down, or the path
between them broken); without, it sends nothing.

Secrets are never in this file: Slack's webhook URL, the SMTP password, the
PagerDuty routing key and the dead man's switch URL are read by Alertmanager
from files in `secrets_dir` (`api_url_file`, `auth_password_file`,
`routing_key_file`, `url_file`), whose names are the constants below.
`required_secret_files` tells the deploying component which of them to mount.
"""

import posixpath
from typing import Any

import yaml

from components.alertmanager.settings import PAGERDUTY_EVENTS_URL, NotificationsConfig, PagerDutyConfig
from components.platform.telemetry import (
    CHAT,
    INHIBIT_EQUAL_LABELS,
    NOTIFY_LABEL,
    PAGE,
    WATCHDOG_ALERT,
    Channel,
    Severity,
)

DEFAULT_SECRETS_DIR = "/etc/alertmanager/secrets"
"""Where the secret files are mounted in the Alertmanager container."""

CONFIG_PATH = "/etc/alertmanager/alertmanager.yml"
"""Where the rendered config is mounted (`--config.file`)."""

SLACK_WEBHOOK_FILE = "slack-webhook-url"
"""File in the secrets dir holding the Slack incoming-webhook URL."""
SMTP_PASSWORD_FILE = "smtp-password"
"""File in the secrets dir holding the SMTP password (only with `email.authUsername`)."""
PAGERDUTY_ROUTING_KEY_FILE = "pagerduty-routing-key"
"""File in the secrets dir holding the PagerDuty Events API v2 routing key."""
DEAD_MANS_SWITCH_URL_FILE = "dead-mans-switch-url"
"""File in the secrets dir holding the dead man's switch URL (only with `deadMansSwitch`)."""

NULL_RECEIVER = "null"
"""Receiver without integrations: the default receiver of a stack without any channel."""
WATCHDOG_RECEIVER = "watchdog"
"""Receiver of the Watchdog alert alone: the dead man's switch, or nothing."""


def configured_channels(cfg: NotificationsConfig) -> list[Channel]:
    """The channels this stack sends to, in routing order (slack, email, pagerduty)."""
    channels = []
    if cfg.slack is not None:
        channels.append(Channel.SLACK)
    if cfg.email is not None:
        channels.append(Channel.EMAIL)
    if cfg.pagerduty is not None and cfg.pagerduty.enabled:
        channels.append(Channel.PAGERDUTY)
    return channels


def required_secret_files(cfg: NotificationsConfig) -> list[str]:
    """Names of the secret files the rendered config reads (to mount in `secrets_dir`)."""
    files = []
    if cfg.slack is not None:
        files.append(SLACK_WEBHOOK_FILE)
    if cfg.email is not None and cfg.email.auth_username is not None:
        files.append(SMTP_PASSWORD_FILE)
    if cfg.pagerduty is not None and cfg.pagerduty.enabled:
        files.append(PAGERDUTY_ROUTING_KEY_FILE)
    if cfg.dead_mans_switch is not None:
        files.append(DEAD_MANS_SWITCH_URL_FILE)
    return files


def default_receiver(cfg: NotificationsConfig) -> str:
    """Where an alert goes that no route sends elsewhere: the first configured channel, else `null`."""
    channels = configured_channels(cfg)
    return str(channels[0]) if channels else NULL_RECEIVER


GROUP_TITLE = (
    "{{ .GroupLabels.alertname }}{{ with .CommonLabels.stack }} in {{ . }}{{ end }}"
    "{{ with .GroupLabels.service }}: {{ . }}{{ with $.GroupLabels.track }} ({{ . }}){{ end }}{{ end }}"
)
"""What a notification is about, e.g. `ErrorRateCritical in production: api (stable)`: from the
group's labels, which every alert of the group has, never from common annotations, which are empty
as soon as two alerts of a group differ (two Redis nodes down)."""

SLACK_TITLE = "[{{ .Status | toUpper }}] " + GROUP_TITLE + " ({{ .CommonLabels.severity }})"
"""The Slack message's title: status, group title, severity."""

EMAIL_SUBJECT = (
    '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] ' + GROUP_TITLE
)
"""The email subject: Alertmanager's default status prefix, then the group title."""

PAGERDUTY_SUMMARY = (
    GROUP_TITLE + ": {{ (index .Alerts 0).Annotations.summary }}"
    "{{ if gt (len .Alerts) 1 }} (1 of {{ len .Alerts }} alerts){{ end }}"
)
"""The PagerDuty incident's summary: the group title and its first alert's summary."""


def _channel_matcher(channel: Channel) -> str:
    # Alertmanager anchors regex matchers; this matches the channel as one
    # whole item of the comma-separated list (so "email" never matches "emails").
    return f'{NOTIFY_LABEL}=~"(.+,)?{channel}(,.+)?"'


def _pagerduty_severity(pd: PagerDutyConfig) -> str:
    # A Go template: alerts of one group share alertname, hence severity.
    branches = [
        f'{"if" if i == 0 else "else if"} eq .CommonLabels.severity "{ours}" }}}}{theirs}{{{{ '
        for i, (ours, theirs) in enumerate(sorted(pd.severity_map.items()))
    ]
    if not branches:
        return "error"
    return "{{ " + "".join(branches) + "else }}error{{ end }}"


def _receiver(channel: Channel, cfg: NotificationsConfig, secrets_dir: str) -> dict[str, Any]:
    def secret(name: str) -> str:
        return posixpath.join(secrets_dir, name)

    if channel is Channel.SLACK:
        assert cfg.slack is not None
        return {
            "name": str(channel),
            "slack_configs": [
                {
                    "api_url_file": secret(SLACK_WEBHOOK_FILE),
                    "channel": cfg.slack.channel,
                    "username": cfg.slack.username,
                    "send_resolved": cfg.slack.send_resolved,
                    "title": SLACK_TITLE,
                    # The title says what and where; each alert's summary then says which
                    # service and track, the line a person reads first.
                    "text": (
                        "{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n"
                        "Runbook: {{ .Annotations.runbook_url }}\n{{ end }}"
                    ),
                }
            ],
        }
    if channel is Channel.EMAIL:
        assert cfg.email is not None
        email: dict[str, Any] = {
            "headers": {"Subject": EMAIL_SUBJECT},
            "to": ", ".join(cfg.email.to),
            "from": cfg.email.from_address,
            "smarthost": cfg.email.smarthost,
            "require_tls": cfg.email.require_tls,
            "send_resolved": cfg.email.send_resolved,
        }
        if cfg.email.auth_username is not None:
            email["auth_username"] = cfg.email.auth_username
            email["auth_password_file"] = secret(SMTP_PASSWORD_FILE)
        return {"name": str(channel), "email_configs": [email]}
    assert cfg.pagerduty is not None
    pagerduty: dict[str, Any] = {
        "routing_key_file": secret(PAGERDUTY_ROUTING_KEY_FILE),
        "severity": _pagerduty_severity(cfg.pagerduty),
        "description": PAGERDUTY_SUMMARY,
        "send_resolved": cfg.pagerduty.send_resolved,
    }
    if cfg.pagerduty.url != PAGERDUTY_EVENTS_URL:
        # Only another endpoint is written: Alertmanager's default is PagerDuty's own.
        pagerduty["url"] = cfg.pagerduty.url
    return {"name": str(channel), "pagerduty_configs": [pagerduty]}


def _watchdog(cfg: NotificationsConfig, secrets_dir: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Watchdog's route (first, without `continue`) and receiver."""
    route: dict[str, Any] = {"receiver": WATCHDOG_RECEIVER, "matchers": [f'alertname="{WATCHDOG_ALERT}"']}
    receiver: dict[str, Any] = {"name": WATCHDOG_RECEIVER}
    switch = cfg.dead_mans_switch
    if switch is not None:
        # A heartbeat: sent at once, then every repeat interval, never "resolved".
        route |= {
            "group_wait": "0s",
            "group_interval": switch.repeat_interval,
            "repeat_interval": switch.repeat_interval,
        }
        receiver["webhook_configs"] = [
            {"url_file": posixpath.join(secrets_dir, DEAD_MANS_SWITCH_URL_FILE), "send_resolved": False}
        ]
    return route, receiver


def _by_severity(channels: list[Channel], default: str) -> dict[str, Any]:
    """The route of alerts without `notify`: critical to the configured PAGE channels, warning to CHAT."""
    routes = [
        {"receiver": str(c), "matchers": [f'severity="{severity}"'], "continue": True}
        for severity, wanted in ((Severity.CRITICAL, PAGE), (Severity.WARNING, CHAT))
        for c in wanted
        if c in channels
    ]
    # `notify=""` also matches an alert that has no `notify` label at all.
    return {"receiver": default, "matchers": [f'{NOTIFY_LABEL}=""'], "routes": routes}


def alertmanager_config(cfg: NotificationsConfig, secrets_dir: str = DEFAULT_SECRETS_DIR) -> dict[str, Any]:
    """The Alertmanager config as data (see `render_alertmanager_config`)."""
    channels = configured_channels(cfg)
    default = default_receiver(cfg)
    watchdog_route, watchdog_receiver = _watchdog(cfg, secrets_dir)
    by_notify = [{"receiver": str(c), "matchers": [_channel_matcher(c)], "continue": True} for c in channels]
    return {
        "route": {
            "receiver": default,
            "group_by": ["alertname", "service", "track"],
            "group_wait": cfg.group_wait,
            "group_interval": cfg.group_interval,
            "repeat_interval": cfg.repeat_interval,
            "routes": [watchdog_route, *by_notify, _by_severity(channels, default)],
        },
        "inhibit_rules": [
            {
                # A critical alert silences the warning of the same family for the
                # same service and track. Every perfstack alert has `family` and
                # `service`, so `equal` can never match "both absent" across services.
                "source_matchers": [f'severity="{Severity.CRITICAL}"'],
                "target_matchers": [f'severity="{Severity.WARNING}"'],
                "equal": list(INHIBIT_EQUAL_LABELS),
            }
        ],
        "receivers": [
            *([] if channels else [{"name": NULL_RECEIVER}]),
            watchdog_receiver,
            *(_receiver(c, cfg, secrets_dir) for c in channels),
        ],
    }


def render_alertmanager_config(cfg: NotificationsConfig, secrets_dir: str = DEFAULT_SECRETS_DIR) -> str:
    """alertmanager.yml text; secrets are referenced as files in `secrets_dir`, never inlined."""
    header = "# Generated by perfstack (components/alertmanager/config.py).\n"
    return header + yaml.dump(
        alertmanager_config(cfg, secrets_dir),
        Dumper=yaml.CSafeDumper,
        sort_keys=False,
        allow_unicode=True,
        width=4096,
    )
