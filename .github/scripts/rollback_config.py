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

`--dry-run` checks the inputs and prints the planned change without the CLI
and without writing anything (the workflow runs it before approval, without
backend credentials).

Exit codes: 0 changed (or would change, with --dry-run), 2 refused.
"""

import argparse
import copy
import difflib
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

PROJECT = "perfstack"
ACTIONS = ("canary-off", "version-back", "kill-switch")
PROJECT_DIR = Path(__file__).resolve().parents[2]
STACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# An OCI image tag: what a stable version becomes (`image:version`). It never
# starts with "-", so the CLI cannot read it as a flag.
VERSION = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
CLI = "pulumi"
CLI_TIMEOUT_S = 300
DOCS = "docs/ci-cd.md, 'Rolling back from GitHub'"


class RollbackError(Exception):
    """The rollback cannot be applied; the message says why, naming the config key."""


@dataclass(frozen=True)
class Change:
    """One config value to set, addressed by its path under `config:`."""

    path: tuple[str, ...]
    value: bool | int | str
    old_value: Any

    @property
    def key(self) -> str:
        """The key as `pulumi config set --path` spells it: perfstack:services.api.canary.weight."""
        return ".".join(self.path)

    @property
    def rendered(self) -> str:
        """The value as the output shows it (JSON: strings quoted, true/false bare)."""
        return json.dumps(self.value)

    @property
    def nested(self) -> bool:
        """Whether the key is a path inside a top-level value (set with `--path`)."""
        return len(self.path) > 1

    @property
    def cli_value(self) -> str:
        """The value as the command line gives it to `pulumi config set`."""
        return self.value if isinstance(self.value, str) else json.dumps(self.value)

    @property
    def cli_type(self) -> str:
        """`--type`: string at the top level (as the CLI writes every such value), else the value's own."""
        if not self.nested or isinstance(self.value, str):
            return "string"
        return "bool" if isinstance(self.value, bool) else "int"

    @property
    def stored(self) -> Any:
        """The value the stack file holds afterwards, as PyYAML reads it."""
        return self.value if self.nested else self.cli_value

    def command(self, stack: str) -> list[str]:
        """The `pulumi config set` arguments (after the executable) that make this change."""
        path = ["--path"] if self.nested else []
        return [
            "config",
            "set",
            *path,
            self.key,
            self.cli_value,
            "--type",
            self.cli_type,
            "--stack",
            stack,
            "--non-interactive",
        ]


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
            raise RollbackError(f"{key}.weight is already 0: nothing to roll back")
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
            raise RollbackError(f"{key} is already {version}: nothing to roll back")
        return Change((services_key, service, "stable", "version"), version, current)

    key = f"{PROJECT}:killSwitch"
    current = _as_bool(config.get(key, False))
    if current is True:
        raise RollbackError(f"{key} is already true: nothing to roll back")
    return Change((key,), True, current)


# --- the edit: pulumi config set, then the one-key guard ----------------------------


def run_config_set(project_dir: Path, stack: str, change: Change) -> None:
    """Run `pulumi config set` for ``change`` in ``project_dir``; a RollbackError if it cannot or fails."""
    cli = shutil.which(CLI)
    if cli is None:
        raise RollbackError(
            f"{change.key}: the pulumi CLI is not on PATH; install it "
            "(https://www.pulumi.com/docs/install/), or check the input with --dry-run"
        )
    try:
        result = subprocess.run(
            [cli, *change.command(stack)],
            cwd=project_dir,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise RollbackError(
            f"{change.key}: `pulumi config set` did not finish in {CLI_TIMEOUT_S}s"
        ) from error
    if result.returncode != 0:
        output = result.stderr.strip() or result.stdout.strip() or f"exit code {result.returncode}"
        raise RollbackError(f"{change.key}: `pulumi config set` failed: {output}")


def _canonical(value: Any) -> str:
    """A scalar or subtree with its type: "false" is not false, and 1.0 is not 1."""
    return json.dumps(value, sort_keys=True, default=repr)


def _leaves(node: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], str]:
    """Every leaf of a parsed document (lists are leaves) by its key path, typed by ``_canonical``."""
    if isinstance(node, dict) and node:
        leaves: dict[tuple[str, ...], str] = {}
        for key, value in node.items():
            leaves.update(_leaves(value, (*prefix, str(key))))
        return leaves
    return {prefix: _canonical(node)}


