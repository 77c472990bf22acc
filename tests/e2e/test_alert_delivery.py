"""From a fault in the app or Redis to Slack, email and PagerDuty, asserted on what the receivers got.

Scenarios (conftest.phases): latency on the canary, 5xx on stable (which also
pages through the availability SLO's fast burn-rate alert), a quality
drop on the canary, a cache that always misses on stable, the canary
instance killed, Redis killed; each repaired afterwards. Which channels an
alert must reach, and which send a resolved notification, is read from the
generated rule file and alertmanager.yml (scenarios.Oracle), never listed here.
"""

import json
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import STACK, AlertRun, E2eSession, deliveries_of
from .scenarios import CHANNELS, describe

pytestmark = pytest.mark.e2e

ALERTS = [
    ("P95LatencyCritical", {"track": "canary"}),
    ("CanaryLatencyAboveStable", {"track": "canary"}),
    ("ErrorRateCritical", {"track": "stable"}),
    ("AvailabilityBurnRateCritical", {"service": "api"}),
    ("QualityScoreCritical", {"track": "canary"}),
    ("CacheHitRateLow", {"track": "stable"}),
    ("ApplicationDown", {"track": "canary"}),
    ("RedisDown", {"service": "redis"}),
]
"""The alert each scenario must raise (conftest.phases), by name and the label telling it apart."""
IDS = [name for name, _ in ALERTS]


@pytest.mark.parametrize(("alertname", "labels"), ALERTS, ids=IDS)
def test_alert_reaches_exactly_the_channels_its_catalog_entry_names(
    e2e: E2eSession, alert_run: AlertRun, alertname: str, labels: dict[str, str]
) -> None:
    outcome = alert_run.outcome(alertname, **labels)
    assert outcome.expected.channels, f"{alertname} names no configured channel"
    received = {channel for channel in CHANNELS if channel in outcome.fired}
    assert received == set(outcome.expected.channels), describe(outcome, e2e.inbox.all(), alert_run.log)


@pytest.mark.parametrize(("alertname", "labels"), ALERTS, ids=IDS)
def test_repair_sends_resolved_to_every_channel_with_send_resolved(
    e2e: E2eSession, alert_run: AlertRun, alertname: str, labels: dict[str, str]
) -> None:
    outcome = alert_run.outcome(alertname, **labels)
    received = {channel for channel in CHANNELS if channel in outcome.resolved}
    assert received == set(outcome.expected.resolved_channels), describe(
        outcome, e2e.inbox.all(), alert_run.log
    )


@pytest.mark.parametrize(("alertname", "labels"), ALERTS, ids=IDS)
def test_channels_an_alert_does_not_name_never_get_it(
    e2e: E2eSession, alert_run: AlertRun, alertname: str, labels: dict[str, str]
) -> None:
    # Over the whole session, not only after its fault: quality and cache never page.
    expected = alert_run.outcome(alertname, **labels).expected
    strays = [
        (d.channel, d.status)
        for d in e2e.inbox.all()
        if expected.matches(d) and d.channel not in expected.channels
    ]
    assert strays == []


@pytest.mark.parametrize(("alertname", "labels"), ALERTS, ids=IDS)
def test_notifications_name_the_alert_the_stack_and_the_service(
    e2e: E2eSession, alert_run: AlertRun, alertname: str, labels: dict[str, str]
) -> None:
    # Slack's title, the email's subject and PagerDuty's summary, from the group's labels and the
    # `stack` external label: "ErrorRateCritical in staging: api (stable)".
    outcome = alert_run.outcome(alertname, **labels)
    where = f"{alertname} in {STACK}: {outcome.expected.labels['service']}"
    headline = {
        "slack": lambda d: d.payload["attachments"][0]["title"],
        "email": lambda d: d.payload["subject"],
        "pagerduty": lambda d: d.payload["payload"]["summary"],
    }
    for channel, delivery in outcome.fired.items():
        assert where in headline[channel](delivery), f"{channel}: {headline[channel](delivery)}"


@pytest.mark.parametrize(("alertname", "labels"), ALERTS, ids=IDS)
def test_notifications_carry_summary_description_and_runbook_with_labels_filled_in(
    e2e: E2eSession, alert_run: AlertRun, alertname: str, labels: dict[str, str]
) -> None:
    outcome = alert_run.outcome(alertname, **labels)
    expected = outcome.expected
    assert outcome.fired, describe(outcome, e2e.inbox.all(), alert_run.log)
    for channel, delivery in outcome.fired.items():
        missing = [
            p
            for p in (expected.summary, *expected.description_parts, expected.runbook_url)
            if p not in delivery.text
        ]
        assert missing == [], f"{channel} payload lacks {missing}:\n{delivery.text}"


