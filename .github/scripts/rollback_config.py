#!/usr/bin/env python3
"""Applies a one-line rollback to `Pulumi.<stack>.yaml`, as `pulumi config set --path` would.

Actions (DESIGN.md, "Feature flags and rollback"):

- canary-off:    perfstack:services.<service>.canary.weight = 0
- version-back:  perfstack:services.<service>.stable.version = <version>
- kill-switch:   perfstack:killSwitch = true

The file is edited as text so its comments, order and quoting stay as they
are: only the one value changes (or, when the key is absent, one line is
added). The result is then parsed with PyYAML and must equal the old
document with exactly that key changed; otherwise the file is left alone.
Inputs are checked first, with errors that name the config key.

Exit codes: 0 changed (or would change, with --dry-run), 2 refused.
"""

import argparse
import copy
import difflib
import json
import re
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
# An OCI image tag: what a stable version becomes (`image:version`); it also
# keeps anything that could break the YAML line out of the file.
VERSION = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")

# `key: rest` on a block-mapping line; keys may contain colons (perfstack:services).
KEY_LINE = re.compile(r"""^(?P<indent> *)(?P<key>"[^"]*"|'[^']*'|[^\s#'"-][^#]*?) *:(?: +(?P<rest>.*)|$)""")
# A scalar value followed by an optional comment.
VALUE_AND_COMMENT = re.compile(r"""^(?P<value>(?:"[^"]*"|'[^']*'|[^#"'])*?)(?P<comment>\s+#.*)?$""")


class RollbackError(Exception):
    """The rollback cannot be applied; the message says why, naming the config key."""


@dataclass(frozen=True)
class Change:
    """One config value to set, addressed by its path under `config:`."""

    path: tuple[str, ...]
    value: Any
    old_value: Any

    @property
    def key(self) -> str:
        """The key as `pulumi config set --path` spells it: perfstack:services.api.canary.weight."""
        return ".".join(self.path)

    @property
    def rendered(self) -> str:
        """The value as YAML text (JSON scalars are valid YAML; strings stay quoted like the stack files)."""
        return json.dumps(self.value)


