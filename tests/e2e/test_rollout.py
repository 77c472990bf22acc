"""The rollout judge end to end: `python -m rollout apply` walks a healthy canary and rolls back a slow one.

The judge runs as CI would run it on the repository: as a subprocess on a
project copy whose stack file is committed in git (rollout_run.RolloutProject),
with the Pulumi CLI that tools/build.py builds making its one-line change, and
this run's Prometheus as its data. Every change it makes is checked (exactly one
line of the stack file), committed with the message it printed, and deployed the
way the router takes a weight: nginx.conf rendered again from the changed stack
file through the same path as the run's, and nginx reloaded.

What the stack config shortens (`services.api.rollout`, nothing else): the
analysis interval is the run's rate window (10s: the shortest that spans 4 of
the 1s scrapes with a margin, conftest.RATE_WINDOW), each soak one interval plus
DEPLOY_MARGIN_S, `minRequests` what the background load brings the canary at
the first step, and the comparisons' confidence raised for windows of tens of
requests (COMPARE_CONFIDENCE). Thresholds are the alert catalog's, as the run's
Prometheus alerts on them (the run's `alerts` and `prometheus` settings are
written to the project's stack file too).

1. A healthy canary walks 10 -> 50 -> 100 and the judge answers `complete`;
   every promotion waited its step's soak, counted from the commit that set the
   weight (the history the judge reads), and the analysis window behind it held
   only that step's traffic.
2. A latency fault on the canary at 50 % is rolled back to 0 by the first
   analysis that can see it; once the new router config is in effect nginx sends
   the canary nothing (its request counter stands still, the access log and
   probes through the router name only stable). Time-to-safe, fault injected ->
   weight 0 in effect, is measured in seconds and in analysis intervals
   (bench/rollout.py repeats it).

The module leaves the run as it found it: faults cleared, the router back on
the run's own config, and no canary alert of its making still pending or firing
(module fixture `router`). Added time: about 85 s: the walk 42 s (three soaks),
the rollback 30 to 41 s (where the fault falls in the judge's cycle), 5 s to
restore.
"""

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from components.platform.settings import duration_seconds
from tests.engine.engine import Engine

from .conftest import LOAD_RPS, RATE_WINDOW, ROLLOUT_REPORT, SCRAPE_INTERVAL, STACK, E2eSession
from .rollout_run import SERVICE, Reload, RolloutProject, Router, Verdict, leaves, served, sleep_until
from .stack import AppInstance, set_faults

pytestmark = pytest.mark.e2e

