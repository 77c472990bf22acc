"""End to end: from the app's metrics to Slack, email and PagerDuty, with real processes on 127.0.0.1.

Which stack. The run is the **staging** stack (platform docker) with
production's **notifications** (Slack, email and PagerDuty), production's
**alert catalog** (its `alerts` section; today both stacks use the catalog's
defaults), production's **objectives** (`services.api.slo`) and production's
**tracing.samplingProbability** (0.1), all copied
from `Pulumi.production.yaml` at run time, so a change there is tested here.
Staging, because its Docker-style prometheus.yml names static targets that
can be pointed at local processes, where production's pod discovery needs a
cluster; its standalone Redis is what one redis-server can be (the Sentinel
set is proven in tests/ha). Production's channels and catalog, because they
are the ones that page: staging only has Slack.

What the stack config shortens, and nothing else (every other setting is the
stack's own):

- every alert `for` (but `trackDownFor` and `monitoringFor`, see KEPT_FOR) and
  Alertmanager's group wait, group interval and repeat interval: 60 times
  shorter, minutes become seconds (P95 critical 5m -> 5s, warning 10m -> 10s,
  so the critical still fires first and inhibits);
- the SLO's window and every burn-rate window: 60 times shorter too (the fast
  page reads 60s and 5s instead of 1h and 5m; the 30-day budget is 12 hours);
- `prometheus.scrapeInterval` and `prometheus.evaluationInterval`: 1s;
- `alerts.rateWindow` (the recording rules' `rate()` window): 10s, the shortest that
  spans 4 scrapes with a margin and still averages over a few dozen requests per track.

Addresses go through the stack config too where it has a setting for them
(the SMTP smarthost with `requireTls: false`, since the local SMTP server has
no TLS; the PagerDuty Events API URL), or the secret that holds them (the
Slack webhook URL); every other address and path is rewritten in the
generated files (see stack.py).

The whole folder takes about 4.5 minutes on 2 cores: the processes start in 2 s,
Prometheus has data for every rule 5 s after the load began, the three alert
phases take about 80 s, the sampling burst and its flush 25 s, the rollout
judge's walk and rollback (test_rollout.py) about 85 s, the rollout workflow's judge
step on a canary alert (test_rollout_workflow.py) about 45 s.
"""

import copy
import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic.alias_generators import to_camel

from components.alertmanager.settings import NotificationsConfig
from components.platform.settings import duration_seconds
from components.platform.slo import SloConfig
from components.prometheus.alerts import AlertsConfig
from infra.mockrun import ProgramRun, set_path, stack_file_config
from infra.render import config_files
from tests.conftest import KNOWN_SECRETS, run_stack

from .receivers import (
    DEAD_MANS_SWITCH_PATH,
    PAGERDUTY_PATH,
    SLACK_PATH,
    Delivery,
    Inbox,
    smtp_receiver,
    webhook_receiver,
)
from .rollout_run import SERVICE as ROLLOUT_SERVICE
from .rollout_run import Router
from .scenarios import Fault, Oracle, Outcome, Phase, alertmanager_alerts, table, unexpected
from .stack import E2eStack, LoadGenerator, query, running_stack, set_faults, start_prometheus

STACK = "staging"
"""The stack the processes come from (Docker-style static scrape targets)."""
CHANNELS_FROM = "production"
"""The stack whose notifications, alert catalog, objectives and trace sampling the run uses."""
SLO_SERVICE = "api"
"""The service whose objectives (`services.api.slo`) the run takes from CHANNELS_FROM."""
SPEEDUP = 60
"""How much faster every alert `for` and Alertmanager timing runs: minutes become seconds."""
KEPT_FOR = {
    # NoStableInstanceUp/NoCanaryInstanceUp: Prometheus evaluates rules from its start but scrapes
    # only once service discovery hands over the targets, about 5 s later; at 5m / 60 = 5 s they
    # would page for that gap, which a real 5m never sees.
    "track_down_for",
    # TargetDown and the monitoring's own alerts: the Grafana target has no server here (see
    # stack.py); at 5 s TargetDown would post about it in every run.
    "monitoring_for",
}
"""The `for`s kept at the stack's own value: no scenario raises their alerts."""
SCRAPE_INTERVAL = "1s"
RATE_WINDOW = "10s"
LOAD_RPS = 16
"""Background load through the router: a few requests per second on the canary's share (25 %)."""
WARM_UP_S = 5.0
"""Load before Prometheus starts, so its first rate windows see warm caches (as a long-running one would)."""
BASELINE_TIMEOUT_S = 30.0

