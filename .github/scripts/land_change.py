#!/usr/bin/env python3
"""Lands a one-line stack-file change in git, the way the stack requires.

After `rollback_config.py` or `python -m rollout apply` edited
`Pulumi.<stack>.yaml`, this commits it and delivers the commit:

- nothing changed (a re-run, or a hold): nothing is committed; the caller
  still applies the stack as `main` has it, so a rollback that is already in
  git but failed to apply is applied now;
- a rollback, a step back, a manual rollback, or a promotion on a stack
  without reviewers: pushed straight to `main`, then applied. If `main`
  moved meanwhile, the commit is rebased onto it and pushed again;
- a promotion on a reviewed stack (blast_radius.REVIEWED_STACKS): pushed to
  the branch `rollout/<stack>/<service>` for a pull request (the workflow
  opens it), so a person approves every step up.

Writes `route`, `sha` (the commit on main to apply) and `branch` to
`$GITHUB_OUTPUT`. Exit codes: 0 landed (or nothing to land), 2 refused (a
change beyond the stack file, a push that kept failing).
"""

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TextIO

sys.path.insert(0, str(Path(__file__).resolve().parent))
from blast_radius import REVIEWED_STACKS

MAIN = "main"
PUSH_ATTEMPTS = 3
TAKE_OUT = frozenset({"rollback", "step_back", "canary-off", "version-back", "kill-switch"})
"""Actions that reduce risk: never wait for a reviewer."""
PROMOTE = "promote"


class Route(StrEnum):
    """Where a change goes."""

    NOTHING = "nothing"
    MAIN = "main"
    PULL_REQUEST = "pull-request"


class LandError(Exception):
    """The change cannot be landed; the message says why."""


@dataclass(frozen=True)
class Landed:
    """What happened: the route, the commit to apply (main's head), the pull request's branch."""

    route: Route
    sha: str
    branch: str = ""


def route(action: str, stack: str, changed: bool) -> Route:
    """The route of ``action``'s change on ``stack``."""
    if not changed:
        return Route.NOTHING
    if action in TAKE_OUT:
        return Route.MAIN
    if action == PROMOTE:
        return Route.PULL_REQUEST if stack in REVIEWED_STACKS else Route.MAIN
    raise LandError(f"{action!r} changes nothing the stack file should carry; refusing to commit it")


def pr_branch(stack: str, service: str) -> str:
    """One branch per stack and service: a newer promotion replaces the pull request's older one."""
    return f"rollout/{stack}/{service}"


class Git:
    """The thin adapter: git in the checkout."""

    def __init__(self, directory: Path, remote: str = "origin") -> None:
        self.directory = directory
        self.remote = remote

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["git", *args],
            cwd=self.directory,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise LandError(
                f"git {' '.join(args[:2])} failed: {result.stderr.strip() or result.stdout.strip()}"
            )
        return result

    def head(self) -> str:
        return self.run("rev-parse", "HEAD").stdout.strip()

    def dirty(self) -> list[str]:
        return [line[3:] for line in self.run("status", "--porcelain").stdout.splitlines()]


def land(
    directory: Path, stack: str, action: str, message: str, service: str = "", git: Git | None = None
) -> Landed:
    """Commit ``Pulumi.<stack>.yaml`` (if it changed) with ``message`` and deliver it by its route."""
    git = git or Git(directory)
    stack_file = f"Pulumi.{stack}.yaml"
    dirty = git.dirty()
    others = [path for path in dirty if path != stack_file]
    if others:
        raise LandError(f"refusing to commit: files besides {stack_file} changed ({', '.join(others)})")
    where = route(action, stack, stack_file in dirty)
    if where is Route.NOTHING:
        return Landed(where, git.head())
    git.run("add", stack_file)
    git.run("commit", "-q", "-F", "-", stdin=message)
    if where is Route.PULL_REQUEST:
        branch = pr_branch(stack, service or "rollout")
        git.run("push", "-q", "--force", git.remote, f"HEAD:refs/heads/{branch}")
        # main stays as it was: the pull request's merge is the change.
        git.run("reset", "-q", "--hard", "HEAD~1")
        return Landed(where, git.head(), branch)
    for _ in range(PUSH_ATTEMPTS):
        if git.run("push", "-q", git.remote, f"HEAD:{MAIN}", check=False).returncode == 0:
            return Landed(where, git.head())
        # main moved since the checkout: replay the one-line commit on top of it.
        git.run("fetch", "-q", git.remote, MAIN)
        if git.run("rebase", "-q", f"{git.remote}/{MAIN}", check=False).returncode != 0:
            git.run("rebase", "--abort", check=False)
            raise LandError(
                f"main changed {stack_file} on the same line meanwhile; nothing pushed. Re-run: the judge "
                "decides again on main as it is"
            )
    raise LandError(f"git push to {MAIN} failed {PUSH_ATTEMPTS} times; nothing pushed")


def main(argv: Sequence[str] | None = None, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr) -> int:
    """The command line; see the module docstring."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument(
        "--action", required=True, help="rollback, step_back, promote, or a rollback.yml action"
    )
    parser.add_argument("--message", required=True, help="the commit message")
    parser.add_argument("--service", default="", help="names the pull request's branch")
    parser.add_argument("--project-dir", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    try:
        landed = land(args.project_dir, args.stack, args.action, args.message, args.service)
    except LandError as error:
        print(f"error: {error}", file=stderr)
        return 2
    write_outputs(landed)
    print(describe(landed, args.stack), file=stdout)
    return 0


def describe(landed: Landed, stack: str) -> str:
    """One line for the log and the job summary."""
    if landed.route is Route.NOTHING:
        return f"Pulumi.{stack}.yaml unchanged: applying main as it is ({landed.sha[:12]})"
    if landed.route is Route.PULL_REQUEST:
        return f"pushed to {landed.branch} for a pull request: {stack} changes once it is reviewed and merged"
    return f"committed to main as {landed.sha[:12]}: applying it"


def write_outputs(landed: Landed) -> None:
    """`route`, `sha`, `branch` for the next steps."""
    target = os.environ.get("GITHUB_OUTPUT")
    if target:
        with open(target, "a") as handle:
            handle.write(f"route={landed.route}\nsha={landed.sha}\nbranch={landed.branch}\n")


if __name__ == "__main__":
    sys.exit(main())