INTERVAL = RATE_WINDOW
"""The judge's analysis window: the run's rate window, for the same reason (4 scrapes and a margin)."""
INTERVAL_S = duration_seconds(INTERVAL)
SCRAPE_S = duration_seconds(SCRAPE_INTERVAL)
DEPLOY_MARGIN_S = 3.0
"""What each soak adds to the interval: the step's clock starts at its commit's committer time (whole
seconds, so up to 1 s early), and the new router config takes effect after the render and reload that
follow the commit (under 2 s here; asserted). So the window behind a promotion holds only that step."""
SOAK = f"{INTERVAL_S + DEPLOY_MARGIN_S:g}s"
SOAK_S = duration_seconds(SOAK)
WALK = (10, 50, 100)
FIRST_STEP_REQUESTS = LOAD_RPS * WALK[0] / 100 * INTERVAL_S
"""User requests an interval brings the canary at the first step: 16 (21 of the load generator's 200
users hash to the canary's 10 %, so a little more)."""
MIN_REQUESTS = math.floor(FIRST_STEP_REQUESTS - 1.5 * math.sqrt(FIRST_STEP_REQUESTS))
"""10: 1.5 standard deviations below FIRST_STEP_REQUESTS (a window's count is about Poisson), so most
analyses at 10 % judge, and an unlucky one holds as inconclusive and is asked again."""
COMPARE_CONFIDENCE = 0.999
"""`checks.compare.confidence` here (default 0.99). At 0.95 the latency comparison fails about one
analysis in 20 of two identical tracks by chance, and windows of 10 to 40 canary requests often put
the canary's P95 20 % above stable's: measured on this run at 25 %, 2 of 12 ten-second windows had
p < 0.05, one with the canary's P95 1.3 x stable's; a first walk at 0.95 rolled back a healthy
canary at 10 % (P95 280 ms against 217 ms, p = 0.019). The few sticky users of a window make it
worse: their requests are not independent (docs/rollout.md). The walk makes four comparisons. The
latency fault below is rolled back by the absolute P95 check (critical, 2500 ms), which the
confidence does not touch: at the first analysis that sees the fault the comparison often does not
fail yet (p = 0.23, 0.084, 0.022, 0.0049 measured), once the slow requests fill the window it does
at any confidence (p = 5e-6 to 1e-32)."""
RETRY_S = 2.0
"""How soon an inconclusive hold is asked again (a cron would wait an interval; the verdict is the
same whenever it is asked, so the test only saves time)."""
FAULT_LATENCY_MS = 3000
"""Above the catalog's P95 critical line (2500 ms), as the alert scenarios inject it."""
FAULT_PICKUP_S = 1.0
"""The demo app's instances re-read their track's faults from Redis every second."""
MODEL_LATENCY_MAX_S = 0.26
"""The demo model's slowest answer (perfstack_demo.model.STANDARD_LATENCY_SECONDS), on top of the fault."""
VISIBLE_AFTER_S = FAULT_PICKUP_S + FAULT_LATENCY_MS / 1000 + MODEL_LATENCY_MAX_S + 2 * SCRAPE_S
"""Fault injected -> Prometheus can show it: the instance picks the fault up, the first slow requests
finish (a request is recorded when it ends), one scrape brings them in, and within one more scrape
more than 5 % of the window's canary requests are slow (at 50 % the canary answers 8 per second:
the 4 slow ones that put its P95 above the line arrive in half a second)."""
NO_TRAFFIC_S = 5.0
"""How long the canary must get nothing after the rollback: at 50 % it got 8 requests a second."""
PROBES = 200


def settings(e2e: E2eSession, steps: list[tuple[int, str]], weight: int) -> dict[str, Any]:
    """The stack-file settings of a rollout project: the run's alerting and scrape settings, the rollout."""
    found: dict[str, Any] = {}
    for key, value in e2e.overrides.items():
        # What the judge reads besides the rollout: the alert catalog (its thresholds) and the scrape
        # interval (the interval's lower bound), as the run's Prometheus has them.
        if key.split(".")[0] in ("alerts", "prometheus"):
            found |= leaves(value, key)
    rollout = f"services.{SERVICE}.rollout"
    found |= {
        f"{rollout}.interval": INTERVAL,
        f"{rollout}.minRequests": MIN_REQUESTS,
        f"{rollout}.checks.compare.confidence": COMPARE_CONFIDENCE,
    }
    for index, (step_weight, soak) in enumerate(steps):
        found |= {f"{rollout}.steps[{index}].weight": step_weight, f"{rollout}.steps[{index}].soak": soak}
    found[f"services.{SERVICE}.canary.weight"] = weight
    return found


