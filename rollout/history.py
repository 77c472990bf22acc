"""When the current step began: the commit that set the rollout's current value (and canary version).

Git is the deployment history perfstack trusts: CI applies `main` on merge, so
the commit that set a weight is when that weight was asked for. The step's
soak counts from that commit's committer time; a deploy that takes longer
shortens the soak by as much, which `--step-started` (e.g. from
`pulumi stack history`) corrects when it matters. A new canary version or
weight starts the step afresh (for a flag rollout too: the flag's canary
users changed).
"""

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from infra.loader import PROJECT
from rollout.judge import StepHistory


class HistoryError(Exception):
    """The history cannot say when the step began; the message says why and what to do."""


@dataclass(frozen=True)
class StepState:
    """What a step is: the canary's version and weight, and the value the rollout walks."""

    version: str | None
    weight: Any
    value: Any


def _get(node: Any, path: Sequence[str]) -> Any:
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    return node


def step_state(document: Any, service: str, path: Sequence[str]) -> StepState:
    """The step of `service` in a parsed stack file; `path` is the walked value's key under the service."""
    entry = _get(document, ("config", f"{PROJECT}:services", service))
    version = _get(entry, ("canary", "version"))
    return StepState(
        None if version is None else str(version), _get(entry, ("canary", "weight")), _get(entry, path)
    )


def _git(project_dir: Path, *args: str) -> str:
    try:
        result = subprocess.run(
            ["git", *args], cwd=project_dir, capture_output=True, text=True, timeout=60, check=False
        )
    except OSError as error:
        raise HistoryError(f"git cannot run ({error}): pass --step-started") from None
    if result.returncode != 0:
        raise HistoryError(f"git {' '.join(args)} failed: {result.stderr.strip()}: pass --step-started")
    return result.stdout


def step_history(
    project_dir: Path, stack: str, service: str, path: Sequence[str] = ("canary", "weight")
) -> StepHistory:
    """When `service`'s current step began, from the stack file's commits; `path` is the walked value's key.

    The working tree must hold what is committed: an uncommitted step has no
    time yet (HistoryError).
    """
    name = f"Pulumi.{stack}.yaml"
    current = step_state(yaml.safe_load((project_dir / name).read_text()), service, path)
    log = _git(project_dir, "log", "--format=%H %ct", "--", name).split()
    commits = list(zip(log[::2], log[1::2], strict=True))
    if not commits:
        raise HistoryError(f"{name} has no commits: commit it, or pass --step-started")
    started: str | None = None
    for sha, timestamp in commits:
        state = step_state(yaml.safe_load(_git(project_dir, "show", f"{sha}:./{name}")), service, path)
        if started is None and state != current:
            raise HistoryError(
                f"services.{service}'s canary in {name} differs from its last commit: commit the change, "
                "or pass --step-started"
            )
        if state != current:
            same_build = state.version == current.version
            previous = state.value if same_build and isinstance(state.value, int) else None
            return StepHistory(datetime.fromtimestamp(int(started), UTC), previous)
        started = timestamp
    assert started is not None
    return StepHistory(datetime.fromtimestamp(int(started), UTC), None)
