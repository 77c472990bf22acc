"""The rollout workflow's judge step end to end: from a canary alert to weight 0 on `main` and in nginx.

The step `Judge, change, land` of rollout.yml's `judge-staging` job runs as
written there (read from the workflow file, bash with the runner's options):
`git config` of the bot identity, then `.github/scripts/rollout_ci.py` with
the workflow's arguments and `PERFSTACK_PROMETHEUS_URL` set to this run's
Prometheus. Its checkout is a RolloutProject (the e2e stack's file at canary
weight 50, committed) with a bare repository as `origin`, so land_change.py
pushes to a real `main`. Two things differ from a runner, both paths: the
script is this repository's (the checkout holds only the stack's files), so
`--project-dir` names the checkout; and GitHub's output and summary files are
files of the test.

The sequence the workflow exists for: a latency fault on the canary; the
canary alert fires in Prometheus and Alertmanager notifies (the moment its
relay would send `repository_dispatch`, docs/ci-cd.md); the judge step runs
once; `apply.yml` would then deploy `main`, which here is nginx.conf rendered
again from `main`'s stack file and nginx reloaded (rollout_run.Router), after
which nginx sends the canary nothing. Each phase's time since the fault goes to
`rollback_timings.json` in the test's tmp dir and to the terminal summary.

Added time: about 45 s (one interval at 50 % first, the alert about 11 s after
the fault, the judge step 2 to 12 s on a busy machine, the no-traffic window 5 s), plus the module's
wait for the canary alerts to clear.
"""

import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from infra.mockrun import stack_file_config
from tests.ci.helpers import SCRIPTS_DIR, changed_lines, load_workflow
from tests.engine.engine import Engine

from .conftest import STACK, E2eSession
from .receivers import Delivery
from .rollout_run import GIT_IDENTITY, SERVICE, RolloutProject, Router, served, sleep_until
from .stack import query, set_faults
from .test_rollout import (
    FAULT_LATENCY_MS,
    INTERVAL_S,
    NO_TRAFFIC_S,
    PROBES,
    Timeline,
    canary_at_zero,
    settings,
)

pytestmark = pytest.mark.e2e

JOB = f"judge-{STACK}"
STEP = "Judge, change, land"
INVOCATION = "venv/bin/python .github/scripts/rollout_ci.py"
"""How the step calls the script; replaced by this interpreter, the script's path and `--project-dir`."""
CANARY_ALERTS = ("P95LatencyCritical", "CanaryLatencyAboveStable")
"""The alerts a slow canary raises; the relay forwards any alert with `track="canary"`."""
ALERT_TIMEOUT_S = 60.0
"""Longest wait for the alert's notification (it arrives 10 to 15 s after the fault here)."""
STEP_TIMEOUT_S = 180
WEIGHT = 50


def judge_step(checkout: Path) -> tuple[str, dict[str, str]]:
    """The step's script, calling the script from this repository on ``checkout``, and the job's plain env."""
    job = load_workflow("rollout.yml")["jobs"][JOB]
    (step,) = [s for s in job["steps"] if s.get("name") == STEP]
    script: str = step["run"]
    assert script.count(INVOCATION) == 1, f"{JOB}'s step {STEP!r} no longer runs {INVOCATION}:\n{script}"
    script = script.replace(
        INVOCATION, f"{sys.executable} {SCRIPTS_DIR / 'rollout_ci.py'} --project-dir {checkout}"
    )
    plain = {key: str(value) for key, value in job["env"].items() if "${{" not in str(value)}
    return script, plain


def run_judge_step(project: RolloutProject, prometheus_url: str, runner_temp: Path) -> dict[str, str]:
    """The step, as the runner runs it; GitHub's output file as a dict."""
    script, job_env = judge_step(project.dir)
    runner_temp.mkdir()
    env = {key: value for key, value in project.env.items() if key not in GIT_IDENTITY}
    env |= job_env | {
        "PERFSTACK_PROMETHEUS_URL": prometheus_url,
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_OUTPUT": str(runner_temp / "output"),
        "GITHUB_STEP_SUMMARY": str(runner_temp / "summary.md"),
    }
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=project.dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, f"the step exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    lines = (runner_temp / "output").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