@dataclass
class Timeline:
    """What happened, in order, for the report: seconds since the scenario began."""

    title: str
    started: float = field(default_factory=time.time)
    lines: list[str] = field(default_factory=list)

    def note(self, moment: float, what: str) -> None:
        self.lines.append(f"  {moment - self.started:6.1f}s  {what}")

    def verdict(self, verdict: Verdict) -> None:
        move = (
            f"{verdict.weight} -> {verdict.next_weight}"
            if verdict.next_weight != verdict.weight
            else f"at {verdict.weight}"
        )
        evidence = verdict.evidence()
        what = f"{verdict.action} {move} (apply {verdict.seconds:.1f}s)" + (
            f": {evidence}" if evidence else ""
        )
        self.note(verdict.at, what)
        self.lines.append(f"{'':11}{verdict.data['reason']}")

    def reload(self, reload: Reload, shares: dict[str, int] | None = None) -> None:
        what = (
            f"router at {reload.weight} in effect (render {reload.signalled - reload.started:.1f}s, "
            f"old workers gone {reload.in_effect - reload.signalled:.1f}s after SIGHUP)"
        )
        if shares is not None:
            what += f"; {PROBES} probes: " + ", ".join(f"{track} {count}" for track, count in shares.items())
        self.note(reload.in_effect, what)

    def text(self) -> str:
        return "\n".join([self.title, *self.lines])

    def report(self) -> None:
        ROLLOUT_REPORT.extend(["", self.title, *self.lines])


@dataclass(frozen=True)
class CanaryAtZero:
    """What reached the canary once the router ran at weight 0."""

    counted: int
    """Requests the canary itself counted meanwhile."""
    logged: list[str]
    """nginx's access log lines meanwhile."""
    to_canary: list[str]
    """Those of them sent to the canary."""
    shares: dict[str, int]
    """Which track answered each of PROBES new requests."""

    def assert_spared(self, timeline: "Timeline") -> None:
        """Nothing reached the canary: its counter stood still, nginx sent it nothing, stable answered all."""
        assert self.counted == 0, timeline.text()
        assert self.logged and self.to_canary == [], timeline.text()
        assert self.shares == {"stable": PROBES}, timeline.text()


def canary_at_zero(
    router: Router, canary: AppInstance, safe: Reload, counted: int, timeline: "Timeline"
) -> CanaryAtZero:
    """Probe the router, read the canary's counter (``counted`` before) and nginx's log since ``safe``."""
    shares = router.probe(PROBES)
    still = served(canary)
    logged = router.access_lines(safe.log_offset)
    to_canary = [line for line in logged if canary.address in line or "track=canary" in line]
    timeline.note(
        time.time(),
        f"{time.time() - safe.in_effect:.1f}s at 0: canary counted {still - counted} requests, "
        f"nginx logged {len(logged)} ({len(to_canary)} to the canary), {PROBES} probes: {shares}",
    )
    return CanaryAtZero(still - counted, logged, to_canary, shares)


def one_line_change(project: RolloutProject, verdict: Verdict) -> None:
    """The stack file differs from HEAD in exactly the weight line the verdict names."""
    lines = project.changed_lines()
    assert [line[:2] for line in lines] == ["- ", "+ "], lines
    removed, added = (line[2:] for line in lines)
    assert removed.strip() == f"weight: {verdict.weight}", lines
    assert added == removed.replace(f"weight: {verdict.weight}", f"weight: {verdict.next_weight}"), lines


def deploy(router: Router, project: RolloutProject, timeline: Timeline) -> Reload:
    """Render the router from the project's stack file, reload, and show where probes land."""
    reload = router.deploy(project.stack_file)
    shares = router.probe(PROBES)
    timeline.reload(reload, shares)
    if reload.weight in (0, 100):
        assert shares == {"canary" if reload.weight else "stable": PROBES}, shares
    return reload


