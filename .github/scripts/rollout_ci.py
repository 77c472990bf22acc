#!/usr/bin/env python3
"""The rollout workflow's judge step: decide, make the one-line change, land it, report.

    python .github/scripts/rollout_ci.py --stack staging --prometheus URL

1. `python -m rollout apply STACK --json` decides every service and, when a
   decision changes the stack file, makes that one-line change (the judge's
   own guard);
2. land_change.py commits it: a rollback or step back straight to `main`,
   a promotion to `main` or, on a reviewed stack, to a pull request's branch;
   a hold commits nothing;
3. the verdict, its evidence and what was landed go to the job summary
   (rollout_report.py), and `route`, `sha`, `branch`, `action` to
   `$GITHUB_OUTPUT` for the apply job.

The workflow then applies `main` (apply.yml) whatever the verdict: a rollback
that is in git but whose update failed is applied by the next run.

Exit codes: 0 decided (whatever the verdict), 2 bad input or a change that
could not be landed, 3 Prometheus unreadable (no decision: never a healthy canary).
"""

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

sys.path.insert(0, str(Path(__file__).resolve().parent))
from land_change import Landed, LandError, describe, land, write_outputs
from rollout_report import render, stack_rollouts

PROJECT_DIR = Path(__file__).resolve().parents[2]
JUDGE_TIMEOUT_S = 600


class JudgeError(Exception):
    """The judge gave no decision; ``code`` is its exit status."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def judge(project_dir: Path, stack: str, prometheus: str | None, service: str | None) -> list[dict[str, Any]]:
    """`python -m rollout apply STACK --json`: its decisions (the stack file edited if one changes it)."""
    command = [sys.executable, "-m", "rollout", "apply", stack, "--project-dir", str(project_dir), "--json"]
    command += ["--prometheus", prometheus] if prometheus else []
    command += ["--service", service] if service else []
    result = subprocess.run(
        command, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=JUDGE_TIMEOUT_S, check=False
    )
    if result.returncode != 0:
        raise JudgeError(result.stderr.strip() or f"the judge exited {result.returncode}", result.returncode)
    decisions: list[dict[str, Any]] = json.loads(result.stdout)
    return decisions


def run(
    project_dir: Path, stack: str, prometheus: str | None = None, service: str | None = None
) -> tuple[list[dict[str, Any]], Landed, str]:
    """Judge, land, report: the decisions, what was landed, and the summary's Markdown."""
    decisions = judge(project_dir, stack, prometheus, service)
    applied = next((d for d in decisions if d.get("applied")), None)
    if applied is None:
        landed = land(project_dir, stack, "hold", "")
    else:
        landed = land(project_dir, stack, applied["action"], applied["commit_message"], applied["service"])
    _, weights = stack_rollouts(project_dir, stack)
    return decisions, landed, render(stack, decisions, weights, describe(landed, stack))


def main(argv: Sequence[str] | None = None, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr) -> int:
    """The command line; see the module docstring."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--prometheus", help="the stack's Prometheus (default: $PERFSTACK_PROMETHEUS_URL)")
    parser.add_argument("--service", help="only this service")
    parser.add_argument("--message-out", type=Path, help="write the applied decision's commit message here")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR)
    args = parser.parse_args(argv)
    try:
        decisions, landed, summary = run(args.project_dir, args.stack, args.prometheus, args.service)
    except JudgeError as error:
        print(f"error: {error}", file=stderr)
        return error.code
    except LandError as error:
        print(f"error: {error}", file=stderr)
        return 2
    write_outputs(landed)
    applied = next((d for d in decisions if d.get("applied")), None)
    actions = ",".join(f"{d['service']}={d['action']}" for d in decisions)
    github_output = os.environ.get("GITHUB_OUTPUT")
    if github_output:
        with open(github_output, "a") as handle:
            handle.write(f"actions={actions}\n")
    if args.message_out is not None and applied is not None:
        args.message_out.write_text(applied["commit_message"])
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        with open(summary_file, "a") as handle:
            handle.write(summary)
    stdout.write(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