def _mapping(value: Any, key: str, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RollbackError(f"{key}: {what} is not set in the stack file")
    return value


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
    current = config.get(key, False)
    if current is True:
        raise RollbackError(f"{key} is already true: nothing to roll back")
    return Change((key,), True, current)


# --- text editing ----------------------------------------------------------------


def _significant(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#") and stripped not in ("---", "...")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _unquote(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] and key[0] in "'\"" else key.strip()


@dataclass(frozen=True)
class _Block:
    """The lines of one block mapping: children live in [start, end) at more than ``parent_indent``."""

    start: int
    end: int
    parent_indent: int


def _children(lines: list[str], block: _Block) -> tuple[int | None, dict[str, int]]:
    """The indentation of ``block``'s direct children and the line of each child key."""
    child_indent: int | None = None
    found: dict[str, int] = {}
    for index in range(block.start, block.end):
        line = lines[index]
        if not _significant(line):
            continue
        indent = _indent(line)
        if child_indent is None:
            child_indent = indent
        if indent != child_indent:
            continue
        match = KEY_LINE.match(line)
        if match:
            found.setdefault(_unquote(match["key"]), index)
    return child_indent, found


def _block_under(lines: list[str], key_line: int) -> _Block:
    """The block mapping nested under the key on ``key_line``."""
    indent = _indent(lines[key_line])
    end = key_line + 1
    while end < len(lines) and (not _significant(lines[end]) or _indent(lines[end]) > indent):
        end += 1
    return _Block(key_line + 1, end, indent)


def _last_significant(lines: list[str], block: _Block) -> int:
    return max((i for i in range(block.start, block.end) if _significant(lines[i])), default=block.start - 1)


def _replace_scalar(line: str, rest_start: int, key: str, rendered: str) -> str:
    match = VALUE_AND_COMMENT.match(line[rest_start:])
    if not match or not match["value"].strip() or match["value"].strip()[0] in "{[|>&*!":
        raise RollbackError(f"{key}: the stack file does not hold a plain value here; edit it by hand")
    return line[:rest_start] + rendered + (match["comment"] or "")


def _edit_flow_mapping(line: str, rest_start: int, field: str, key: str, rendered: str) -> str:
    """Set ``field`` inside a one-line flow mapping such as `canary: {version: "1.5.0", weight: 10}`."""
    rest = line[rest_start:]
    match = VALUE_AND_COMMENT.match(rest)
    flow = (match["value"] if match else rest).rstrip()
    if not (flow.startswith("{") and flow.endswith("}")) or flow.count("{") != 1:
        raise RollbackError(f"{key}: the stack file's layout here is not supported; edit it by hand")
    comment = rest[len(flow) :] if match else ""
    field_re = re.compile(
        rf"(?P<head>[{{,]\s*{re.escape(field)}\s*:\s*)(?P<value>[^,}}]*?)(?P<tail>\s*[,}}])"
    )
    if field_re.search(flow):
        flow = field_re.sub(lambda m: m["head"] + rendered + m["tail"], flow, count=1)
    else:
        body = flow[1:-1].rstrip()
        flow = "{" + (f"{body}, " if body.strip() else "") + f"{field}: {rendered}" + "}"
    return line[:rest_start] + flow + comment


def edit_text(text: str, change: Change) -> str:
    """``text`` with ``change`` made: one value replaced, or one line added where the key is absent."""
    lines = text.splitlines(keepends=True)
    path = ("config", *change.path)
    block = _Block(0, len(lines), -1)
    for depth, segment in enumerate(path):
        child_indent, children = _children(lines, block)
        is_last = depth == len(path) - 1
        if segment not in children:
            if not is_last:
                raise RollbackError(f"{change.key}: {segment} is not in the stack file; edit it by hand")
            indent = child_indent if child_indent is not None else block.parent_indent + 2
            new_line = f"{' ' * indent}{segment}: {change.rendered}\n"
            at = _last_significant(lines, block) + 1
            if at > 0 and not lines[at - 1].endswith("\n"):
                lines[at - 1] += "\n"
            lines.insert(at, new_line)
            return "".join(lines)
        index = children[segment]
        line = lines[index].rstrip("\n")
        newline = lines[index][len(line) :]
        match = KEY_LINE.match(line)
        assert match  # _children only returns key lines
        rest_start = match.start("rest") if match["rest"] is not None else len(line)
        rest = (match["rest"] or "").strip()
        if is_last:
            lines[index] = _replace_scalar(line, rest_start, change.key, change.rendered) + newline
            return "".join(lines)
        if rest.startswith("{") and depth == len(path) - 2:
            lines[index] = (
                _edit_flow_mapping(line, rest_start, path[-1], change.key, change.rendered) + newline
            )
            return "".join(lines)
        if rest and not rest.startswith("#"):
            raise RollbackError(
                f"{change.key}: the stack file's layout at {segment} is not supported; edit it by hand"
            )
        block = _block_under(lines, index)
    raise AssertionError("unreachable: the loop returns at the last path segment")


def _set_in(document: dict[str, Any], path: Sequence[str], value: Any) -> None:
    node = document
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def apply_change(text: str, change: Change) -> str:
    """The edited text, verified: it parses to the old document with exactly ``change`` made."""
    before = yaml.safe_load(text)
    edited = edit_text(text, change)
    try:
        after = yaml.safe_load(edited)
    except yaml.YAMLError as error:
        raise RollbackError(
            f"{change.key}: the edit would break the YAML ({error}); edit it by hand"
        ) from error
    expected = copy.deepcopy(before)
    _set_in(expected["config"], change.path, change.value)
    if after != expected:
        raise RollbackError(f"{change.key}: the edit would change more than this key; edit it by hand")
    changed = [
        line for line in difflib.ndiff(text.splitlines(), edited.splitlines()) if line[:2] in ("- ", "+ ")
    ]
    if len(changed) > 2:
        raise RollbackError(f"{change.key}: the edit touches {len(changed)} lines, not one; edit it by hand")
    return edited


def rollback(
    project_dir: Path, stack: str, action: str, service: str, version: str | None, dry_run: bool
) -> Change:
    """Plan, apply and (unless ``dry_run``) write the rollback for ``stack``."""
    if not STACK_NAME.match(stack):
        raise RollbackError(f"{stack!r} is not a stack name")
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        raise RollbackError(f"no stack file {stack_file.name} in {project_dir}")
    text = stack_file.read_text()
    document = yaml.safe_load(text)
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise RollbackError(f"{stack_file.name} has no config: section")
    change = plan_change(document["config"], action, service, version)
    edited = apply_change(text, change)
    if not dry_run:
        stack_file.write_text(edited)
    return change


def main(argv: Sequence[str] | None = None, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="stack name: edits Pulumi.<stack>.yaml")
    parser.add_argument("--action", required=True, choices=ACTIONS)
    parser.add_argument(
        "--service", default="api", help="app service under perfstack:services (default: api)"
    )
    parser.add_argument("--version", default="", help="version-back only: the stable version to go back to")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR, help="where the stack files are")
    parser.add_argument("--dry-run", action="store_true", help="check and print the change, write nothing")
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
