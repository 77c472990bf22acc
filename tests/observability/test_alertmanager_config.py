"""alertmanager.yml: amtool accepts it, every catalog alert reaches exactly its channels, no secret inside."""

import json
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from components.alertmanager.config import (
    NULL_RECEIVER,
    PAGERDUTY_ROUTING_KEY_FILE,
    SLACK_WEBHOOK_FILE,
    SMTP_PASSWORD_FILE,
    alertmanager_config,
    configured_channels,
    render_alertmanager_config,
    required_secret_files,
)
from components.alertmanager.settings import NotificationsConfig
from components.platform.telemetry import INHIBIT_EQUAL_LABELS
from components.prometheus.alerts import AlertsConfig, alert_catalog

from .alert_scenarios import scenarios, series_minutes
from .tools import assert_ok, describe, run_tool

STAGING = NotificationsConfig.model_validate({"slack": {"channel": "#perfstack-staging"}})
PRODUCTION = NotificationsConfig.model_validate(
    {
        "slack": {"channel": "#perfstack-alerts"},
        "email": {
            "to": ["oncall@example.com", "perf-team@example.com"],
            "fromAddress": "alertmanager@example.com",
            "smarthost": "smtp.example.com:587",
            "authUsername": "alertmanager",
        },
        "pagerduty": {},
    }
)
STACKS = {"staging": STAGING, "production": PRODUCTION}
CATALOG = alert_catalog(AlertsConfig())


def alert_labels(name: str) -> dict[str, str]:
    """The labels the alert has when it fires: data labels of its promtool scenario + rule labels."""
    cfg = AlertsConfig()
    spec = next(s for s in CATALOG if s.name == name)
    scenario = scenarios(cfg)[name](cfg, "firing", series_minutes(spec))
    return {"alertname": name, **scenario.alert_labels, **spec.labels}


def write(tmp_path: Path, cfg: NotificationsConfig) -> Path:
    path = tmp_path / "alertmanager.yml"
    path.write_text(render_alertmanager_config(cfg, secrets_dir=str(tmp_path / "secrets")))
    return path


@pytest.mark.parametrize("stack", STACKS)
def test_amtool_accepts_the_config(stack: str, tmp_path: Path) -> None:
    # check-config does not open the *_file secrets, so none need to exist here.
    assert_ok(run_tool("amtool", "check-config", str(write(tmp_path, STACKS[stack]))))


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("name", [spec.name for spec in CATALOG])
def test_alert_reaches_exactly_its_configured_channels(stack: str, name: str, tmp_path: Path) -> None:
    cfg = STACKS[stack]
    spec = next(s for s in CATALOG if s.name == name)
    expected = [str(c) for c in spec.notify if c in configured_channels(cfg)] or [NULL_RECEIVER]
    # Quoted as the UTF-8 matchers parser (the default since Alertmanager 0.27) expects.
    labels = [f"{k}={json.dumps(v)}" for k, v in alert_labels(name).items()]
    result = run_tool(
        "amtool", "config", "routes", "test", f"--config.file={write(tmp_path, cfg)}",
        f"--verify.receivers={','.join(expected)}", *labels,
    )  # fmt: skip
    assert_ok(result)
    assert result.stdout.strip() == ",".join(expected), describe(result)


def test_critical_page_reaches_slack_email_and_pagerduty_in_production() -> None:
    # The table of DESIGN.md, spelled out once so a regression reads plainly.
    notify = {spec.name: [str(c) for c in spec.notify] for spec in CATALOG}
    assert notify["P95LatencyCritical"] == ["slack", "email", "pagerduty"]
    assert notify["QualityScoreCritical"] == ["slack", "email"]
    assert notify["P95LatencyWarning"] == ["slack"]
    assert notify["CanaryErrorRateAboveStable"] == ["slack"]


def test_alert_without_notify_label_goes_to_the_null_receiver(tmp_path: Path) -> None:
    result = run_tool(
        "amtool", "config", "routes", "test", f"--config.file={write(tmp_path, PRODUCTION)}",
        f"--verify.receivers={NULL_RECEIVER}", "alertname=Watchdog", "severity=critical",
    )  # fmt: skip
    assert_ok(result)


