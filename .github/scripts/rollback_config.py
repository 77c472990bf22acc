#!/usr/bin/env python3
"""Applies a one-line rollback to `Pulumi.<stack>.yaml` with `pulumi config set`.

Actions (DESIGN.md, "Feature flags and rollback"):

- canary-off:    perfstack:services.<service>.canary.weight = 0
- version-back:  perfstack:services.<service>.stable.version = <version>
- kill-switch:   perfstack:killSwitch = true

Inputs are checked first, with errors that name the config key. The edit is
then made by the CLI, as the runbook makes it by hand:
`pulumi config set [--path] <key> <value> --type <type> --stack <stack>`, run
in the project directory with the `pulumi` on PATH (it needs the stack's
backend, so the environment must give its credentials). The kill switch is
written as the string "true", the form the CLI gives every top-level value, so
a later `config set` leaves its line alone.

The CLI re-serialises the whole file, so the result is checked before it is
kept (the one-key guard): it must parse to the old document with exactly that
key changed, and differ from the old text in exactly one changed or one added
line. Otherwise the old file is written back byte for byte and the rollback is
refused with a message naming the key: a stack file that is not in the CLI's
form (a bare `false` at the top level, two spaces before a comment) would
otherwise be committed with changes nobody asked for.

`--if-needed` makes a rollback that is already in the stack file a success
that edits nothing (exit 0): the workflow then applies the stack as it is, so
a run whose `up` failed after the commit can be re-run.

`--dry-run` checks the inputs and prints the planned change without the CLI
and without writing anything (the workflow runs it before approval, without
backend credentials).

Exit codes: 0 changed (or would change, with --dry-run; or already so, with
--if-needed), 2 refused.
"""

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import yaml

PROJECT_DIR = Path(__file__).resolve().parents[2]
# The guarded edit is shared with `python -m rollout apply`; it needs only PyYAML.
sys.path.insert(0, str(PROJECT_DIR))
from rollout.stack_edit import STACK_NAME, Change, ConfigEditError, apply_change  # noqa: E402

PROJECT = "perfstack"
ACTIONS = ("canary-off", "version-back", "kill-switch")
# An OCI image tag: what a stable version becomes (`image:version`). It never
# starts with "-", so the CLI cannot read it as a flag.
VERSION = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class RollbackError(ConfigEditError):
    """The rollback cannot be applied; the message says why, naming the config key."""


class AlreadyRolledBack(RollbackError):
    """The stack file already says what the rollback would set (a re-run, or someone was faster)."""


def _mapping(value: Any, key: str, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RollbackError(f"{key}: {what} is not set in the stack file")
    return value


def _as_bool(value: Any) -> Any:
    """A config boolean as the program reads it: true/false, or the strings "true"/"false" the CLI writes."""
    return {"true": True, "false": False}.get(value, value) if isinstance(value, str) else value


def plan_change(config: Mapping[str, Any], action: str, service: str, version: str | None) -> Change:
    """The change ``action`` makes to a stack's ``config`` mapping, or a RollbackError saying why not."""
    if action not in ACTIONS:
        raise RollbackError(f"unknown action {action!r}: expected one of {', '.join(ACTIONS)}")
    if version and action != "version-back":
        raise RollbackError(f"--version is only for version-back, not {action}")
    services_key = f"{PROJECT}:services"
    services = _mapping(config.get(services_key), services_key, "the services section")
    if service not in services:
        known = ", ".join(sorted(services)) or "none"
        raise RollbackError(f"{services_key}.{service}: no such service in this stack (services: {known})")
    entry = _mapping(services[service], f"{services_key}.{service}", "the service")

    if action == "canary-off":
        key = f"{services_key}.{service}.canary"
        canary = _mapping(entry.get("canary"), key, "a canary track")
        current = canary.get("weight")
        if current == 0:
            raise AlreadyRolledBack(f"{key}.weight is already 0: nothing to roll back")
        return Change((services_key, service, "canary", "weight"), 0, current)

    if action == "version-back":
        key = f"{services_key}.{service}.stable.version"
        if not version:
            raise RollbackError(f"{key}: version-back needs --version (the version to go back to)")
        if not VERSION.match(version):
            raise RollbackError(f"{key}: {version!r} is not a valid image tag")
        stable = _mapping(entry.get("stable"), f"{services_key}.{service}.stable", "a stable track")
        current = stable.get("version")
        if current is not None and str(current) == version:
            raise AlreadyRolledBack(f"{key} is already {version}: nothing to roll back")
        return Change((services_key, service, "stable", "version"), version, current)

    key = f"{PROJECT}:killSwitch"
    current = _as_bool(config.get(key, False))
    if current is True:
        raise AlreadyRolledBack(f"{key} is already true: nothing to roll back")
    return Change((key,), True, current)


def rollback(
    project_dir: Path, stack: str, action: str, service: str, version: str | None, dry_run: bool
) -> Change:
    """Plan and (unless ``dry_run``) apply the rollback for ``stack``."""
    if not STACK_NAME.match(stack):
        raise RollbackError(f"{stack!r} is not a stack name")
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        raise RollbackError(f"no stack file {stack_file.name} in {project_dir}")
    try:
        document = yaml.safe_load(stack_file.read_bytes().decode())
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise RollbackError(f"{stack_file.name} is not a readable YAML file ({error})") from error
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise RollbackError(f"{stack_file.name} has no config: section")
    change = plan_change(document["config"], action, service, version)
    if not dry_run:
        apply_change(project_dir, stack, change)
    return change


def main(argv: Sequence[str] | None = None, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr) -> int:
    """The command line: exit 0 when the change is made (or would be, with --dry-run), 2 when refused."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stack", required=True, help="stack name: edits Pulumi.<stack>.yaml")
    parser.add_argument("--action", required=True, choices=ACTIONS)
    parser.add_argument(
        "--service", default="api", help="app service under perfstack:services (default: api)"
    )
    parser.add_argument("--version", default="", help="version-back only: the stable version to go back to")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR, help="where the stack files are")
    parser.add_argument(
        "--dry-run", action="store_true", help="check and print the change; no CLI, writes nothing"
    )
    parser.add_argument(
        "--if-needed",
        action="store_true",
        help="a rollback already in the stack file is a success that edits nothing (a re-run applies it)",
    )
    args = parser.parse_args(argv)
    try:
        change = rollback(
            args.project_dir, args.stack, args.action, args.service, args.version or None, args.dry_run
        )
    except AlreadyRolledBack as error:
        if not args.if_needed:
            print(f"error: {error}", file=stderr)
            return 2
        print(
            f"{str(error).replace('nothing to roll back', 'nothing to edit')} in Pulumi.{args.stack}.yaml",
            file=stdout,
        )
        return 0
    except ConfigEditError as error:
        print(f"error: {error}", file=stderr)
        return 2
    verb = "would set" if args.dry_run else "set"
    old = json.dumps(change.old_value)
    print(f"{verb} {change.key}: {old} -> {change.rendered} in Pulumi.{args.stack}.yaml", file=stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
