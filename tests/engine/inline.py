"""One Pulumi operation on the project's program, inline through the Automation API, in a process of its own.

    python -m tests.engine.inline OPERATION --work-dir DIR --stack STACK --out RESULT.json
        [--policy-pack PATH]

No Python language host is served by any registry here, so `pulumi up` on a
project directory cannot start the program. The Automation API's inline mode
needs none: it serves the program from this process (`infra.program.program`,
exactly what `__main__.py` runs) and starts the CLI with `--client`. The
workspace is DIR with the real `Pulumi.yaml` and `Pulumi.<stack>.yaml`; the
CLI is the one on PATH, the backend, passphrase and plugin home come from the
environment, as they would for an operator.

Each operation runs in its own process because the program runs in the
caller's interpreter and its runtime state is global (one inline operation per
process at a time). Operations:

    secrets   set each key of the JSON object on stdin as secret config (the Automation
              API's ConfigValue(secret=True), stored encrypted in the stack file)
    preview   `pulumi preview --diff`, with the policy pack when given
    up        `pulumi up --yes --skip-preview`, with the policy pack when given
    refresh   `pulumi refresh --preview-only`
    destroy   `pulumi destroy --yes`

RESULT.json holds what `pulumi preview --diff --json` gives a reviewer: the
steps (op, URN, detailed diff), the change summary, and every diagnostic and
policy violation (`secrets` writes none). The exit code is the CLI's: 0, or 1 with its output on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pulumi import automation as auto
from pulumi.automation import events

from infra.program import program

PROJECT_NAME = "perfstack"
OPERATIONS = ("secrets", "preview", "up", "refresh", "destroy")


class EventLog:
    """What the engine reported, in the shape of `pulumi preview --json`."""

    def __init__(self, step_event: str) -> None:
        # A preview reports each planned step before it; an update, each done step after it.
        self.step_event = step_event
        self.steps: list[dict[str, Any]] = []
        self.diagnostics: list[dict[str, str]] = []
        self.policy_violations: list[dict[str, str]] = []
        self.summary: dict[str, int] | None = None
        self.errors: list[str] = []

    def __call__(self, event: events.EngineEvent) -> None:
        # The Automation API turns an exception here into a warning and drops the
        # event: keep it, so a result built from incomplete events is an error.
        try:
            self._record(event)
        except Exception as error:
            self.errors.append(f"{type(error).__name__}: {error} in {event!r}")

    def _record(self, event: events.EngineEvent) -> None:
        step = getattr(event, self.step_event)
        if step is not None:
            self.steps.append(step_json(step.metadata))
        if event.diagnostic_event is not None:
            diagnostic = event.diagnostic_event
            self.diagnostics.append(
                {"severity": diagnostic.severity, "message": diagnostic.message, "urn": diagnostic.urn or ""}
            )
        if event.policy_event is not None:
            policy = event.policy_event
            self.policy_violations.append(
                {
                    "policy": policy.policy_name,
                    "level": policy.enforcement_level,
                    "message": policy.message,
                    "urn": policy.resource_urn or "",
                }
            )
        if event.summary_event is not None:
            self.summary = op_counts(event.summary_event.resource_changes)

    def result(self, change_summary: dict[str, int] | None = None) -> dict[str, Any]:
        if self.errors:
            raise RuntimeError("engine events could not be read:\n" + "\n".join(self.errors))
        summary = change_summary or self.summary or dict(Counter(s["op"] for s in self.steps))
        return {
            "steps": self.steps,
            "changeSummary": summary,
            "diagnostics": self.diagnostics,
            "policyViolations": self.policy_violations,
        }


def op_counts(changes: Mapping[Any, int]) -> dict[str, int]:
    """A change summary by operation name (the SDK gives plain strings where it types OpType)."""
    return {getattr(op, "value", op): count for op, count in changes.items()}


def step_json(metadata: events.StepEventMetadata) -> dict[str, Any]:
    detailed = metadata.detailed_diff or {}
    return {
        "op": metadata.op.value,
        "urn": metadata.urn,
        "detailedDiff": {
            path: {"kind": diff.diff_kind.value, "inputDiff": diff.input_diff}
            for path, diff in detailed.items()
        },
    }


def select_stack(work_dir: Path, stack: str) -> auto.Stack:
    return auto.create_or_select_stack(
        stack_name=stack,
        project_name=PROJECT_NAME,
        program=program,
        opts=auto.LocalWorkspaceOptions(work_dir=str(work_dir)),
    )


def run(
    operation: str, stack: auto.Stack, policy_packs: list[str], secrets: dict[str, str]
) -> dict[str, Any] | None:
    """What the engine reported for ``operation``; None for `secrets`, which runs no engine."""
    echo = {"on_output": lambda line: print(line, flush=True)}
    if operation == "secrets":
        stack.set_all_config(
            {f"{PROJECT_NAME}:{k}": auto.ConfigValue(v, secret=True) for k, v in secrets.items()}
        )
        return None
    if operation == "preview":
        log = EventLog("resource_pre_event")
        preview = stack.preview(diff=True, policy_packs=policy_packs, on_event=log, **echo)
        return log.result(op_counts(preview.change_summary))
    if operation == "up":
        log = EventLog("res_outputs_event")
        stack.up(policy_packs=policy_packs, on_event=log, **echo)
        return log.result()
    if operation == "refresh":
        log = EventLog("resource_pre_event")
        refresh = stack.preview_refresh(on_event=log, **echo)
        return log.result(op_counts(refresh.change_summary))
    log = EventLog("res_outputs_event")
    stack.destroy(on_event=log, **echo)
    return log.result()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("operation", choices=OPERATIONS)
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--policy-pack", action="append", default=[], dest="policy_packs")
    args = parser.parse_args(argv)
    secrets = json.load(sys.stdin) if args.operation == "secrets" else {}
    stack = select_stack(args.work_dir, args.stack)
    try:
        result = run(args.operation, stack, args.policy_packs, secrets)
    except auto.CommandError as error:
        print(error, file=sys.stderr, flush=True)
        return 1
    if result is not None:
        args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