def test_staging_config_has_no_email_or_pagerduty_receiver() -> None:
    receivers = {r["name"]: r for r in alertmanager_config(STAGING)["receivers"]}
    assert set(receivers) == {NULL_RECEIVER, "slack"}
    assert not any("email_configs" in r or "pagerduty_configs" in r for r in receivers.values())


def test_disabled_pagerduty_is_left_out() -> None:
    cfg = NotificationsConfig.model_validate({"slack": {"channel": "#a"}, "pagerduty": {"enabled": False}})
    assert [r["name"] for r in alertmanager_config(cfg)["receivers"]] == [NULL_RECEIVER, "slack"]
    assert required_secret_files(cfg) == [SLACK_WEBHOOK_FILE]


def test_every_receiver_config_sets_send_resolved_explicitly() -> None:
    for receiver in alertmanager_config(PRODUCTION)["receivers"]:
        for key, configs in receiver.items():
            if key.endswith("_configs"):
                assert all("send_resolved" in c for c in configs), receiver["name"]


def test_secrets_are_read_from_files_in_the_secrets_dir() -> None:
    receivers = {r["name"]: r for r in alertmanager_config(PRODUCTION, "/run/am")["receivers"]}
    assert receivers["slack"]["slack_configs"][0]["api_url_file"] == f"/run/am/{SLACK_WEBHOOK_FILE}"
    assert receivers["email"]["email_configs"][0]["auth_password_file"] == f"/run/am/{SMTP_PASSWORD_FILE}"
    assert (
        receivers["pagerduty"]["pagerduty_configs"][0]["routing_key_file"]
        == f"/run/am/{PAGERDUTY_ROUTING_KEY_FILE}"
    )


def test_required_secret_files_are_exactly_the_files_the_config_reads() -> None:
    text = render_alertmanager_config(PRODUCTION, "/run/am")
    referenced = {
        line.split("/run/am/")[1].strip() for line in text.splitlines() if "_file: /run/am/" in line
    }
    assert referenced == set(required_secret_files(PRODUCTION))


def test_rendered_config_holds_no_secret_value() -> None:
    text = render_alertmanager_config(PRODUCTION)
    config = yaml.safe_load(text)
    inline_secret_keys = {
        "api_url",
        "auth_password",
        "auth_secret",
        "routing_key",
        "service_key",
        "slack_api_url",
    }

    def keys(node: object) -> set[str]:
        if isinstance(node, dict):
            return set(node) | {k for v in node.values() for k in keys(v)}
        if isinstance(node, list):
            return {k for v in node for k in keys(v)}
        return set()

    assert not keys(config) & inline_secret_keys
    assert "hooks.slack.com" not in text


def test_notifications_model_cannot_hold_a_secret() -> None:
    with pytest.raises(ValidationError) as raised:
        NotificationsConfig.model_validate(
            {"slack": {"channel": "#a", "webhookUrl": "https://hooks.slack.com/x"}}
        )
    (error,) = raised.value.errors()
    assert (error["type"], error["loc"]) == ("extra_forbidden", ("slack", "webhookUrl"))


def test_inhibition_labels_are_on_every_alert_of_a_family_with_both_severities() -> None:
    # An inhibit rule whose `equal` labels are missing on both alerts silences
    # warnings across services; `family` and `service` must be on every alert.
    for spec in CATALOG:
        labels = alert_labels(spec.name)
        assert {"family", "service"} <= set(labels), spec.name
    equal = alertmanager_config(PRODUCTION)["inhibit_rules"][0]["equal"]
    assert equal == list(INHIBIT_EQUAL_LABELS)


def test_pagerduty_severity_follows_the_configured_mapping() -> None:
    cfg = NotificationsConfig.model_validate({"pagerduty": {"severityMap": {"critical": "error"}}})
    (pagerduty,) = [r for r in alertmanager_config(cfg)["receivers"] if r["name"] == "pagerduty"]
    severity = pagerduty["pagerduty_configs"][0]["severity"]
    assert 'eq .CommonLabels.severity "critical" }}error' in severity
