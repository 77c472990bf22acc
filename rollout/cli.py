"""`python -m rollout decide|apply STACK`: the judge's verdicts, and the one-line change they ask for.

decide  prints one decision per service (promote, hold, step_back, rollback,
        complete) with every check's evidence; changes nothing.
apply   decides, then makes the decided change to `Pulumi.<STACK>.yaml` with
        `pulumi config set --path perfstack:services.<name>.canary.weight N`
        (with `rollout.flag`: `...features.<flag>.canary.rollout N`; the
        one-key guard restores the file byte for byte if anything else would
        change), and prints a commit message carrying the evidence. It never
        edits anything else; hold and complete change nothing.

Exit status: 0 with a decision (whatever it is), 2 on bad input, a stack
config that does not validate or a history that cannot say when the step
began (unless the canary is failing: a rollback needs no history), 3 when
Prometheus cannot be read (an unreachable Prometheus is never
taken as a healthy canary).
"""

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from infra.config import StackConfig
from infra.loader import PROJECT, ConfigError, decode_config_value, parse_stack_config
from infra.mockrun import PROJECT_DIR, stack_file_config
from rollout.history import HistoryError, step_history
from rollout.judge import Action, Decision, StepHistory, judge, subject_of
from rollout.prometheus import PrometheusError, PrometheusReader
from rollout.samples import ServiceSamples
from rollout.stack_edit import STACK_NAME, Change, ConfigEditError, apply_change

PROMETHEUS_ENV = "PERFSTACK_PROMETHEUS_URL"
EXIT_BAD_INPUT = 2
EXIT_PROMETHEUS = 3


class UsageError(Exception):
    """Bad input; the message names the option or config key."""


def parse_time(value: str, option: str) -> datetime:
    """An RFC 3339 time with a zone, or unix seconds, as an aware UTC datetime."""
    try:
        if re.fullmatch(r"\d+(\.\d+)?", value):
            return datetime.fromtimestamp(float(value), UTC)
        parsed = datetime.fromisoformat(value)
    except (ValueError, OverflowError):
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise UsageError(
            f"{option}: {value!r} is not an RFC 3339 time with a zone (2026-12-03T14:20:00Z) or unix seconds"
        )
    return parsed.astimezone(UTC)


def load_stack(project_dir: Path, stack: str) -> StackConfig:
    """The validated `perfstack:` config of `Pulumi.<stack>.yaml` (secrets are not needed)."""
    if not STACK_NAME.match(stack):
        raise UsageError(f"{stack!r} is not a stack name")
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise UsageError(f"no stack file {path.name} in {project_dir}")
    raw = {key: decode_config_value(value) for key, value in stack_file_config(stack, path).items()}
    try:
        return parse_stack_config(raw)
    except ConfigError as error:
        raise UsageError(f"{path.name}: {error}") from None


def prometheus_url(config: StackConfig, given: str | None) -> str:
    """--prometheus, else $PERFSTACK_PROMETHEUS_URL, else a local Docker stack's published port."""
    url = given or os.environ.get(PROMETHEUS_ENV)
    if url:
        return url
    port = config.docker.ports.prometheus
    if config.platform == "docker" and config.docker.host is None and port is not None:
        address = config.docker.ui_address
        return f"http://{'127.0.0.1' if address == '0.0.0.0' else address}:{port}"
    raise UsageError(
        f"--prometheus: give the stack's Prometheus URL (or set {PROMETHEUS_ENV}); a {config.platform} stack "
        "publishes none this machine can reach (Kubernetes: kubectl port-forward svc/prometheus 9090)"
    )


def decide(args: argparse.Namespace, config: StackConfig) -> list[Decision]:
    """The decisions the options ask for."""
    names = list(config.services)
    if args.service is not None:
        if args.service not in config.services:
            raise UsageError(
                f"--service: no service {args.service!r} under perfstack:services "
                f"(services: {', '.join(names)})"
            )
        names = [args.service]
    now = parse_time(args.at, "--at") if args.at else datetime.now(UTC)
    started = parse_time(args.step_started, "--step-started") if args.step_started else None
    reader = PrometheusReader(prometheus_url(config, args.prometheus))
    decisions = []
    by_window: dict[str, dict[str, ServiceSamples]] = {}
    for name in names:
        service = config.services[name]
        window = service.rollout.interval
        if window not in by_window:
            by_window[window] = reader.samples(config.alerts, window, now)
        samples = by_window[window].get(name, ServiceSamples(None, None))
        if service.slo is not None:
            samples = replace(samples, budgets=reader.error_budgets(config.alerts, name, service.slo, now))
        history: StepHistory | None = None
        unreadable: HistoryError | None = None
        subject = subject_of(service)
        # Only a step the judge may promote needs its start (and a history that can be read).
        if (
            service.canary is not None
            and service.canary.weight > 0
            and subject.value > 0
            and not config.kill_switch
        ):
            try:
                history = (
                    StepHistory(started)
                    if started
                    else step_history(args.project_dir, args.stack, name, subject.path)
                )
            except HistoryError as error:
                unreadable = error
        decision = judge(name, service, config.alerts, config.kill_switch, now, history, samples)
        # Only promotion needs the step's start: a failing canary is taken out without it.
        if unreadable is not None and decision.action not in (Action.ROLLBACK, Action.STEP_BACK):
            raise unreadable
        decisions.append(decision)
    return decisions


