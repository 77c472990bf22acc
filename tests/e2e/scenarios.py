"""The alert scenarios: faults, what the generated files say must arrive where, and when it did.

The oracle is the run's own files, never a list in this module: the channels
an alert must reach are its rule's `notify` label (the catalog) among the
receivers alertmanager.yml configures, a resolved notification is expected
on each of those whose config has `send_resolved: true`, and the summary,
description and runbook URL a payload must carry are the rule's annotations
with the alert's labels filled in.

A phase injects its faults together (they are on different tracks or parts
of the stack, so one cannot cause or hide another's alert), waits until every
expected notification has arrived on every channel (bounded), clears them
together and waits for the resolved notifications (bounded). What arrived,
and when, is kept for the tests and the session's table; a phase that runs
out of time records what is missing instead of failing, so that every test
can say what it expected.
"""

import json
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from .receivers import Delivery, Inbox

CHANNELS = ("slack", "email", "pagerduty")
"""The channels of the catalog (components/platform/telemetry.Channel), in its order."""
_LABEL = re.compile(r"\{\{\s*\$labels\.(\w+)\s*\}\}")
_TEMPLATE = re.compile(r"\{\{.*?\}\}")


@dataclass(frozen=True)
class Expected:
    """One alert a scenario must raise: where it must arrive and what its payloads must say."""

    scenario: str
    alertname: str
    labels: dict[str, str]
    """The labels that tell this alert apart (service, track, or the Redis instance)."""
    channels: tuple[str, ...]
    """The rule's `notify` channels that alertmanager.yml configures."""
    resolved_channels: tuple[str, ...]
    """Those of `channels` whose receiver has `send_resolved: true`."""
    summary: str
    """The rule's summary with the labels filled in."""
    description_parts: tuple[str, ...]
    """The rule's description with the labels filled in, split around what depends on the value."""
    runbook_url: str

    @property
    def name(self) -> str:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))
        return f"{self.alertname}{{{labels}}}"

    def matches(self, delivery: Delivery) -> bool:
        """Whether `delivery` is about this alert: same name, and its summary says these labels."""
        return delivery.alertname == self.alertname and self.summary in delivery.text


class Oracle:
    """The generated rule file and alertmanager.yml of the run, read as the tests' expectations."""

    def __init__(self, files: dict[str, str]) -> None:
        rules = yaml.safe_load(files["prometheus/perfstack-rules.yml"])
        self.rules: dict[str, dict[str, Any]] = {}
        for rule in (r for g in rules["groups"] for r in g["rules"] if "alert" in r):
            # Rules sharing a name (an SLO's window pairs) differ in windows only: the first, the
            # fastest pair, is the one a fault raises first.
            self.rules.setdefault(rule["alert"], rule)
        alertmanager = yaml.safe_load(files["alertmanager/alertmanager.yml"])
        self.send_resolved: dict[str, bool] = {}
        for receiver in alertmanager["receivers"]:
            configs = [c for key, value in receiver.items() if key.endswith("_configs") for c in value]
            if receiver["name"] in CHANNELS and configs:
                self.send_resolved[receiver["name"]] = all(c.get("send_resolved", False) for c in configs)
        self.alertmanager = alertmanager

    def expect(self, scenario: str, alertname: str, labels: dict[str, str]) -> Expected:
        rule = self.rules[alertname]
        channels = tuple(c for c in rule["labels"]["notify"].split(",") if c in self.send_resolved)
        annotations = rule["annotations"]
        description = self.fill(annotations["description"], labels)
        return Expected(
            scenario=scenario,
            alertname=alertname,
            labels=labels,
            channels=channels,
            resolved_channels=tuple(c for c in channels if self.send_resolved[c]),
            summary=self.fill(annotations["summary"], labels),
            description_parts=tuple(p.strip() for p in _TEMPLATE.split(description) if p.strip()),
            runbook_url=annotations["runbook_url"],
        )

    @staticmethod
    def fill(template: str, labels: dict[str, str]) -> str:
        """`template` with each `{{ $labels.x }}` replaced by the label's value."""
        return _LABEL.sub(lambda m: labels[m.group(1)], template)


def first(
    deliveries: list[Delivery], expected: Expected, channel: str, status: str, after: float
) -> Delivery | None:
    """The first `status` delivery of `expected` on `channel` that arrived after `after`."""
    return next(
        (
            d
            for d in deliveries
            if d.channel == channel and d.status == status and d.at >= after and expected.matches(d)
        ),
        None,
    )


@dataclass
class Fault:
    """Something broken on purpose, how to repair it, and the alerts it must raise."""

    scenario: str
    what: str
    inject: Callable[[], None]
    clear: Callable[[], None]
    expected: list[Expected]
    hold_until: list[tuple[str, Callable[[], bool]]] = field(default_factory=list)
    """(what, check): conditions to wait for after the notifications, before clearing."""
    injected_at: float | None = None
    cleared_at: float | None = None
    held: dict[str, bool] = field(default_factory=dict)
    """Whether each `hold_until` condition was seen."""


@dataclass
class Outcome:
    """What one expected alert got: the first firing and resolved delivery per channel."""

    expected: Expected
    fault: Fault
    fired: dict[str, Delivery]
    resolved: dict[str, Delivery]

    def fired_after(self, channel: str) -> float | None:
        """Seconds from the fault to the firing notification on `channel`."""
        delivery = self.fired.get(channel)
        assert self.fault.injected_at is not None
        return None if delivery is None else delivery.at - self.fault.injected_at

    def resolved_after(self, channel: str) -> float | None:
        """Seconds from the repair to the resolved notification on `channel`."""
        delivery = self.resolved.get(channel)
        if delivery is None or self.fault.cleared_at is None:
            return None
        return delivery.at - self.fault.cleared_at


