"""The one-line change to `Pulumi.<stack>.yaml`, made with `pulumi config set` and guarded.

Shared by `python -m rollout apply` and `.github/scripts/rollback_config.py`
(which runs with only PyYAML installed: this module needs nothing else).

The CLI re-serialises the whole file, so the result is checked before it is
kept (the one-key guard): it must parse to the old document with exactly that
key changed, and differ from the old text in exactly one changed or one added
line. Otherwise the old file is written back byte for byte and the change is
refused with a message naming the key.
"""

import copy
import difflib
import json
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

STACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
"""What a stack name looks like: it names the file `Pulumi.<stack>.yaml`."""
CLI = "pulumi"
CLI_TIMEOUT_S = 300
DOCS = "docs/ci-cd.md, 'Rolling back from GitHub'"


class ConfigEditError(Exception):
    """The change cannot be made; the message says why, naming the config key."""


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


def run_config_set(project_dir: Path, stack: str, change: Change) -> None:
    """Run `pulumi config set` for ``change`` in ``project_dir``; a ConfigEditError if it cannot or fails."""
    cli = shutil.which(CLI)
    if cli is None:
        raise ConfigEditError(
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
        raise ConfigEditError(
            f"{change.key}: `pulumi config set` did not finish in {CLI_TIMEOUT_S}s"
        ) from error
    if result.returncode != 0:
        output = result.stderr.strip() or result.stdout.strip() or f"exit code {result.returncode}"
        raise ConfigEditError(f"{change.key}: `pulumi config set` failed: {output}")


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
    text in exactly one changed or one added line; otherwise a ConfigEditError
    names the key and what else changed.
    """
    try:
        edited = yaml.safe_load(after)
    except yaml.YAMLError as error:
        raise ConfigEditError(
            f"{change.key}: `pulumi config set` left {file_name} unreadable ({error})"
        ) from error
    expected = copy.deepcopy(yaml.safe_load(before))
    _set_in(expected["config"], change.path, change.stored)
    want, got = _leaves(expected), _leaves(edited)
    target = ("config", *change.path)
    differ = {p for p in want.keys() | got.keys() if want.get(p) != got.get(p)}
    if differ - {target}:
        raise ConfigEditError(
            f"{change.key}: `pulumi config set` would also change "
            f"{', '.join(sorted(map(_describe, differ - {target})))} in {file_name}; "
            f"put the stack file in the CLI's form ({DOCS}) or edit it by hand"
        )
    if differ:
        raise ConfigEditError(
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
    raise ConfigEditError(
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