def test_a_healthy_canary_walks_10_50_100_and_completes(
    e2e: E2eSession, router: Router, pulumi_cli: Engine, tmp_path: Path, record_property: Any
) -> None:
    steps = [(weight, SOAK) for weight in WALK]
    project = RolloutProject(tmp_path, pulumi_cli, STACK, settings(e2e, steps, WALK[0]))
    timeline = Timeline(
        f"walk: steps {'/'.join(map(str, WALK))} %, soak {SOAK} each, interval {INTERVAL}, "
        f"minRequests {MIN_REQUESTS}, load {LOAD_RPS} req/s (t=0: first step committed)"
    )
    (timeline.started,) = project.commits.values()
    committed = {WALK[0]: timeline.started}
    effective = {WALK[0]: deploy(router, project, timeline)}
    decisions: list[Verdict] = []
    deadline = time.time() + len(WALK) * (SOAK_S + 3 * INTERVAL_S) + 60
    try:
        # First asked once the window holds only the step's traffic, then when the soak is over.
        sleep_until(effective[WALK[0]].in_effect + INTERVAL_S)
        while True:
            assert time.time() < deadline, "the walk did not complete in time"
            verdict = project.apply(e2e.stack.prometheus_url)
            timeline.verdict(verdict)
            if verdict.action == "hold":
                # Soaking: ask again once the soak is over; inconclusive: ask again soon.
                eligible = verdict.eligible_at
                soaking = eligible is not None and eligible > time.time()
                sleep_until(eligible + 0.2 if soaking and eligible else time.time() + RETRY_S)
                continue
            assert verdict.action in ("promote", "complete"), timeline.text()
            decisions.append(verdict)
            if verdict.action == "complete":
                assert not verdict.applied
                assert project.changed_lines() == []
                break
            assert verdict.applied
            one_line_change(project, verdict)
            _, when = project.commit(verdict.commit_message)
            timeline.note(
                time.time(),
                f"committed (committer time {when - timeline.started:.0f}s): "
                + verdict.commit_message.splitlines()[0],
            )
            committed[verdict.next_weight] = when
            effective[verdict.next_weight] = deploy(router, project, timeline)
            sleep_until(effective[verdict.next_weight].in_effect + INTERVAL_S)
    finally:
        timeline.report()

    assert [(d.action, d.weight, d.next_weight) for d in decisions] == [
        ("promote", 10, 50),
        ("promote", 50, 100),
        ("complete", 100, 100),
    ], timeline.text()
    for decision in decisions:
        weight = decision.weight
        # The judge counted the step from the commit that set its weight, and waited the soak.
        assert decision.step_started == committed[weight], timeline.text()
        assert decision.at - committed[weight] >= SOAK_S, timeline.text()
        # The margin held: the new split was in effect a whole interval before the analysis.
        deployed = effective[weight].in_effect - committed[weight]
        assert deployed < DEPLOY_MARGIN_S - 1, f"step {weight} took {deployed:.1f}s to take effect"
        assert decision.at - effective[weight].in_effect >= INTERVAL_S, timeline.text()
        record_property(f"walk_soaked_s_at_{weight}", round(decision.at - effective[weight].in_effect, 1))
    record_property("walk_s", round(decisions[-1].at - timeline.started, 1))


def test_a_slow_canary_is_rolled_back_and_nginx_then_sends_it_nothing(
    e2e: E2eSession, router: Router, pulumi_cli: Engine, tmp_path: Path, record_property: Any
) -> None:
    # The default soaks (5m at 10 %, 10m at 50 %): the canary stays at 50 % for the whole test.
    steps = [(10, "5m"), (50, "10m"), (100, "5m")]
    project = RolloutProject(tmp_path, pulumi_cli, STACK, settings(e2e, steps, 50))
    timeline = Timeline(
        f"rollback: canary at 50 %, +{FAULT_LATENCY_MS} ms on the canary, the judge every interval "
        f"({INTERVAL}); t=0: 50 % committed"
    )
    (timeline.started,) = project.commits.values()
    try:
        measured = roll_back_a_slow_canary(e2e, router, project, timeline)
    finally:
        timeline.report()
    for name, value in measured.items():
        record_property(name, round(value, 2))