@dataclass
class Phase:
    """Faults injected and cleared together."""

    faults: list[Fault]
    fire_timeout: float
    resolve_timeout: float
    log: list[str] = field(default_factory=list)

    def run(self, inbox: Inbox, t0: float) -> list[Outcome]:
        """Inject, wait for the notifications, clear, wait for the resolved ones; times in the log from t0."""

        def note(line: str) -> None:
            self.log.append(f"{time.monotonic() - t0:7.1f}s {line}")

        for fault in self.faults:
            fault.inject()
            fault.injected_at = time.monotonic()
            note(f"{fault.scenario}: {fault.what}")
        deadline = time.monotonic() + self.fire_timeout
        if not inbox.wait_for(lambda ds: self._all(ds, "firing"), self.fire_timeout):
            note(f"not every firing notification arrived within {self.fire_timeout} s")
        for fault in self.faults:
            for what, check in fault.hold_until:
                fault.held[what] = _poll(check, max(1.0, deadline - time.monotonic()))
                note(f"{fault.scenario}: {what}: {'seen' if fault.held[what] else 'NOT seen'}")
        for fault in self.faults:
            fault.clear()
            fault.cleared_at = time.monotonic()
            note(f"{fault.scenario}: repaired")
        if not inbox.wait_for(lambda ds: self._all(ds, "resolved"), self.resolve_timeout):
            note(f"not every resolved notification arrived within {self.resolve_timeout} s")
        deliveries = inbox.all()
        return [
            Outcome(
                expected,
                fault,
                fired=self._firsts(deliveries, expected, "firing", expected.channels, fault.injected_at),
                resolved=self._firsts(
                    deliveries, expected, "resolved", expected.resolved_channels, fault.cleared_at
                ),
            )
            for fault in self.faults
            for expected in fault.expected
        ]

    def _all(self, deliveries: list[Delivery], status: str) -> bool:
        for fault in self.faults:
            after = fault.injected_at if status == "firing" else fault.cleared_at
            assert after is not None
            for expected in fault.expected:
                channels = expected.channels if status == "firing" else expected.resolved_channels
                if any(first(deliveries, expected, c, status, after) is None for c in channels):
                    return False
        return True

    @staticmethod
    def _firsts(
        deliveries: list[Delivery],
        expected: Expected,
        status: str,
        channels: tuple[str, ...],
        after: float | None,
    ) -> dict[str, Delivery]:
        if after is None:
            return {}
        found = {c: first(deliveries, expected, c, status, after) for c in channels}
        # Anything else of this alert, on any channel, counts too: a channel it must not reach.
        for delivery in deliveries:
            if delivery.at >= after and delivery.status == status and expected.matches(delivery):
                found.setdefault(delivery.channel, delivery)
        return {c: d for c, d in found.items() if d is not None}


def _poll(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return True
        except (OSError, ValueError, KeyError):
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)


def table(outcomes: list[Outcome], others: list[tuple[str, str, list[str]]]) -> list[str]:
    """The lead's table: scenario, alert, channels expected and received, seconds to each delivery."""

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    header = ("scenario", "alert", "expected", "received", "fault -> firing (s)", "repair -> resolved (s)")
    rows = [header]
    for outcome in outcomes:
        expected = outcome.expected
        rows.append(
            (
                outcome.fault.scenario,
                expected.name,
                ",".join(expected.channels),
                ",".join(c for c in CHANNELS if c in outcome.fired),
                " ".join(f"{c}={seconds(outcome.fired_after(c))}" for c in expected.channels),
                " ".join(f"{c}={seconds(outcome.resolved_after(c))}" for c in expected.resolved_channels),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    if others:
        lines += ["", "other notifications of the session (alert, status: channels):"]
        lines += [f"  {name}, {status}: {','.join(channels)}" for name, status, channels in others]
    return lines


def unexpected(deliveries: list[Delivery], outcomes: list[Outcome]) -> list[tuple[str, str, list[str]]]:
    """Deliveries no scenario expected, as (alert, status, channels) in order of first arrival."""
    found: dict[tuple[str, str], list[str]] = {}
    for delivery in deliveries:
        if any(o.expected.matches(delivery) for o in outcomes):
            continue
        channels = found.setdefault((delivery.alertname or "?", delivery.status), [])
        if delivery.channel not in channels:
            channels.append(delivery.channel)
    return [(name, status, channels) for (name, status), channels in found.items()]


def describe(outcome: Outcome, deliveries: list[Delivery], log: list[str]) -> str:
    """What a failing assertion about `outcome` should show."""
    lines = [f"expected {outcome.expected.name} on {outcome.expected.channels}", "phase log:", *log]
    lines.append("deliveries of the session (channel, status, alertname, first line):")
    lines += [f"  {d.channel} {d.status} {d.alertname}: {d.text.splitlines()[0][:120]}" for d in deliveries]
    return "\n".join(lines)


def alertmanager_alerts(url: str, alertname: str) -> list[dict[str, Any]]:
    """Alertmanager's view of the alerts named `alertname` (state, inhibitedBy, labels)."""
    params = urllib.parse.urlencode(
        {"filter": f'alertname="{alertname}"', "active": "true", "inhibited": "true"}
    )
    with urllib.request.urlopen(f"{url}/api/v2/alerts?{params}", timeout=5) as response:
        return list(json.loads(response.read()))
