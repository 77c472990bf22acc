"""When the current step began: the commit that set the canary's current weight (and version).

Git is the deployment history perfstack trusts: CI applies `main` on merge, so
the commit that set a weight is when that weight was asked for. The step's
soak counts from that commit's committer time; a deploy that takes longer
shortens the soak by as much, which `--step-started` (e.g. from
`pulumi stack history`) corrects when it matters. A new canary version at
the same weight starts the step afresh.
"""

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from rollout.judge import StepHistory

PROJECT = "perfstack"


class HistoryError(Exception):
    """The history cannot say when the step began; the message says why and what to do."""


@dataclass(frozen=True)
class CanaryState:
    """What a step is: the canary's weight and version (None: no canary)."""

    weight: int | None
    version: str | None


def canary_state(document: Any, service: str) -> CanaryState:
    """The canary of `service` in a parsed stack file."""
    config = document.get("config") if isinstance(document, dict) else None
    services = (config or {}).get(f"{PROJECT}:services") or {}
    canary = (services.get(service) or {}).get("canary") if isinstance(services, dict) else None
    if not isinstance(canary, dict):
        return CanaryState(None, None)
    version = canary.get("version")
    return CanaryState(canary.get("weight"), None if version is None else str(version))


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


def step_history(project_dir: Path, stack: str, service: str) -> StepHistory:
    """When the canary of `service` got its current weight and version, from the stack file's commits.

    The working tree must hold what is committed: an uncommitted weight has no
    time yet (HistoryError).
    """
    name = f"Pulumi.{stack}.yaml"
    current = canary_state(yaml.safe_load((project_dir / name).read_text()), service)
    log = _git(project_dir, "log", "--format=%H %ct", "--", name).split()
    commits = list(zip(log[::2], log[1::2], strict=True))
    if not commits:
        raise HistoryError(f"{name} has no commits: commit it, or pass --step-started")
    started: str | None = None
    for sha, timestamp in commits:
        state = canary_state(yaml.safe_load(_git(project_dir, "show", f"{sha}:{name}")), service)
        if started is None and state != current:
            raise HistoryError(
                f"services.{service}.canary in {name} differs from its last commit: commit the change, "
                "or pass --step-started"
            )
        if state != current:
            previous = state.weight if state.version == current.version else None
            return StepHistory(datetime.fromtimestamp(int(started), UTC), previous)
        started = timestamp
    assert started is not None
    return StepHistory(datetime.fromtimestamp(int(started), UTC), None)