def roll_back_a_slow_canary(
    e2e: E2eSession, router: Router, project: RolloutProject, timeline: Timeline
) -> dict[str, float]:
    """The rollback scenario (see the test); its measurements."""
    stack = e2e.stack
    canary = stack.apps["canary"]
    at_50 = deploy(router, project, timeline)
    # The judge's schedule: every interval, from one interval after 50 % took effect (so that its
    # first window holds 50 % traffic only). That first analysis is the healthy baseline.
    tick = at_50.in_effect + INTERVAL_S
    sleep_until(tick)
    baseline = project.apply(stack.prometheus_url)
    timeline.verdict(baseline)
    assert (baseline.action, baseline.failed()) == ("hold", []), timeline.text()
    # The fault lands at a random moment of the judge's cycle.
    sleep_until(tick + random.uniform(0, INTERVAL_S))
    polls: list[Verdict] = []
    try:
        set_faults(stack, "canary", {"latency_ms": FAULT_LATENCY_MS})
        injected = time.time()
        phase = injected - tick
        timeline.note(injected, f"fault: +{FAULT_LATENCY_MS} ms on every canary request")
        # The first tick at or after the moment the fault is visible.
        ticks = math.ceil((phase + VISIBLE_AFTER_S) / INTERVAL_S)
        for n in range(1, ticks + 2):
            sleep_until(tick + n * INTERVAL_S)
            verdict = project.apply(stack.prometheus_url)
            polls.append(verdict)
            timeline.verdict(verdict)
            if verdict.action != "hold":
                break
        rollback = polls[-1]
        assert rollback.action == "rollback", timeline.text()
        assert len(polls) <= ticks, f"rolled back at tick {len(polls)}, {ticks} expected:\n{timeline.text()}"
        assert "critical p95_latency_ms" in rollback.failed(), timeline.text()
        assert rollback.applied and rollback.next_weight == 0
        one_line_change(project, rollback)
        project.commit(rollback.commit_message)
        timeline.note(time.time(), f"committed: {rollback.commit_message.splitlines()[0]}")
        safe = router.deploy(project.stack_file)
    finally:
        set_faults(stack, "canary", None)
    cleared = time.time()
    counted = served(canary)
    timeline.reload(safe)
    timeline.note(cleared, "fault cleared")
    time_to_safe = safe.in_effect - injected
    tooling = safe.in_effect - rollback.started
    bound = VISIBLE_AFTER_S + INTERVAL_S + tooling

    # Nothing reaches the canary: its counter stands still, nginx logs no request sent to it, and
    # requests of new users through the router are all answered by stable.
    after = project.apply(stack.prometheus_url)
    timeline.verdict(after)
    sleep_until(cleared + NO_TRAFFIC_S)
    at_zero = canary_at_zero(router, canary, safe, counted, timeline)
    timeline.lines.append(
        f"{'':11}time-to-safe {time_to_safe:.1f}s = {time_to_safe / INTERVAL_S:.2f} intervals: fault "
        f"{phase:.1f}s into the judge's cycle, decided {rollback.at - injected:.1f}s after it (visible "
        f"after <= {VISIBLE_AFTER_S:.1f}s), apply {rollback.seconds:.1f}s, commit + render + reload "
        f"{tooling - rollback.seconds:.1f}s (new workers {safe.signalled - injected:.1f}s after the fault, "
        f"the old ones gone once their canary requests ended); bound {bound:.1f}s"
    )
    assert (after.action, after.weight, after.applied) == ("hold", 0, False), timeline.text()
    at_zero.assert_spared(timeline)
    # Rolled back by the first analysis that could see the fault: no later than one interval after
    # it was visible, plus the time the rollback itself takes (apply, commit, render, reload).
    assert time_to_safe <= bound, timeline.text()
    return {
        "time_to_safe_s": time_to_safe,
        "time_to_safe_intervals": time_to_safe / INTERVAL_S,
        "fault_phase_s": phase,
        "decided_after_s": rollback.at - injected,
        "new_split_after_s": safe.signalled - injected,
        "apply_s": rollback.seconds,
        "deploy_s": tooling - rollback.seconds,
        "bound_s": bound,
    }
