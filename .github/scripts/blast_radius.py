#!/usr/bin/env python3
"""Does this update need a reviewer? Only if the preview does more than move traffic or app env.

A rollback or rollout step is one line of the stack file (a canary weight, a
flag's rollout, the kill switch), and such a line changes only the router's
route (the HTTPRoute's rules, the Docker router's nginx.conf) and the app
tracks' environment. When `pulumi preview --json` of `main` proves exactly
that, the update is applied at once, without waiting for the stack's
reviewers: the on-call engineer alone can take a canary out. When it shows
anything else (a merged change not yet deployed, drift, a step without a
detailed diff), the update waits for a reviewer like any deploy: applying
`main` would ship those changes too.

Proven harmless, and nothing else:

- `same` steps;
- an update or replacement of a resource of the router (`perfstack:traffic:Router`)
  whose detailed diff lies entirely under `spec.rules` or `uploads`;
- an update or replacement of a resource of an app service (`perfstack:app:Service`)
  whose detailed diff lies entirely under its containers' `env` (`envs` on Docker).

Reviewed stacks (REVIEWED_STACKS) need a reviewer for any other update; the
rest never do. Writes `review=true|false` and `changes=true|false` to `$GITHUB_OUTPUT` and the
reasons to the job summary. Exit codes: 0 (either answer), 1 `--require-unreviewed`
and a review is needed, 2 unreadable input.
"""

import argparse
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

REVIEWED_STACKS = frozenset({"production"})
"""Stacks whose updates wait for the `<stack>-approval` environment's reviewers (docs/ci-cd.md)."""
ROUTER = "perfstack:traffic:Router"
APP = "perfstack:app:Service"
CHANGING_OPS = frozenset({"update", "replace", "create-replacement", "delete-replaced"})
ALLOWED_DIFFS: Mapping[str, re.Pattern[str]] = {
    ROUTER: re.compile(r"^(spec\.rules|uploads)(\[|\.|$)"),
    APP: re.compile(r"^(spec\.template\.spec\.containers\[\d+\]\.env|envs)(\[|\.|$)"),
}


@dataclass(frozen=True)
class Finding:
    """A step the guard cannot prove harmless, and why."""

    op: str
    urn: str
    why: str

    def __str__(self) -> str:
        return f"{self.op} {self.urn.split('::')[-1]} ({self.urn.split('::')[2]}): {self.why}"


def components_of(urn: str) -> list[str]:
    """The types in a URN's type chain, outermost first: `a$b$c` -> [a, b, c]."""
    parts = urn.split("::")
    return parts[2].split("$") if len(parts) >= 4 else []


def finding(step: Mapping[str, Any]) -> Finding | None:
    """Why ``step`` is not provably a route or env change; None when it is (or changes nothing)."""
    op, urn = str(step.get("op", "")), str(step.get("urn", ""))
    if op == "same":
        return None
    if op not in CHANGING_OPS:
        return Finding(op, urn, "creates, deletes or reads a resource")
    owner = next((t for t in reversed(components_of(urn)[:-1]) if t in ALLOWED_DIFFS), None)
    if owner is None:
        return Finding(op, urn, "belongs to neither the router nor an app service")
    diff = step.get("detailedDiff")
    if not diff and op == "delete-replaced":
        # The old half of a replacement carries no diff; its `replace` step is judged.
        return None
    if not diff:
        return Finding(op, urn, "the preview gives no detailed diff to check")
    outside = sorted(key for key in diff if not ALLOWED_DIFFS[owner].match(key))
    if outside:
        return Finding(op, urn, f"changes {', '.join(outside)}")
    return None


def findings(preview: Mapping[str, Any]) -> list[Finding]:
    """Every step of a `pulumi preview --json` document that is not provably harmless."""
    return [f for step in preview.get("steps") or [] if (f := finding(step)) is not None]


def changes(preview: Mapping[str, Any]) -> bool:
    """Whether the preview changes anything (an update with no change is skipped)."""
    return any(step.get("op") != "same" for step in preview.get("steps") or [])


def review_needed(stack: str, unreviewed_requested: bool, found: Sequence[Finding]) -> bool:
    """A reviewed stack needs its reviewers, unless skipping was asked for and the preview is harmless."""
    return stack in REVIEWED_STACKS and not (unreviewed_requested and not found)


def explain(stack: str, unreviewed_requested: bool, found: Sequence[Finding]) -> str:
    """What the job summary says."""
    if stack not in REVIEWED_STACKS:
        return f"{stack} needs no reviewer."
    if not unreviewed_requested:
        return f"{stack}: a deploy waits for the {stack}-approval reviewers."
    if not found:
        return (
            f"{stack}: the preview touches only the router's route and app env: applied without a reviewer."
        )
    lines = "\n".join(f"- {f}" for f in found)
    return (
        f"{stack}: the preview does more than a rollout step, so it waits for the {stack}-approval "
        f"reviewers (main carries changes not yet deployed, or drift):\n{lines}"
    )


def main(argv: Sequence[str] | None = None, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr) -> int:
    """The command line; see the module docstring."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("preview", type=Path, help="the output of `pulumi preview --json`")
    parser.add_argument("--stack", required=True)
    parser.add_argument(
        "--unreviewed", choices=("true", "false"), default="false", help="the caller asks to skip review"
    )
    parser.add_argument(
        "--require-unreviewed",
        action="store_true",
        help="exit 1 when a review is needed (after approval it is too late)",
    )
    args = parser.parse_args(argv)
    try:
        preview = json.loads(args.preview.read_text())
    except (OSError, ValueError) as error:
        print(f"error: {args.preview}: not a `pulumi preview --json` document ({error})", file=stderr)
        return 2
    requested = args.unreviewed == "true"
    found = findings(preview)
    needed = review_needed(args.stack, requested, found)
    text = explain(args.stack, requested, found)
    outputs = f"review={str(needed).lower()}\nchanges={str(changes(preview)).lower()}"
    for name, line in (("GITHUB_OUTPUT", outputs), ("GITHUB_STEP_SUMMARY", text)):
        target = os.environ.get(name)
        if target:
            with open(target, "a") as handle:
                handle.write(line + "\n")
    print(text, file=stdout)
    return 1 if needed and args.require_unreviewed else 0


if __name__ == "__main__":
    sys.exit(main())