REPORT: list[str] = []
"""The scenario table, printed at the end of the session (pytest_terminal_summary)."""
ROLLOUT_REPORT: list[str] = []
"""The canary rollout's timeline (tests/e2e/test_rollout.py), printed in a section of its own."""


@dataclass
class E2eSession:
    """The running stack, its receivers' inbox, the background load and when the run began."""

    stack: E2eStack
    run: ProgramRun
    files: dict[str, str]
    inbox: Inbox
    load: LoadGenerator
    started_at: float
    """time.time() when Prometheus started: where range queries begin."""
    t0: float
    """time.monotonic() when Prometheus started: the zero of the logs' times."""
    baseline_alerts: list[dict[str, Any]]
    """Alerts pending or firing once every rule had data, before any fault."""
    smtp_login: tuple[str, str]
    """The SMTP user name of the stack and the password secret, the only login the SMTP stand-in accepts."""
    config: dict[str, Any]
    """The stack config of the run: STACK's file with the overrides applied (`perfstack:` keys)."""
    secrets: dict[str, str]
    """The secret values of the run."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """What the run set on top of STACK's file (stack_overrides): to render the stack again from a
    changed stack file exactly as the run was rendered (tests/e2e/test_rollout.py)."""


def faster(duration: str) -> str:
    """A Prometheus duration SPEEDUP times shorter ('5m' -> '5s', '30s' -> '500ms')."""
    milliseconds = round(duration_seconds(duration) * 1000 / SPEEDUP)
    return f"{milliseconds // 1000}s" if milliseconds % 1000 == 0 else f"{milliseconds}ms"


def stack_overrides(smtp: str, pagerduty_url: str) -> dict[str, Any]:
    """The stack config of the run on top of STACK's file (see the module docstring)."""
    source = copy.deepcopy(stack_file_config(CHANNELS_FROM))
    alerts = AlertsConfig.model_validate(source.get("alerts", {}))
    notifications = NotificationsConfig.model_validate(source["notifications"])
    overrides: dict[str, Any] = {
        "notifications": source["notifications"],
        "alerts": source.get("alerts", {}),
        "tracing.samplingProbability": source["tracing"]["samplingProbability"],
        "notifications.email.smarthost": smtp,
        "notifications.email.requireTls": False,
        "notifications.pagerduty.url": pagerduty_url,
        "prometheus.scrapeInterval": SCRAPE_INTERVAL,
        "prometheus.evaluationInterval": SCRAPE_INTERVAL,
        "alerts.rateWindow": RATE_WINDOW,
    }
    for name in AlertsConfig.model_fields:
        if name.endswith("_for") and name not in KEPT_FOR:
            overrides[f"alerts.{to_camel(name)}"] = faster(getattr(alerts, name))
    for name in ("group_wait", "group_interval", "repeat_interval"):
        overrides[f"notifications.{to_camel(name)}"] = faster(getattr(notifications, name))
    if (slo := source["services"][SLO_SERVICE].get("slo")) is not None:
        overrides[f"services.{SLO_SERVICE}.slo"] = faster_slo(slo)
    return overrides


def faster_slo(source: dict[str, Any]) -> dict[str, Any]:
    """Production's objectives with the SLO window and every burn-rate window SPEEDUP times shorter."""
    slo = SloConfig.model_validate(source)
    alerts = [
        {**alert.model_dump(by_alias=True), "longWindow": faster(alert.long_window),
         "shortWindow": faster(alert.short_window)}
        for alert in slo.burn_rate_alerts
    ]  # fmt: skip
    return {**source, "window": faster(slo.window), "burnRateAlerts": alerts}


def _baseline(stack: E2eStack) -> list[dict[str, Any]]:
    """Wait until every rule has data for both tracks and Redis; the alerts pending or firing then."""

    def ready() -> bool:
        tracks = {r["metric"].get("track") for r in query(stack, "service_track:cache_requests:hit_ratio_5m")}
        redis = query(stack, "redis_up == 1")
        return tracks == {"stable", "canary"} and len(redis) == 1

    assert stack.prometheus is not None
    stack.prometheus.wait_until(ready, "recording rules with data for both tracks", BASELINE_TIMEOUT_S)
    return [r["metric"] for r in query(stack, "ALERTS")]