def _describe(path: tuple[str, ...]) -> str:
    """A document path as the config key it is (`config.` dropped), or the top-level key."""
    return ".".join(path[1:] if path[:1] == ("config",) and len(path) > 1 else path)


def _set_in(document: dict[str, Any], path: Sequence[str], value: Any) -> None:
    node = document
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def check_edit(before: str, after: str, change: Change, file_name: str) -> None:
    """The one-key guard: ``after`` must be ``before`` with exactly ``change`` made, in one line.

    The parsed document must differ only at the key (types included), and the
    text in exactly one changed or one added line; otherwise a RollbackError
    names the key and what else changed.
    """
    try:
        edited = yaml.safe_load(after)
    except yaml.YAMLError as error:
        raise RollbackError(
            f"{change.key}: `pulumi config set` left {file_name} unreadable ({error})"
        ) from error
    expected = copy.deepcopy(yaml.safe_load(before))
    _set_in(expected["config"], change.path, change.stored)
    want, got = _leaves(expected), _leaves(edited)
    target = ("config", *change.path)
    differ = {p for p in want.keys() | got.keys() if want.get(p) != got.get(p)}
    if differ - {target}:
        raise RollbackError(
            f"{change.key}: `pulumi config set` would also change "
            f"{', '.join(sorted(map(_describe, differ - {target})))} in {file_name}; "
            f"put the stack file in the CLI's form ({DOCS}) or edit it by hand"
        )
    if differ:
        raise RollbackError(
            f"{change.key}: `pulumi config set` would write {got.get(target)} here, not {want[target]}; "
            "edit it by hand"
        )
    old_lines = before.splitlines(keepends=True)
    edits = _line_edits(old_lines, after.splitlines(keepends=True))
    if len(edits) == 1 and edits[0][1:] in ((1, 1), (0, 1)):
        return
    count = sum(max(removed, added) for _, removed, added in edits)
    touched = "; ".join(
        f"line {i + 1}: {old_lines[i].rstrip()!r}"
        for start, removed, _ in edits
        for i in range(start, start + removed)
    )
    raise RollbackError(
        f"{change.key}: `pulumi config set` would change {count} lines of {file_name}, not one"
        + (f" (it rewrites {touched})" if touched else "")
        + f"; put the stack file in the CLI's form ({DOCS}) or edit it by hand"
    )


def _line_edits(old: list[str], new: list[str]) -> list[tuple[int, int, int]]:
    """Where ``new`` differs from ``old``: (first old line, old lines removed, new lines added) per hunk."""
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    return [(i1, i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]


def apply_change(project_dir: Path, stack: str, change: Change) -> None:
    """Make ``change`` with the CLI and keep it only if the guard passes; else restore the file exactly."""
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    original = stack_file.read_bytes()
    try:
        run_config_set(project_dir, stack, change)
        check_edit(original.decode(), stack_file.read_bytes().decode(), change, stack_file.name)
    except BaseException:  # interrupted or refused: the file is as it was, whatever the CLI did
        stack_file.write_bytes(original)
        raise


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
    args = parser.parse_args(argv)
    try:
        change = rollback(
            args.project_dir, args.stack, args.action, args.service, args.version or None, args.dry_run
        )
    except RollbackError as error:
        print(f"error: {error}", file=stderr)
        return 2
    verb = "would set" if args.dry_run else "set"
    old = json.dumps(change.old_value)
    print(f"{verb} {change.key}: {old} -> {change.rendered} in Pulumi.{args.stack}.yaml", file=stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
