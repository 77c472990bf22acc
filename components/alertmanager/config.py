"""alertmanager.yml from the notification settings (Alertmanager 0.25+).

Routing reads the `notify` label every perfstack alert carries (see
infra/alerts.py): one child route per configured channel, each matching its
channel name in that comma-separated list, all with `continue: true`, so an
alert reaches exactly the channels it lists that this stack has configured:

    notify=slack,email,pagerduty  -> slack, email, pagerduty   (critical)
    notify=slack,email            -> slack, email              (quality critical)
    notify=slack                  -> slack                     (warnings, canary)

Anything else (no channel configured for it, or an alert without `notify`)
falls through to the `null` receiver, which sends nothing.

Secrets are never in this file: Slack's webhook URL, the SMTP password and the
PagerDuty routing key are read by Alertmanager from files in `secrets_dir`
(`api_url_file`, `auth_password_file`, `routing_key_file`), whose names are the
constants below. `required_secret_files` tells the deploying component which
of them to mount.
"""

import posixpath
from typing import Any

import yaml

from components.alertmanager.settings import NotificationsConfig, PagerDutyConfig
from components.platform.telemetry import INHIBIT_EQUAL_LABELS, NOTIFY_LABEL, Channel, Severity

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

NULL_RECEIVER = "null"
"""Receiver without integrations: where alerts for no configured channel end up."""


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
    return files


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
                    "title": (
                        "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} "
                        "({{ .CommonLabels.severity }})"
                    ),
                    "text": (
                        "{{ range .Alerts }}{{ .Annotations.description }}\n"
                        "Runbook: {{ .Annotations.runbook_url }}\n{{ end }}"
                    ),
                }
            ],
        }
    if channel is Channel.EMAIL:
        assert cfg.email is not None
        email: dict[str, Any] = {
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
    return {
        "name": str(channel),
        "pagerduty_configs": [
            {
                "routing_key_file": secret(PAGERDUTY_ROUTING_KEY_FILE),
                "severity": _pagerduty_severity(cfg.pagerduty),
                "description": "{{ .CommonLabels.alertname }}: {{ .CommonAnnotations.summary }}",
                "send_resolved": cfg.pagerduty.send_resolved,
            }
        ],
    }


def alertmanager_config(cfg: NotificationsConfig, secrets_dir: str = DEFAULT_SECRETS_DIR) -> dict[str, Any]:
    """The Alertmanager config as data (see `render_alertmanager_config`)."""
    channels = configured_channels(cfg)
    return {
        "route": {
            "receiver": NULL_RECEIVER,
            "group_by": ["alertname", "service", "track"],
            "group_wait": cfg.group_wait,
            "group_interval": cfg.group_interval,
            "repeat_interval": cfg.repeat_interval,
            "routes": [
                {"receiver": str(c), "matchers": [_channel_matcher(c)], "continue": True} for c in channels
            ],
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
        "receivers": [{"name": NULL_RECEIVER}] + [_receiver(c, cfg, secrets_dir) for c in channels],
    }


def render_alertmanager_config(cfg: NotificationsConfig, secrets_dir: str = DEFAULT_SECRETS_DIR) -> str:
    """alertmanager.yml text; secrets are referenced as files in `secrets_dir`, never inlined."""
    header = "# Generated by perfstack (components/alertmanager/config.py).\n"
    return header + yaml.safe_dump(
        alertmanager_config(cfg, secrets_dir), sort_keys=False, allow_unicode=True, width=4096
    )
