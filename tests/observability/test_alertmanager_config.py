"""alertmanager.yml: amtool accepts it, every catalog alert reaches exactly its channels, no secret inside."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from components.alertmanager.config import (
    DEAD_MANS_SWITCH_URL_FILE,
    EMAIL_SUBJECT,
    NULL_RECEIVER,
    PAGERDUTY_ROUTING_KEY_FILE,
    PAGERDUTY_SUMMARY,
    SLACK_TITLE,
    SLACK_WEBHOOK_FILE,
    SMTP_PASSWORD_FILE,
    WATCHDOG_RECEIVER,
    alertmanager_config,
    configured_channels,
    default_receiver,
    render_alertmanager_config,
    required_secret_files,
)
from components.alertmanager.settings import PAGERDUTY_EVENTS_URL, NotificationsConfig, PagerDutyConfig
from components.platform.slo import SloConfig
from components.platform.telemetry import INHIBIT_EQUAL_LABELS, WATCHDOG_ALERT
from components.prometheus.alerts import AlertsConfig, alert_catalog
from components.prometheus.slo import slo_alerts

from .alert_scenarios import DEPLOYMENT, scenarios, series_minutes
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
CATALOG = alert_catalog(AlertsConfig(), DEPLOYMENT)


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
    if name == WATCHDOG_ALERT:
        expected = [WATCHDOG_RECEIVER]
    else:
        expected = [str(c) for c in spec.notify if c in configured_channels(cfg)] or [default_receiver(cfg)]
    # Quoted as the UTF-8 matchers parser (the default since Alertmanager 0.27) expects.
    labels = [f"{k}={json.dumps(v)}" for k, v in alert_labels(name).items()]
    result = run_tool(
        "amtool", "config", "routes", "test", f"--config.file={write(tmp_path, cfg)}",
        f"--verify.receivers={','.join(expected)}", *labels,
    )  # fmt: skip
    assert_ok(result)
    assert result.stdout.strip() == ",".join(expected), describe(result)


SLO_ALERTS = {spec.name: spec for spec in slo_alerts(AlertsConfig(), (("api", SloConfig()),))}
"""One rule per SLO alert name (the window pairs of a name share their routing labels)."""


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("name", sorted(SLO_ALERTS))
def test_slo_alert_reaches_the_channels_its_severity_names(stack: str, name: str, tmp_path: Path) -> None:
    cfg = STACKS[stack]
    spec = SLO_ALERTS[name]
    paging = spec.severity == "critical"
    expected = [c for c in ("slack", "email", "pagerduty") if paging or c == "slack"]
    expected = [c for c in expected if c in configured_channels(cfg)]
    labels = {"alertname": name, "service": "api", "slo": "availability", **spec.labels}
    result = run_tool(
        "amtool", "config", "routes", "test", f"--config.file={write(tmp_path, cfg)}",
        f"--verify.receivers={','.join(expected)}", *(f"{k}={json.dumps(v)}" for k, v in labels.items()),
    )  # fmt: skip
    assert_ok(result)


def test_critical_page_reaches_slack_email_and_pagerduty_in_production() -> None:
    # The table of DESIGN.md, spelled out once so a regression reads plainly.
    notify = {spec.name: [str(c) for c in spec.notify] for spec in CATALOG}
    assert notify["P95LatencyCritical"] == ["slack", "email", "pagerduty"]
    assert notify["QualityScoreCritical"] == ["slack", "email"]
    assert notify["P95LatencyWarning"] == ["slack"]
    assert notify["CanaryErrorRateAboveStable"] == ["slack"]


def test_staging_config_has_no_email_or_pagerduty_receiver() -> None:
    receivers = {r["name"]: r for r in alertmanager_config(STAGING)["receivers"]}
    assert set(receivers) == {WATCHDOG_RECEIVER, "slack"}
    assert not any("email_configs" in r or "pagerduty_configs" in r for r in receivers.values())


def test_disabled_pagerduty_is_left_out() -> None:
    cfg = NotificationsConfig.model_validate({"slack": {"channel": "#a"}, "pagerduty": {"enabled": False}})
    assert [r["name"] for r in alertmanager_config(cfg)["receivers"]] == [WATCHDOG_RECEIVER, "slack"]
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
        if spec.name == WATCHDOG_ALERT:
            continue  # severity none: neither inhibits nor is inhibited
        labels = alert_labels(spec.name)
        assert {"family", "service"} <= set(labels), spec.name
    equal = alertmanager_config(PRODUCTION)["inhibit_rules"][0]["equal"]
    assert equal == list(INHIBIT_EQUAL_LABELS)


def test_pagerduty_severity_follows_the_configured_mapping() -> None:
    cfg = NotificationsConfig.model_validate({"pagerduty": {"severityMap": {"critical": "error"}}})
    (pagerduty,) = [r for r in alertmanager_config(cfg)["receivers"] if r["name"] == "pagerduty"]
    severity = pagerduty["pagerduty_configs"][0]["severity"]
    assert 'eq .CommonLabels.severity "critical" }}error' in severity


EMAIL_ONLY = NotificationsConfig.model_validate(
    {
        "email": {
            "to": ["oncall@example.com"],
            "fromAddress": "am@example.com",
            "smarthost": "smtp.example.com:587",
        }
    }
)
WITH_SWITCH = NotificationsConfig.model_validate({"slack": {"channel": "#a"}, "deadMansSwitch": {}})


def routed(tmp_path: Path, cfg: NotificationsConfig, labels: dict[str, str], expected: list[str]) -> None:
    """amtool sends an alert with `labels` through the config and finds exactly `expected` receivers."""
    result = run_tool(
        "amtool", "config", "routes", "test", f"--config.file={write(tmp_path, cfg)}",
        f"--verify.receivers={','.join(expected)}", *(f"{k}={json.dumps(v)}" for k, v in labels.items()),
    )  # fmt: skip
    assert_ok(result)
    assert result.stdout.strip() == ",".join(expected), describe(result)


@pytest.mark.parametrize(
    ("stack", "expected"), [("staging", ["slack"]), ("production", ["slack", "email", "pagerduty"])]
)
def test_critical_alert_without_notify_reaches_every_configured_paging_channel(
    stack: str, expected: list[str], tmp_path: Path
) -> None:
    # A rule written without `notify` (a future rule, a hand-made one) must not be dropped.
    routed(tmp_path, STACKS[stack], {"alertname": "DiskFull", "severity": "critical"}, expected)


def test_warning_alert_without_notify_goes_to_chat(tmp_path: Path) -> None:
    routed(tmp_path, PRODUCTION, {"alertname": "DiskFilling", "severity": "warning"}, ["slack"])


def test_alert_without_notify_or_known_severity_goes_to_the_default_receiver(tmp_path: Path) -> None:
    routed(tmp_path, PRODUCTION, {"alertname": "Something", "severity": "info"}, ["slack"])


def test_default_receiver_is_the_first_configured_channel(tmp_path: Path) -> None:
    # No chat configured: a warning still reaches a person, by email.
    assert default_receiver(EMAIL_ONLY) == "email"
    routed(tmp_path, EMAIL_ONLY, {"alertname": "DiskFilling", "severity": "warning"}, ["email"])


def test_alert_listing_only_unconfigured_channels_goes_to_the_default_receiver(tmp_path: Path) -> None:
    routed(
        tmp_path,
        EMAIL_ONLY,
        {"alertname": "CacheHitRateLow", "severity": "warning", "notify": "slack"},
        ["email"],
    )


def test_stack_without_any_channel_sends_to_null(tmp_path: Path) -> None:
    cfg = NotificationsConfig()
    assert default_receiver(cfg) == NULL_RECEIVER
    routed(tmp_path, cfg, {"alertname": "DiskFull", "severity": "critical"}, [NULL_RECEIVER])


def test_watchdog_goes_to_its_own_receiver_only(tmp_path: Path) -> None:
    labels = {**alert_labels(WATCHDOG_ALERT), "severity": "critical", "notify": "slack,email,pagerduty"}
    routed(tmp_path, PRODUCTION, labels, [WATCHDOG_RECEIVER])


def test_watchdog_receiver_sends_nothing_without_a_dead_mans_switch() -> None:
    (watchdog,) = [r for r in alertmanager_config(PRODUCTION)["receivers"] if r["name"] == WATCHDOG_RECEIVER]
    assert watchdog == {"name": WATCHDOG_RECEIVER}


def test_dead_mans_switch_gets_the_watchdog_every_repeat_interval_from_a_secret_file() -> None:
    config = alertmanager_config(WITH_SWITCH, "/run/am")
    route = config["route"]["routes"][0]
    assert (route["receiver"], route["group_wait"], route["repeat_interval"]) == (
        WATCHDOG_RECEIVER,
        "0s",
        "1m",
    )
    (watchdog,) = [r for r in config["receivers"] if r["name"] == WATCHDOG_RECEIVER]
    assert watchdog["webhook_configs"] == [
        {"url_file": f"/run/am/{DEAD_MANS_SWITCH_URL_FILE}", "send_resolved": False}
    ]
    assert DEAD_MANS_SWITCH_URL_FILE in required_secret_files(WITH_SWITCH)


def test_amtool_accepts_the_config_with_a_dead_mans_switch(tmp_path: Path) -> None:
    assert_ok(run_tool("amtool", "check-config", str(write(tmp_path, WITH_SWITCH))))


def test_pagerduty_posts_to_alertmanagers_default_endpoint_unless_another_is_set() -> None:
    (receiver,) = [r for r in alertmanager_config(PRODUCTION)["receivers"] if r["name"] == "pagerduty"]
    assert "url" not in receiver["pagerduty_configs"][0]
    assert PRODUCTION.pagerduty is not None and PRODUCTION.pagerduty.url == PAGERDUTY_EVENTS_URL


def test_another_pagerduty_endpoint_is_written_to_the_config(tmp_path: Path) -> None:
    cfg = PRODUCTION.model_copy(
        update={
            "pagerduty": PagerDutyConfig.model_validate({"url": "https://events.eu.pagerduty.com/v2/enqueue"})
        }
    )
    (receiver,) = [r for r in alertmanager_config(cfg)["receivers"] if r["name"] == "pagerduty"]
    assert receiver["pagerduty_configs"][0]["url"] == "https://events.eu.pagerduty.com/v2/enqueue"
    assert_ok(run_tool("amtool", "check-config", str(write(tmp_path, cfg))))


def test_slack_message_carries_each_alerts_summary_description_and_runbook() -> None:
    (slack,) = [r for r in alertmanager_config(PRODUCTION)["receivers"] if r["name"] == "slack"]
    text = slack["slack_configs"][0]["text"]
    assert text.startswith("{{ range .Alerts }}") and text.endswith("{{ end }}")
    for annotation in ("summary", "description", "runbook_url"):
        assert f"{{{{ .Annotations.{annotation} }}}}" in text


def amtool_render(tmp_path: Path, template: str, alerts: list[dict[str, Any]], group: list[str]) -> str:
    """`template` rendered by the pinned amtool for one notification of these (firing) alerts."""
    common = dict(set.intersection(*(set(a["labels"].items()) for a in alerts)))
    data = {
        "receiver": "pagerduty",
        "status": "firing",
        "alerts": [{"status": "firing", **a} for a in alerts],
        "groupLabels": {k: common[k] for k in group if k in common},
        "commonLabels": common,
        "commonAnnotations": dict(set.intersection(*(set(a["annotations"].items()) for a in alerts))),
        "externalURL": "http://alertmanager:9093",
    }
    (tmp_path / "none.tmpl").write_text("")
    (tmp_path / "data.json").write_text(json.dumps(data))
    result = run_tool(
        "amtool", "template", "render", f"--template.glob={tmp_path / 'none.tmpl'}",
        f"--template.data={tmp_path / 'data.json'}", f"--template.text={template}",
    )  # fmt: skip
    assert_ok(result)
    return result.stdout.strip()


def redis_down(instance: str) -> dict[str, Any]:
    labels = {"alertname": "RedisDown", "service": "redis", "instance": instance, "severity": "critical",
              "stack": "production"}  # fmt: skip
    return {"labels": labels, "annotations": {"summary": f"Redis node {instance} is down"}}


GROUP_BY = ["alertname", "service", "track"]


def test_pagerduty_summary_of_a_mixed_group_names_stack_alert_and_its_first_alert(tmp_path: Path) -> None:
    # Two nodes down: their summaries differ, so common annotations hold none (it read "RedisDown: ").
    alerts = [redis_down("redis-0:6379"), redis_down("redis-1:6379")]
    summary = amtool_render(tmp_path, PAGERDUTY_SUMMARY, alerts, GROUP_BY)
    assert summary == "RedisDown in production: redis: Redis node redis-0:6379 is down (1 of 2 alerts)"


def test_slack_title_and_email_subject_name_the_stack_service_and_track(tmp_path: Path) -> None:
    labels = {"alertname": "ErrorRateCritical", "service": "api", "track": "stable", "severity": "critical",
              "stack": "staging"}  # fmt: skip
    alerts = [{"labels": labels, "annotations": {"summary": "5xx error rate of api (stable) is above 5%"}}]
    assert amtool_render(tmp_path, SLACK_TITLE, alerts, GROUP_BY) == (
        "[FIRING] ErrorRateCritical in staging: api (stable) (critical)"
    )
    assert amtool_render(tmp_path, EMAIL_SUBJECT, alerts, GROUP_BY) == (
        "[FIRING:1] ErrorRateCritical in staging: api (stable)"
    )