@pytest.fixture(scope="package")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2eSession]:
    """The whole stack on loopback with background load, ready for faults."""
    directory = tmp_path_factory.mktemp("e2e")
    inbox = Inbox()
    source = stack_file_config(CHANNELS_FROM)["notifications"]
    login = (source["email"]["authUsername"], KNOWN_SECRETS["smtpPassword"])
    with ExitStack() as stack:
        webhooks = stack.enter_context(webhook_receiver(inbox))
        smtp = stack.enter_context(smtp_receiver(inbox, *login))
        overrides = stack_overrides(smtp, f"{webhooks}{PAGERDUTY_PATH}")
        secrets = {
            **KNOWN_SECRETS,
            "slackWebhookUrl": f"{webhooks}{SLACK_PATH}",
            "deadMansSwitchUrl": f"{webhooks}{DEAD_MANS_SWITCH_PATH}",
        }
        run = run_stack(STACK, overrides=overrides, secrets=secrets)
        config = stack_file_config(STACK)
        for dotted, value in overrides.items():
            set_path(config, dotted, value)
        files = config_files(run)
        running = stack.enter_context(running_stack(run, files, directory))
        load = LoadGenerator.start(running, "load", LOAD_RPS)
        stack.callback(load.process.stop)
        time.sleep(WARM_UP_S)
        started_at, t0 = time.time(), time.monotonic()
        start_prometheus(running)
        baseline = _baseline(running)
        yield E2eSession(
            running, run, files, inbox, load, started_at, t0, baseline, login, config, secrets, overrides
        )


@dataclass
class AlertRun:
    """What every scenario's expected alerts got, and the phases' log."""

    outcomes: list[Outcome]
    log: list[str]

    def outcome(self, alertname: str, **labels: str) -> Outcome:
        (found,) = [
            o
            for o in self.outcomes
            if o.expected.alertname == alertname
            and all(o.expected.labels.get(k) == v for k, v in labels.items())
        ]
        return found


FIRE_TIMEOUT_S = 75.0
"""Longest wait for a phase's firing notifications (they take 5 to 30 s here)."""
RESOLVE_TIMEOUT_S = 60.0
"""Longest wait for a phase's resolved notifications (they take 5 to 25 s here)."""
LATENCY_MS = 3000
"""Injected on the canary: above the 2500 ms P95 critical line whatever the model adds."""
ERROR_RATIO = 0.5
QUALITY = 0.5


def _inhibited(session: E2eSession, alertname: str, **labels: str) -> bool:
    """Whether Alertmanager holds `alertname` with these labels, suppressed by an inhibition."""
    return any(
        alert["status"]["state"] == "suppressed"
        and alert["status"]["inhibitedBy"]
        and all(alert["labels"].get(k) == v for k, v in labels.items())
        for alert in alertmanager_alerts(session.stack.alertmanager_url, alertname)
    )


def _still_inhibited(session: E2eSession, alertname: str, hold_s: float, **labels: str) -> bool:
    # Inhibited once, and still a group wait and a group interval later: Alertmanager had its
    # chances to notify it and did not.
    if not _inhibited(session, alertname, **labels):
        return False
    time.sleep(hold_s)
    return _inhibited(session, alertname, **labels)


def phases(session: E2eSession, oracle: Oracle) -> list[Phase]:
    """The scenarios, in three phases of faults that cannot interfere with each other."""
    stack = session.stack
    canary = {"service": "api", "track": "canary"}
    canary_instance = {**canary, "instance": stack.apps["canary"].address}
    stable = {"service": "api", "track": "stable"}
    redis = {"service": "redis", "instance": stack.redis.address}
    route = oracle.alertmanager["route"]
    hold_s = duration_seconds(route["group_wait"]) + duration_seconds(route["group_interval"]) + 1

    def faults(track: str, body: dict[str, Any] | None) -> Callable[[], None]:
        return lambda: set_faults(stack, track, body)

    return [
        Phase(
            [
                Fault(
                    "1 latency",
                    f"+{LATENCY_MS} ms on every canary request",
                    faults("canary", {"latency_ms": LATENCY_MS}),
                    faults("canary", None),
                    [
                        oracle.expect("1 latency", "P95LatencyCritical", canary),
                        oracle.expect("1 latency", "CanaryLatencyAboveStable", canary),
                    ],
                    hold_until=[
                        (
                            "P95LatencyWarning of the canary inhibited in Alertmanager",
                            lambda: _still_inhibited(session, "P95LatencyWarning", hold_s, **canary),
                        )
                    ],
                ),
                Fault(
                    "2 5xx",
                    f"{ERROR_RATIO:.0%} of stable requests answer 500",
                    faults("stable", {"error_ratio": ERROR_RATIO}),
                    faults("stable", None),
                    [
                        oracle.expect("2 5xx", "ErrorRateCritical", stable),
                        oracle.expect("2 5xx", "AvailabilityBurnRateCritical", {"service": "api"}),
                    ],
                ),
            ],
            FIRE_TIMEOUT_S,
            RESOLVE_TIMEOUT_S,
        ),
        Phase(
            [
                Fault(
                    "3 quality",
                    f"canary answers report quality {QUALITY}",
                    faults("canary", {"quality_score": QUALITY}),
                    faults("canary", None),
                    [oracle.expect("3 quality", "QualityScoreCritical", canary)],
                ),
                Fault(
                    "4 cache bypass",
                    "the stable track's cache always misses",
                    faults("stable", {"cache_bypass": True}),
                    faults("stable", None),
                    [oracle.expect("4 cache bypass", "CacheHitRateLow", stable)],
                ),
            ],
            FIRE_TIMEOUT_S,
            RESOLVE_TIMEOUT_S,
        ),
        Phase(
            [
                Fault(
                    "5 instance down",
                    "the canary instance is killed (SIGKILL), then started again",
                    stack.apps["canary"].process.kill,
                    stack.apps["canary"].start,
                    [oracle.expect("5 instance down", "ApplicationDown", canary_instance)],
                ),
                Fault(
                    "6 Redis down",
                    "redis-server is killed (SIGKILL), then started again",
                    stack.redis.process.kill,
                    stack.redis.start,
                    [oracle.expect("6 Redis down", "RedisDown", redis)],
                ),
            ],
            FIRE_TIMEOUT_S,
            RESOLVE_TIMEOUT_S,
        ),
    ]


