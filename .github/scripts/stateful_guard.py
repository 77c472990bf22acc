#!/usr/bin/env python3
"""Stops a deployment that would replace or delete a stateful resource.

Reads the document `pulumi preview --json` prints (a file, or `-` for
stdin), lists every step that replaces or deletes a stateful resource
(a Kubernetes StatefulSet, PersistentVolumeClaim, PersistentVolume or
Namespace, a Docker Volume) and exits 1 when there is one, unless the run was
explicitly allowed:

- push: the pushed head commit's message contains `[allow-stateful-replace]`;
- workflow_dispatch: the `allow_stateful_replace` input is true.

A volume size change is none of these: it updates each claim's
PersistentVolumeClaimPatch in place. On Kubernetes the engine itself refuses
to replace or delete what the stack protects (`perfstack:kubernetes.protectData`),
so there an intended replace also needs that setting off; this guard is the
second line, and the only one for Docker volumes.

The event comes from GitHub's own `GITHUB_EVENT_NAME` / `GITHUB_EVENT_PATH`
(overridable by flags), so no untrusted text (a commit message) is ever
interpolated into a shell command.

Exit codes: 0 nothing stateful at risk (or allowed), 1 blocked, 2 unreadable input.
"""

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

ALLOW_MARKER = "[allow-stateful-replace]"
DISPATCH_INPUT = "allow_stateful_replace"

# Step ops that destroy the resource the stack had. A replacement shows up as
# `replace` plus `create-replacement` and `delete-replaced` (in either order,
# depending on deleteBeforeReplace); any one of them is enough to flag it.
DESTRUCTIVE_OPS = frozenset({"replace", "create-replacement", "delete-replaced", "delete"})

# Resources whose loss loses data (or, for a StatefulSet, the identity its
# claims are bound to — this covers the redis and prometheus StatefulSets;
# a namespace takes its claims with it).
STATEFUL_TYPES = frozenset(
    {
        "kubernetes:apps/v1:StatefulSet",
        "kubernetes:core/v1:PersistentVolumeClaim",
        "kubernetes:core/v1:PersistentVolume",
        "kubernetes:core/v1:Namespace",
        "docker:index/volume:Volume",
    }
)


@dataclass(frozen=True)
class Offence:
    """A step that would replace or delete a stateful resource."""

    op: str
    type: str
    name: str
    urn: str

    def __str__(self) -> str:
        return f"{self.op:<18} {self.type} {self.name}  ({self.urn})"


def split_urn(urn: str) -> tuple[str, str]:
    """(type, name) from `urn:pulumi:stack::project::[parent$]type::name`."""
    parts = urn.split("::")
    if len(parts) < 4:
        return "", ""
    qualified_type, name = parts[2], "::".join(parts[3:])
    return qualified_type.rsplit("$", 1)[-1], name


def step_type(step: Mapping[str, Any]) -> str:
    """The resource type of a step: newState, then oldState, then the URN."""
    for state in ("newState", "oldState"):
        value = step.get(state)
        if isinstance(value, Mapping) and isinstance(value.get("type"), str):
            return value["type"]
    return split_urn(str(step.get("urn", "")))[0]


def is_stateful(resource_type: str) -> bool:
    """Whether losing a resource of this type loses data."""
    return resource_type in STATEFUL_TYPES


def offences(preview: Mapping[str, Any]) -> list[Offence]:
    """Every step of a `pulumi preview --json` document that replaces or deletes a stateful resource."""
    found: dict[tuple[str, str], Offence] = {}
    steps = preview.get("steps") or []
    if not isinstance(steps, Sequence):
        raise ValueError("'steps' is not a list")
    for step in steps:
        if not isinstance(step, Mapping):
            raise ValueError("a step is not an object")
        op = str(step.get("op", ""))
        resource_type = step_type(step)
        if op not in DESTRUCTIVE_OPS or not is_stateful(resource_type):
            continue
        urn = str(step.get("urn", ""))
        # One line per resource: a replacement's replace/create/delete steps say the same thing.
        found.setdefault(
            (urn, op if op == "delete" else "replace"), Offence(op, resource_type, split_urn(urn)[1], urn)
        )
    return list(found.values())


def allowance(event_name: str, event: Mapping[str, Any]) -> str | None:
    """Why this run may replace stateful resources, or None when it may not."""
    if event_name == "push":
        head_commit = event.get("head_commit")
        message = head_commit.get("message", "") if isinstance(head_commit, Mapping) else ""
        if isinstance(message, str) and ALLOW_MARKER in message:
            return f"the pushed commit's message contains {ALLOW_MARKER}"
    if event_name == "workflow_dispatch":
        inputs = event.get("inputs")
        value = inputs.get(DISPATCH_INPUT) if isinstance(inputs, Mapping) else None
        # The event payload carries boolean inputs as the strings "true"/"false".
        if value is True or (isinstance(value, str) and value.strip().lower() == "true"):
            return f"the workflow was dispatched with {DISPATCH_INPUT}=true"
    return None


def _read_preview(source: str, stdin: TextIO) -> Mapping[str, Any]:
    text = stdin.read() if source == "-" else Path(source).read_text()
    if not text.strip():
        # `pulumi preview --json` always prints an object, even with no steps: empty means it failed.
        raise ValueError("the preview output is empty (did `pulumi preview --json` fail?)")
    document = json.loads(text)
    if not isinstance(document, Mapping):
        raise ValueError("the preview output is not a JSON object")
    return document


def _read_event(path: str | None) -> Mapping[str, Any]:
    if not path:
        return {}
    document = json.loads(Path(path).read_text())
    return document if isinstance(document, Mapping) else {}


def main(argv: Sequence[str] | None = None, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preview", help="file with the output of `pulumi preview --json`, or - for stdin")
    parser.add_argument(
        "--event-name",
        default=os.environ.get("GITHUB_EVENT_NAME", ""),
        help="GitHub event name (default: $GITHUB_EVENT_NAME)",
    )
    parser.add_argument(
        "--event-path",
        default=os.environ.get("GITHUB_EVENT_PATH"),
        help="GitHub event payload JSON (default: $GITHUB_EVENT_PATH)",
    )
    args = parser.parse_args(argv)

    try:
        found = offences(_read_preview(args.preview, stdin))
        event = _read_event(args.event_path)
    except (OSError, ValueError) as error:  # json.JSONDecodeError is a ValueError
        print(f"stateful-guard: cannot read input: {error}", file=stdout)
        return 2

    if not found:
        print("stateful-guard: no stateful resource is replaced or deleted", file=stdout)
        return 0
    print("stateful-guard: this update replaces or deletes stateful resources:", file=stdout)
    for offence in found:
        print(f"  {offence}", file=stdout)
    reason = allowance(args.event_name, event)
    if reason:
        print(f"stateful-guard: allowed because {reason}", file=stdout)
        return 0
    print(
        f"stateful-guard: blocked. If this is intended, merge with {ALLOW_MARKER} in the commit message "
        f"or run the deploy workflow by hand with {DISPATCH_INPUT}=true (on Kubernetes, with "
        f"perfstack:kubernetes.protectData: false too). A volume size change needs neither.",
        file=stdout,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