def origin_git(origin: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", f"--git-dir={origin}", *args], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout


def first_canary_notification(e2e: E2eSession, since: float) -> Delivery:
    """The first firing notification of a canary alert that arrived after ``since`` (time.monotonic())."""

    def found(deliveries: list[Delivery]) -> Delivery | None:
        return next(
            (
                d
                for d in deliveries
                if d.at > since
                and d.status == "firing"
                and d.alertname in CANARY_ALERTS
                and "canary" in d.text
            ),
            None,
        )

    arrived = e2e.inbox.wait_for(lambda deliveries: found(deliveries) is not None, ALERT_TIMEOUT_S)
    assert arrived, f"no canary alert notified within {ALERT_TIMEOUT_S}s of the fault"
    delivery = found(e2e.inbox.all())
    assert delivery is not None
    return delivery


def judged_at(summary: str) -> float:
    """The moment the judge judged (unix seconds), from the summary's "judged at <ISO>, step began ..."."""
    moment = summary.split("judged at ", 1)[1].split(",", 1)[0]
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp()


def firing_canary_alerts(e2e: E2eSession) -> bool:
    return bool(query(e2e.stack, f'ALERTS{{track="canary", alertstate="firing", service="{SERVICE}"}}'))


def test_on_a_canary_alert_the_judge_step_lands_one_rollback_commit_and_the_router_from_it_spares_the_canary(
    e2e: E2eSession, router: Router, pulumi_cli: Engine, tmp_path: Path, record_property: Any
) -> None:
    stack = e2e.stack
    canary = stack.apps["canary"]
    steps = [(10, "5m"), (WEIGHT, "10m"), (100, "5m")]
    project = RolloutProject(tmp_path, pulumi_cli, STACK, settings(e2e, steps, WEIGHT))
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True, timeout=60)
    project.git("remote", "add", "origin", str(origin))
    project.git("push", "-q", "origin", "main")
    before = origin_git(origin, "rev-parse", "main").strip()
    stack_file = project.stack_file.name
    timeline = Timeline(
        f"rollout.yml's judge step on a canary alert: canary at {WEIGHT} %, +{FAULT_LATENCY_MS} ms on "
        "the canary (t=0: the fault)"
    )
    at_weight = router.deploy(project.stack_file)
    shares_before = router.probe(PROBES)
    assert set(shares_before) == {"stable", "canary"}, shares_before
    # The judge's window then holds only this split's traffic, as on a stack that has soaked a while.
    sleep_until(at_weight.in_effect + INTERVAL_S)
    try:
        set_faults(stack, "canary", {"latency_ms": FAULT_LATENCY_MS})
        injected, injected_clock = time.time(), time.monotonic()
        timeline.started = injected
        timeline.reload(at_weight, shares_before)
        timeline.note(injected, f"fault: +{FAULT_LATENCY_MS} ms on every canary request")
        while not firing_canary_alerts(e2e):
            assert time.time() < injected + ALERT_TIMEOUT_S, "no canary alert fired in Prometheus"
            time.sleep(0.2)
        firing = time.time()
        timeline.note(firing, "canary alert firing in Prometheus")
        notified = first_canary_notification(e2e, injected_clock)
        alerted = injected + (notified.at - injected_clock)
        timeline.note(alerted, f"{notified.alertname} notified ({notified.channel}): the relay dispatches")
        step_started = time.time()
        outputs = run_judge_step(project, stack.prometheus_url, tmp_path / "runner")
        landed = time.time()
        summary = (tmp_path / "runner" / "summary.md").read_text()
        verdict = judged_at(summary)
        timeline.note(verdict, "verdict: the judge's `at`")
        timeline.note(
            landed,
            f"judge step done (started {step_started - injected:.1f}s): {outputs['actions']}, "
            f"{outputs['sha'][:12]} pushed to origin's main",
        )
        # apply.yml checks out the sha the judge put out; the router is rendered from its stack file.
        deployed = tmp_path / "deploy" / stack_file
        deployed.parent.mkdir()
        deployed.write_text(origin_git(origin, "show", f"{outputs['sha']}:{stack_file}"))
        safe = router.deploy(deployed)
        timeline.reload(safe)
    finally:
        set_faults(stack, "canary", None)
    cleared = time.time()
    counted = served(canary)
    timeline.note(cleared, "fault cleared")

    sleep_until(cleared + NO_TRAFFIC_S)
    at_zero = canary_at_zero(router, canary, safe, counted, timeline)
    timings = {
        "alert_firing_s": firing - injected,
        "alert_notified_s": alerted - injected,
        "judge_step_started_s": step_started - injected,
        "verdict_s": verdict - injected,
        "commit_on_main_s": landed - injected,
        "judge_step_s": landed - step_started,
        "router_reloaded_s": safe.in_effect - injected,
        "render_and_reload_s": safe.in_effect - safe.started,
        "no_canary_traffic_verified_for_s": time.time() - safe.in_effect,
    }
    record = tmp_path / "rollback_timings.json"
    record.write_text(json.dumps({k: round(v, 2) for k, v in timings.items()}, indent=2) + "\n")
    timeline.lines.append(f"{'':11}timings: {record}")
    timeline.report()
    print(timeline.text())
    for name, value in timings.items():
        record_property(name, round(value, 2))

    # The verdict: a rollback, from the canary's P95 against the catalog's critical line.
    assert outputs["actions"] == f"{SERVICE}=rollback", timeline.text()
    assert outputs["route"] == "main", timeline.text()
    # Exactly one new commit on origin's main, the step's sha, changing only the weight line to 0.
    new = origin_git(origin, "rev-list", f"{before}..main").split()
    assert new == [outputs["sha"]], timeline.text()
    assert origin_git(origin, "diff", "--name-only", before, "main").split() == [stack_file]
    lines = changed_lines(
        origin_git(origin, "show", f"{before}:{stack_file}"), origin_git(origin, "show", f"main:{stack_file}")
    )
    assert [line[:2] + line[2:].strip() for line in lines] == [f"- weight: {WEIGHT}", "+ weight: 0"], lines
    assert stack_file_config(STACK, deployed)["services"][SERVICE]["canary"]["weight"] == 0
    message = (tmp_path / "runner" / "message.txt").read_text()
    assert origin_git(origin, "log", "-1", "--format=%B", "main").strip() == message.strip()
    # The job summary: the verdict, the failing check with its numbers, what was landed.
    (headline,) = [line for line in summary.splitlines() if line.startswith(f"**{SERVICE}**:")]
    assert f"step 2 of 3 ({WEIGHT} %), ROLL BACK to 0 %, FAILING: " in headline, summary
    assert "critical p95_latency_ms" in headline, summary
    (p95_row,) = [row for row in summary.splitlines() if row.startswith("| p95_latency_ms | critical |")]
    assert p95_row.endswith("| fail |"), p95_row
    assert f"committed to main as {outputs['sha'][:12]}" in summary
    # The router rendered from main sends the canary nothing.
    at_zero.assert_spared(timeline)
