#!/usr/bin/env python3
"""Is this run stale? A deploy applies only what `main` says now.

Every job that runs `pulumi up` first compares the commit it was started for
with `main` as it is when the job starts (after any wait for a reviewer or
for the stack's concurrency group). The run is **current** when `main` is
that commit, or descends from it by commits that change nothing this stack
deploys (docs, tests, CI, another stack's file). Otherwise it is **stale**
and skips itself, saying which commit replaces it: `main` moved on, and the
run for `main`'s head applies everything, including a rollback or rollout
step committed in the meantime, which an older run would undo.

Every change to a stack is a commit on `main`, so "the newest commit of
`main`" is the one order of changes; a rollback is just such a commit.

Writes `stale=true|false` to `$GITHUB_OUTPUT`. Exit codes: 0 (either
verdict), 2 when git cannot answer.
"""

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

STACK_FILE = re.compile(r"^Pulumi\.(?P<stack>[^/]+)\.yaml$")
# What no stack deploys: changing these never makes a run stale.
NOT_DEPLOYED_DIRS = ("docs/", "tests/", "bench/", ".github/")
NOT_DEPLOYED_SUFFIXES = (".md",)


class GitError(Exception):
    """git could not answer; the message says what was asked."""


@dataclass(frozen=True)
class Freshness:
    """The verdict on one run."""

    stale: bool
    message: str


def deployed_by(path: str, stack: str) -> bool:
    """Whether a change to ``path`` can change what ``stack`` deploys."""
    match = STACK_FILE.match(path)
    if match:
        return match["stack"] == stack
    return not path.startswith(NOT_DEPLOYED_DIRS) and not path.endswith(NOT_DEPLOYED_SUFFIXES)


def freshness(stack: str, run_sha: str, main_sha: str, descends: bool, changed: Sequence[str]) -> Freshness:
    """The verdict: ``descends`` is whether main contains the run's commit, ``changed`` the paths between."""
    short_run, short_main = run_sha[:12], main_sha[:12]
    if run_sha == main_sha:
        return Freshness(False, f"{stack}: {short_run} is main's head; applying it")
    if not descends:
        return Freshness(
            True,
            f"{stack}: skipped, stale: {short_run} is not in main's history any more "
            f"(main is at {short_main}); "
            "the run for main's head applies the stack",
        )
    relevant = sorted(p for p in changed if deployed_by(p, stack))
    if not relevant:
        return Freshness(
            False,
            f"{stack}: {short_run} is behind main ({short_main}) only by changes {stack} does not deploy; "
            "applying it",
        )
    shown = ", ".join(relevant[:5]) + (f" and {len(relevant) - 5} more" if len(relevant) > 5 else "")
    return Freshness(
        True,
        f"{stack}: skipped, stale: main moved on to {short_main}, which changes {shown}; "
        f"applying {short_run} would undo that. The run for {short_main} applies it",
    )


def _git(project_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=project_dir, capture_output=True, text=True, timeout=60, check=False
    )


def check(project_dir: Path, stack: str, run_sha: str, main_ref: str) -> Freshness:
    """Ask git (the thin adapter) and decide."""
    resolved = _git(project_dir, "rev-parse", "--verify", f"{main_ref}^{{commit}}")
    run = _git(project_dir, "rev-parse", "--verify", f"{run_sha}^{{commit}}")
    if resolved.returncode != 0 or run.returncode != 0:
        raise GitError(f"cannot resolve {main_ref} or {run_sha} (fetch main with its history: fetch-depth 0)")
    main_sha, run_full = resolved.stdout.strip(), run.stdout.strip()
    descends = _git(project_dir, "merge-base", "--is-ancestor", run_full, main_sha).returncode == 0
    changed: list[str] = []
    if descends and run_full != main_sha:
        diff = _git(project_dir, "diff", "--name-only", run_full, main_sha)
        if diff.returncode != 0:
            raise GitError(f"git diff {run_full[:12]} {main_sha[:12]} failed: {diff.stderr.strip()}")
        changed = diff.stdout.split()
    return freshness(stack, run_full, main_sha, descends, changed)


def main(argv: Sequence[str] | None = None, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr) -> int:
    """The command line; see the module docstring."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--sha", required=True, help="the commit this run was started for")
    parser.add_argument("--main", default="origin/main", help="main as it is now (default: origin/main)")
    parser.add_argument("--project-dir", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    try:
        verdict = check(args.project_dir, args.stack, args.sha, args.main)
    except GitError as error:
        print(f"error: {error}", file=stderr)
        return 2
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        target = os.environ.get(name)
        if target:
            with open(target, "a") as handle:
                handle.write(
                    f"stale={str(verdict.stale).lower()}\n"
                    if name == "GITHUB_OUTPUT"
                    else verdict.message + "\n"
                )
    print(verdict.message, file=stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