@pytest.fixture(scope="package")
def alert_run(e2e: E2eSession) -> AlertRun:
    """Every scenario, run once for the folder; the table goes to the terminal summary."""
    oracle = Oracle(e2e.files)
    outcomes: list[Outcome] = []
    log: list[str] = []
    for phase in phases(e2e, oracle):
        outcomes += phase.run(e2e.inbox, e2e.t0)
        log += phase.log
    deliveries = e2e.inbox.all()
    REPORT[:] = table(outcomes, unexpected(deliveries, outcomes))
    # Everything that arrived, for a person reading a failure: the table shows only first arrivals.
    record = e2e.stack.directory / "deliveries.jsonl"
    with record.open("w") as out:
        for delivery in deliveries:
            line = {
                "t": round(delivery.at - e2e.t0, 2),
                **{k: getattr(delivery, k) for k in ("channel", "status", "alertname", "text")},
            }
            out.write(json.dumps(line) + "\n")
    REPORT.extend(["", "phases (seconds since Prometheus started):", *log, f"every notification: {record}"])
    return AlertRun(outcomes, log)


ALERTS_CLEAR_TIMEOUT_S = 60.0
"""How long a rollout module waits, after it, for the canary alerts it raised to clear."""


def canary_alerts(e2e: E2eSession) -> set[tuple[str, str]]:
    """(alertname, state) of every pending or firing alert of the canary track."""
    return {
        (r["metric"]["alertname"], r["metric"]["alertstate"])
        for r in query(e2e.stack, f'ALERTS{{service="{ROLLOUT_SERVICE}", track="canary"}}')
    }


@pytest.fixture(scope="module")
def router(e2e: E2eSession) -> Iterator[Router]:
    """The run's router for a rollout module (tests/e2e/test_rollout*.py), each its own.

    Afterwards the run is as it was: faults cleared, the router on the run's own config, and no canary
    alert of the module's making still pending or firing.
    """
    router = Router(e2e.stack, STACK, e2e.overrides, e2e.secrets)
    before = canary_alerts(e2e)
    load = None
    if e2e.load.process.process.poll() is not None:
        # test_traces' burst stops the background load; the judge needs it.
        load = LoadGenerator.start(e2e.stack, "rollout-load", LOAD_RPS)
    try:
        yield router
    finally:
        set_faults(e2e.stack, "canary", None)
        router.restore()
        deadline = time.monotonic() + ALERTS_CLEAR_TIMEOUT_S
        while canary_alerts(e2e) - before and time.monotonic() < deadline:
            time.sleep(1)
        if load is not None:
            load.stop()
        left = canary_alerts(e2e) - before
        assert not left, f"canary alerts still pending or firing {ALERTS_CLEAR_TIMEOUT_S}s after the module"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the scenario table of the e2e run, when one ran."""
    if REPORT:
        terminalreporter.section("e2e: alerts from fault to delivery")
        for line in REPORT:
            terminalreporter.write_line(line)
    if ROLLOUT_REPORT:
        terminalreporter.section("e2e: canary rollout judged by python -m rollout")
        for line in ROLLOUT_REPORT:
            terminalreporter.write_line(line)


def deliveries_of(session: E2eSession, channel: str) -> list[Delivery]:
    """Every notification `channel` got during the session."""
    return [d for d in session.inbox.all() if d.channel == channel]
