"""Secret config values: which exist, when each is required, how to set it."""

from dataclasses import dataclass

import pulumi

from infra.config import StackConfig


@dataclass(frozen=True)
class SecretKey:
    """One secret config key and why it is needed."""

    key: str
    purpose: str


REDIS_PASSWORD = SecretKey(
    "redisPassword",
    "The Redis password: Redis and the Sentinels accept it; the app, redis_exporter, replicas and "
    "Sentinels present it (the app and redis_exporter read it from a file)",
)
REDIS_PASSWORD_ALSO_ACCEPTED = SecretKey(
    "redisPasswordAlsoAccepted",
    "Only while rotating `redisPassword`: a second password Redis and the Sentinels accept, which "
    'nothing presents (docs/secrets.md, "Rotating the Redis password")',
)
GRAFANA_ADMIN_PASSWORD = SecretKey("grafanaAdminPassword", "Grafana's admin user")
SLACK_WEBHOOK_URL = SecretKey("slackWebhookUrl", "Slack incoming-webhook URL (notifications.slack)")
SMTP_PASSWORD = SecretKey("smtpPassword", "SMTP password of notifications.email.authUsername")
PAGERDUTY_ROUTING_KEY = SecretKey(
    "pagerdutyRoutingKey", "PagerDuty Events v2 routing key (notifications.pagerduty)"
)
DEAD_MANS_SWITCH_URL = SecretKey(
    "deadMansSwitchUrl", "URL the Watchdog heartbeat is posted to (notifications.deadMansSwitch)"
)
REGISTRY_PASSWORD = SecretKey(
    "registryPassword", "password or token of registry.username at registry.server (image pulls)"
)

ALL_SECRET_KEYS = (
    REDIS_PASSWORD,
    REDIS_PASSWORD_ALSO_ACCEPTED,
    GRAFANA_ADMIN_PASSWORD,
    SLACK_WEBHOOK_URL,
    SMTP_PASSWORD,
    PAGERDUTY_ROUTING_KEY,
    DEAD_MANS_SWITCH_URL,
    REGISTRY_PASSWORD,
)


def required_secrets(config: StackConfig) -> tuple[SecretKey, ...]:
    """The secrets this stack cannot be deployed without."""
    required = [REDIS_PASSWORD, GRAFANA_ADMIN_PASSWORD]
    if config.notifications.slack is not None:
        required.append(SLACK_WEBHOOK_URL)
    if config.notifications.email is not None and config.notifications.email.auth_username:
        required.append(SMTP_PASSWORD)
    if config.notifications.pagerduty is not None and config.notifications.pagerduty.enabled:
        required.append(PAGERDUTY_ROUTING_KEY)
    if config.notifications.dead_mans_switch is not None:
        required.append(DEAD_MANS_SWITCH_URL)
    if config.registry is not None:
        required.append(REGISTRY_PASSWORD)
    return tuple(required)


def secret_value_problems(values: dict[SecretKey, str]) -> list[str]:
    """What is wrong between the secrets' plaintext values (never echoing them)."""
    also_accepted = values.get(REDIS_PASSWORD_ALSO_ACCEPTED)
    if also_accepted is not None and also_accepted == values.get(REDIS_PASSWORD):
        return [
            f"perfstack:{REDIS_PASSWORD_ALSO_ACCEPTED.key}: must differ from perfstack:{REDIS_PASSWORD.key}; "
            "it is the other password accepted during a rotation (remove it once the rotation is done)"
        ]
    return []


@dataclass(frozen=True)
class StackSecrets:
    """Secret values as Pulumi secrets: they stay encrypted in state and masked in previews."""

    redis_password: pulumi.Output[str]
    grafana_admin_password: pulumi.Output[str]
    redis_password_also_accepted: pulumi.Output[str] | None = None
    slack_webhook_url: pulumi.Output[str] | None = None
    smtp_password: pulumi.Output[str] | None = None
    pagerduty_routing_key: pulumi.Output[str] | None = None
    dead_mans_switch_url: pulumi.Output[str] | None = None
    registry_password: pulumi.Output[str] | None = None
