#!/usr/bin/env python3
"""The rollout judge's verdicts as Markdown: the job summary and the pull request's rollout comment.

Reads the JSON of `python -m rollout decide|apply STACK --json` (a file, or
`-` for stdin) and the stack file's rollout steps, and prints, per service,
where the rollout stands and what happens next, e.g.
"step 2 of 3 (50 %), eligible at 14:20 UTC, checks passing", then each
check's evidence in a table.

    python -m rollout decide staging --json > decisions.json
    python .github/scripts/rollout_report.py decisions.json --stack staging

Without `--decisions` (no Prometheus reachable from a pull request) it
renders the stack file's steps alone and says that no checks ran.
"""

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

PROJECT_DIR = Path(__file__).resolve().parents[2]
MARKER = "<!-- perfstack-rollout:{stack} -->"
"""First line of the pull request comment: the workflow finds its own comment by it and edits it."""

Decision = Mapping[str, Any]


def clock(moment: str | None) -> str:
    """`2026-12-03T14:20:00Z` as `14:20 UTC`."""
    if not moment:
        return "-"
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).strftime("%H:%M UTC")


def position(weight: int, weights: Sequence[int]) -> str:
    """Where ``weight`` stands among the steps."""
    if weight == 0:
        return "canary at 0 % (rolled back or not started)"
    if weight in weights:
        return f"step {list(weights).index(weight) + 1} of {len(weights)} ({weight} %)"
    return f"{weight} % (not a step: held until a person sets one)"


def checks_state(decision: Decision) -> str:
    """`checks passing`, or the failing and inconclusive ones."""
    checks = decision.get("checks") or []
    failing = [f"{c['tier']} {c['name']}" for c in checks if c["status"] == "fail"]
    if failing:
        return "FAILING: " + ", ".join(failing)
    inconclusive = [c["name"] for c in checks if c["status"] == "inconclusive"]
    if inconclusive:
        return "too little data: " + ", ".join(inconclusive)
    return "checks passing" if checks else "no checks ran"


def next_move(decision: Decision) -> str:
    """What the judge does (or did) next."""
    action, weight, target = decision["action"], decision["weight"], decision["next_weight"]
    if action == "promote":
        return f"promote to {target} %"
    if action == "rollback":
        return f"ROLL BACK to {target} %"
    if action == "step_back":
        return f"step back to {target} %"
    if action == "complete":
        return "complete: a person makes the canary stable"
    if decision.get("eligible_at") and weight > 0:
        return f"eligible at {clock(decision['eligible_at'])}"
    return "hold"


def headline(decision: Decision, weights: Sequence[int]) -> str:
    """One line per service: "api: step 2 of 3 (50 %), eligible at 14:20 UTC, checks passing"."""
    where = position(decision["weight"], weights)
    return f"**{decision['service']}**: {where}, {next_move(decision)}, {checks_state(decision)}"


def evidence_table(decision: Decision) -> list[str]:
    """Each check's numbers."""

    def num(value: Any) -> str:
        return "-" if value is None else f"{value:.4g}"

    rows = [
        "| check | tier | observed | threshold | n | stable | p | status |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in decision.get("checks") or []:
        rows.append(
            f"| {c['name']} | {c['tier']} | {num(c.get('observed'))} "
            f"| {c.get('operator', '')} {num(c.get('threshold'))} | {num(c.get('sample'))} "
            f"| {num(c.get('baseline'))} | {num(c.get('p_value'))} | {c['status']} |"
        )
    return rows


def render(
    stack: str, decisions: Sequence[Decision], weights: Mapping[str, Sequence[int]], landed: str = ""
) -> str:
    """The Markdown for ``stack``: a headline and the evidence per service, then what was landed."""
    lines = [MARKER.format(stack=stack), f"### Rollout on `{stack}`", ""]
    for decision in decisions:
        lines += [headline(decision, weights.get(decision["service"], ())), "", f"> {decision['reason']}", ""]
        lines += [
            f"judged at {decision.get('at') or '-'}, step began {decision.get('step_started') or '-'}",
            "",
        ]
        lines += [*evidence_table(decision), ""]
    if landed:
        lines.append(landed)
    return "\n".join(lines).rstrip() + "\n"


def render_without_checks(
    stack: str, canaries: Mapping[str, int], weights: Mapping[str, Sequence[int]], why: str
) -> str:
    """The steps alone, when the stack's Prometheus cannot be read from here."""
    lines = [MARKER.format(stack=stack), f"### Rollout on `{stack}`", ""]
    for service, weight in canaries.items():
        lines += [f"**{service}**: {position(weight, weights.get(service, ()))}, no checks ran ({why})", ""]
    return "\n".join(lines).rstrip() + "\n"


def stack_rollouts(project_dir: Path, stack: str) -> tuple[dict[str, int], dict[str, tuple[int, ...]]]:
    """Each service's canary weight (the value the judge walks) and its steps' weights."""
    sys.path.insert(0, str(PROJECT_DIR))
    from rollout.cli import load_stack
    from rollout.judge import subject_of

    config = load_stack(project_dir, stack)
    canaries = {name: subject_of(s).value for name, s in config.services.items() if s.canary is not None}
    weights = {name: s.rollout.weights for name, s in config.services.items()}
    return canaries, weights


def main(argv: Sequence[str] | None = None, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr) -> int:
    """The command line; see the module docstring."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--decisions", help="the judge's --json output (a file, or - for stdin)")
    parser.add_argument("--stack", required=True)
    parser.add_argument(
        "--why", default="no Prometheus reachable from here", help="why there are no decisions"
    )
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR)
    args = parser.parse_args(argv)
    canaries, weights = stack_rollouts(args.project_dir, args.stack)
    if args.decisions is None:
        stdout.write(render_without_checks(args.stack, canaries, weights, args.why))
        return 0
    text = sys.stdin.read() if args.decisions == "-" else Path(args.decisions).read_text()
    try:
        decisions = json.loads(text)
    except ValueError as error:
        print(f"error: {args.decisions}: not the judge's --json output ({error})", file=stderr)
        return 2
    stdout.write(render(args.stack, decisions, weights))
    return 0


if __name__ == "__main__":
    sys.exit(main())