def describe(decision: Decision) -> str:
    """The decision as text: verdict, then each check."""
    move = (
        f"{decision.weight} -> {decision.next_weight}" if decision.changes_config else f"at {decision.weight}"
    )
    lines = [f"{decision.service}: {decision.action} {move}", f"  {decision.reason}"]
    lines += [f"  {check.describe()}" for check in decision.checks]
    return "\n".join(lines)


def commit_message(stack: str, decision: Decision) -> str:
    """The commit message of an applied decision: the change in the subject, the evidence in the body."""
    move = f"{decision.weight} -> {decision.next_weight}"
    what = decision.key.removeprefix(f"services.{decision.service}.")
    subject = f"rollout({stack}/{decision.service}): {decision.action} {what} {move}"
    body = [decision.reason, ""]
    body.append(f"Decided by `python -m rollout apply {stack}` at {decision.to_json()['at']}")
    if decision.step_started is not None:
        body.append(f"(step began {decision.to_json()['step_started']}).")
    body += ["", "Checks:"] + [f"- {check.describe()}" for check in decision.checks]
    return "\n".join([subject, "", *body])


def apply(args: argparse.Namespace, decisions: list[Decision]) -> Decision | None:
    """Make the one change the decisions ask for; None when they ask for none."""
    changing = [d for d in decisions if d.changes_config]
    if not changing:
        return None
    if len(changing) > 1:
        names = ", ".join(d.service for d in changing)
        raise UsageError(f"--service: {names} would each change; apply one at a time (one line per change)")
    decision = changing[0]
    _, service, *path = decision.key.split(".")
    change = Change((f"{PROJECT}:services", service, *path), decision.next_weight, decision.weight)
    apply_change(args.project_dir, args.stack, change)
    return decision


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rollout",
        description=(__doc__ or "")
        + "\nSettings, verdicts, replays and how to stop a rollout: docs/rollout.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("decide", "print each service's decision and its evidence; changes nothing"),
        (
            "apply",
            "decide, then write the decided value to Pulumi.<STACK>.yaml (one line) and print a "
            "commit message",
        ),
    ):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument("stack", metavar="STACK", help="the stack: reads Pulumi.<STACK>.yaml")
        command.add_argument("--service", metavar="NAME", help="only this service (default: every service)")
        command.add_argument(
            "--prometheus",
            metavar="URL",
            help=f"the stack's Prometheus (default: ${PROMETHEUS_ENV}, else a Docker stack's published port)",
        )
        command.add_argument(
            "--at",
            metavar="TIME",
            help="judge at this past moment (RFC 3339 or unix seconds) to replay a verdict",
        )
        command.add_argument(
            "--step-started",
            metavar="TIME",
            help="when the current step began (default: the commit that set the current step's value)",
        )
        command.add_argument("--json", action="store_true", help="print JSON: one object per service")
        command.add_argument("--project-dir", type=Path, default=PROJECT_DIR, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr) -> int:
    """The command line; see the module docstring."""
    args = _parser().parse_args(argv)
    try:
        config = load_stack(args.project_dir, args.stack)
        decisions = decide(args, config)
        applied = apply(args, decisions) if args.command == "apply" else None
    except (UsageError, HistoryError, ConfigEditError) as error:
        print(f"error: {error}", file=stderr)
        return EXIT_BAD_INPUT
    except PrometheusError as error:
        print(
            f"error: {error}; no decision (an unreadable Prometheus is never a healthy canary)", file=stderr
        )
        return EXIT_PROMETHEUS
    if args.json:
        output: list[dict[str, Any]] = [d.to_json() for d in decisions]
        if applied is not None:
            for item in output:
                if item["service"] == applied.service:
                    item["applied"] = True
                    item["commit_message"] = commit_message(args.stack, applied)
        print(json.dumps(output, indent=2), file=stdout)
    else:
        print("\n\n".join(describe(d) for d in decisions), file=stdout)
        if args.command == "apply":
            print("", file=stdout)
            if applied is None:
                print("nothing to apply: no decision changes the stack file", file=stdout)
            else:
                print(
                    f"set perfstack:{applied.key}: {applied.weight} -> {applied.next_weight} "
                    f"in Pulumi.{args.stack}.yaml",
                    file=stdout,
                )
                print("\ncommit message:\n" + commit_message(args.stack, applied), file=stdout)
    return 0