def test_no_notification_holds_an_unrendered_template(e2e: E2eSession, alert_run: AlertRun) -> None:
    unrendered = [
        (d.channel, d.alertname)
        for d in e2e.inbox.all()
        if "{{" in d.text or "{{" in json.dumps(d.payload, default=str)
    ]
    assert unrendered == []


def test_every_notification_is_what_its_channel_expects(e2e: E2eSession, alert_run: AlertRun) -> None:
    assert [d.payload for d in e2e.inbox.all() if d.status == "unreadable"] == []


def test_canary_latency_warning_reaches_alertmanager_and_is_inhibited_by_the_critical(
    alert_run: AlertRun,
) -> None:
    fault = alert_run.outcome("P95LatencyCritical", track="canary").fault
    assert fault.held and all(fault.held.values()), "\n".join(alert_run.log)


def test_inhibited_canary_latency_warning_is_never_delivered(e2e: E2eSession, alert_run: AlertRun) -> None:
    delivered = [
        (d.channel, d.status)
        for d in e2e.inbox.all()
        if d.alertname == "P95LatencyWarning" and "api (canary)" in d.text
    ]
    assert delivered == []


def test_redis_started_again_after_its_kill_is_reported_as_restarted(
    e2e: E2eSession, alert_run: AlertRun
) -> None:
    # The exporter's uptime went back to zero: the restart a memory kill or a crash would cause.
    fault = alert_run.outcome("RedisDown", service="redis").fault
    assert fault.cleared_at is not None
    restarted = [
        d
        for d in deliveries_of(e2e, "slack")
        if d.alertname == "RedisRestarted" and d.status == "firing" and d.at >= fault.cleared_at
    ]
    assert restarted and e2e.stack.redis.address in restarted[0].text, "\n".join(alert_run.log)


def test_no_app_alert_fires_before_any_fault(e2e: E2eSession) -> None:
    # App alerts carry a track, SLO alerts an objective.
    firing = [
        a for a in e2e.baseline_alerts if (a.get("track") or a.get("slo")) and a.get("alertstate") == "firing"
    ]
    assert firing == []


def test_emails_log_in_with_the_stack_user_and_smtp_password_secret(
    e2e: E2eSession, alert_run: AlertRun
) -> None:
    emails = deliveries_of(e2e, "email")
    assert emails
    user, _ = e2e.smtp_login
    assert {(d.payload["auth"]["login"], d.payload["auth"]["accepted"]) for d in emails} == {(user, True)}


def test_emails_go_from_and_to_the_configured_addresses(e2e: E2eSession, alert_run: AlertRun) -> None:
    config = e2e.config["notifications"]["email"]
    emails = deliveries_of(e2e, "email")
    assert emails
    assert {(d.payload["mail_from"], tuple(d.payload["rcpt_tos"])) for d in emails} == {
        (config["fromAddress"], tuple(config["to"]))
    }


def test_pagerduty_events_carry_the_routing_key_secret(e2e: E2eSession, alert_run: AlertRun) -> None:
    events = deliveries_of(e2e, "pagerduty")
    assert events
    assert {d.payload["routing_key"] for d in events} == {e2e.secrets["pagerdutyRoutingKey"]}


def test_slack_messages_go_to_the_configured_channel(e2e: E2eSession, alert_run: AlertRun) -> None:
    messages = deliveries_of(e2e, "slack")
    assert messages
    channel = e2e.config["notifications"]["slack"]["channel"]
    assert {d.payload["channel"] for d in messages} == {channel}


def test_alertmanager_failed_no_notification(e2e: E2eSession, alert_run: AlertRun) -> None:
    with urllib.request.urlopen(f"{e2e.stack.alertmanager_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    failed = {
        sample.labels["integration"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "alertmanager_notifications_failed"
        for sample in family.samples
        if sample.name == "alertmanager_notifications_failed_total" and sample.value > 0
    }
    assert failed == {}, e2e.stack.alertmanager.log_tail()


def test_the_watchdog_reaches_the_dead_mans_switch_labelled_with_the_stack(e2e: E2eSession) -> None:
    # Prometheus' always-true rule, through Alertmanager's `watchdog` route, to the URL secret:
    # the heartbeat whose silence the switch turns into an incident.
    arrived = e2e.inbox.wait_for(lambda ds: any(d.channel == "deadmansswitch" for d in ds), timeout=60)
    assert arrived, e2e.stack.alertmanager.log_tail()
    (heartbeat, *_) = deliveries_of(e2e, "deadmansswitch")
    assert (heartbeat.alertname, heartbeat.status) == ("Watchdog", "firing")
    assert heartbeat.payload["receiver"] == "watchdog"
    assert heartbeat.payload["alerts"][0]["labels"]["stack"] == STACK


def test_the_watchdog_reaches_no_person(e2e: E2eSession, alert_run: AlertRun) -> None:
    assert {d.channel for d in e2e.inbox.all() if d.alertname == "Watchdog"} == {"deadmansswitch"}
