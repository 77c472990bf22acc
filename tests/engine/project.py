"""The real Pulumi CLI on a throwaway copy of this project: its own state, home and stack file.

Each :class:`PulumiProject` is a temp directory holding the program (symlinks
to `__main__.py`, `infra/`, `components/`), a copy of `Pulumi.yaml` that finds
the engine kit's provider and runs the tests' own Python, and a copy of
`Pulumi.<stack>.yaml`; state goes to a `file://` backend in the same
directory, secrets are encrypted with a passphrase.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infra.mockrun import ProgramRun
from infra.render import manifests
from tests.conftest import KNOWN_SECRETS

PROJECT_DIR = Path(__file__).resolve().parents[2]
PASSPHRASE = "perfstack-engine-tests"
TIMEOUT_S = 600


class PulumiError(AssertionError):
    """A pulumi command failed; the message carries its output."""


@dataclass(frozen=True)
class Step:
    """One step of `pulumi preview --json`: what would happen to which resource."""

    op: str
    urn: str
    detailed_diff: dict[str, Any]

    @property
    def type(self) -> str:
        return self.urn.split("::")[-2].split("$")[-1]

    @property
    def name(self) -> str:
        return self.urn.split("::")[-1]


@dataclass(frozen=True)
class Preview:
    """The machine-readable form of what a reviewer reads in `pulumi preview --diff`."""

    steps: list[Step]
    change_summary: dict[str, int]
    diagnostics: list[dict[str, Any]]

    def changed(self) -> list[Step]:
        """Every step that is not `same`."""
        return [s for s in self.steps if s.op != "same"]

    def ops(self) -> Counter[str]:
        return Counter(s.op for s in self.steps)


class PulumiProject:
    """A copy of the project that the real `pulumi` runs on, with one stack."""

    def __init__(
        self,
        root: Path,
        engine_bin: Path | None,
        *,
        stack: str,
        kubeconfig: Path | None,
        init: bool = True,
    ) -> None:
        self.root = root
        self.stack = stack
        self.dir = root / "project"
        self.dir.mkdir(parents=True)
        for name in ("__main__.py", "infra", "components"):
            (self.dir / name).symlink_to(PROJECT_DIR / name)
        self.policy_dir = self._policy_pack()
        self._write_project_file(engine_bin)
        shutil.copy(PROJECT_DIR / f"Pulumi.{stack}.yaml", self.dir / f"Pulumi.{stack}.yaml")
        python_dir = str(Path(sys.executable).parent)
        self.env = {
            **os.environ,
            "PATH": os.pathsep.join(
                [*([str(engine_bin)] if engine_bin else []), python_dir, os.environ["PATH"]]
            ),
            "PULUMI_HOME": str(root / "pulumi-home"),
            "PULUMI_BACKEND_URL": f"file://{root / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_PYTHON_CMD": sys.executable,
        }
        if engine_bin is not None:
            # Every plugin comes from the engine kit: nothing may be downloaded.
            self.env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
        if kubeconfig is not None:
            self.env["KUBECONFIG"] = str(kubeconfig)
        (root / "state").mkdir()
        if init:
            self.run("stack", "init", stack, "--secrets-provider", "passphrase")

    def _write_project_file(self, engine_bin: Path | None) -> None:
        project = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())
        # The tests' interpreter already has requirements.txt installed: no venv to create.
        project["runtime"] = {"name": "python", "options": {"toolchain": "pip"}}
        if engine_bin is not None:
            # The kit's provider, named so the CLI does not warn that it took one from PATH.
            project["plugins"] = {"providers": [{"name": "kubernetes", "path": str(engine_bin)}]}
        (self.dir / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))

    def _policy_pack(self) -> Path:
        pack = self.root / "policy"
        shutil.copytree(PROJECT_DIR / "policy", pack, ignore=shutil.ignore_patterns("venv", "__pycache__"))
        manifest = yaml.safe_load((pack / "PulumiPolicy.yaml").read_text())
        manifest["runtime"] = {"name": "python", "options": {"toolchain": "pip"}}
        (pack / "PulumiPolicy.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
        return pack

    @property
    def stack_file(self) -> Path:
        return self.dir / f"Pulumi.{self.stack}.yaml"

    def run(
        self, *args: str, check: bool = True, timeout: float = TIMEOUT_S
    ) -> subprocess.CompletedProcess[str]:
        """`pulumi ARGS` in the project directory; a failure (when ``check``) shows everything it printed."""
        result = subprocess.run(
            ["pulumi", *args, "--non-interactive"],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise PulumiError(describe(result))
        return result

    def set_secrets(self, secrets: dict[str, str] = KNOWN_SECRETS) -> None:
        for key, value in secrets.items():
            self.run("config", "set", "--secret", f"perfstack:{key}", value, "--stack", self.stack)

    def set_path(self, key: str, value: str) -> None:
        """`pulumi config set --path perfstack:KEY VALUE`: the runbook's one-line change."""
        self.run("config", "set", "--path", f"perfstack:{key}", value, "--stack", self.stack)

    def preview(self, *extra: str, policy: bool = True) -> Preview:
        """`pulumi preview --diff --json` (with the policy pack unless told otherwise)."""
        args = ["preview", "--diff", "--json", "--stack", self.stack, *extra]
        if policy:
            args += ["--policy-pack", str(self.policy_dir)]
        result = self.run(*args)
        return parse_preview(result.stdout)

    def up(self, *extra: str) -> Preview:
        """`pulumi up --yes --skip-preview --json` (with the policy pack): what it did."""
        result = self.run(
            "up", "--yes", "--skip-preview", "--json", "--stack", self.stack,
            "--policy-pack", str(self.policy_dir), *extra,
        )  # fmt: skip
        return parse_events(result.stdout)

    def refresh_preview(self) -> Preview:
        """`pulumi refresh --preview-only --json`: what differs between the state and the cluster."""
        return parse_preview(self.run("refresh", "--preview-only", "--json", "--stack", self.stack).stdout)


def parse_preview(stdout: str) -> Preview:
    document = json.loads(stdout)
    return Preview(
        steps=[
            Step(op=s["op"], urn=s["urn"], detailed_diff=s.get("detailedDiff") or {})
            for s in document.get("steps", [])
        ],
        change_summary=document.get("changeSummary", {}),
        diagnostics=document.get("diagnostics", []),
    )


def parse_events(stdout: str) -> Preview:
    """The engine events that `pulumi up --json` streams, one JSON object per line, as a Preview."""
    steps, diagnostics, summary = [], [], {}
    for line in stdout.splitlines():
        event = json.loads(line)
        if "resOutputsEvent" in event:
            metadata = event["resOutputsEvent"]["metadata"]
            steps.append(
                Step(op=metadata["op"], urn=metadata["urn"], detailed_diff=metadata.get("detailedDiff") or {})
            )
        elif "diagnosticEvent" in event:
            diagnostics.append(event["diagnosticEvent"])
        elif "summaryEvent" in event:
            summary = event["summaryEvent"]["resourceChanges"]
    return Preview(steps=steps, change_summary=summary, diagnostics=diagnostics)


def describe(result: subprocess.CompletedProcess[str]) -> str:
    return (
        f"$ {' '.join(result.args)}\nexit {result.returncode}\n"
        f"--- stdout\n{result.stdout[-8000:]}\n--- stderr\n{result.stderr[-8000:]}"
    )


def render_changes(tmp_path: Path, stack: str, *overrides: str) -> set[tuple[str, str]]:
    """(type, name) of the resources whose inputs `python -m infra render` shows changing under ``--set``."""

    def render(out: Path, *sets: str) -> dict[tuple[str, str], Any]:
        args = [arg for value in sets for arg in ("--set", value)]
        subprocess.run(
            [sys.executable, "-m", "infra", "render", stack, "--out", str(out), *args],
            cwd=PROJECT_DIR,
            check=True,
            capture_output=True,
            timeout=TIMEOUT_S,
        )
        resources = json.loads((out / "resources.json").read_text())
        return {
            (r["type"], r["name"]): r["inputs"] for r in resources if not r["type"].startswith("perfstack:")
        }

    before, after = render(tmp_path / "before"), render(tmp_path / "after", *overrides)
    return {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}


def mock_objects(run: ProgramRun) -> set[tuple[str, str]]:
    """(kind, name) of every Kubernetes object of a mock render.

    Auto-named ConfigMaps and Secrets by their base name: their random suffix
    differs between the mock, a preview and an update.
    """
    objects = set()
    for manifest in manifests(run).values():
        name = manifest["metadata"]["name"]
        if manifest["kind"] in ("ConfigMap", "Secret"):
            name = re.sub(r"-[0-9a-f]{8}$", "", name)
        objects.add((manifest["kind"], name))
    return objects


EXPLAINED_WARNINGS: dict[str, str] = {
    r"^\[MinimumReplicasUnavailable\] Deployment does not have minimum availability": (
        "the provider's await relays the Deployment's Available=False condition while its new pods "
        "start; the update only succeeds once the Deployment is available, which the tests check"
    ),
}
"""Engine warnings the tests have understood and accept, pattern → why it is harmless."""


def unexplained_warnings(diagnostics: list[dict[str, Any]]) -> list[str]:
    """Warning and error diagnostics that no entry of EXPLAINED_WARNINGS accounts for."""
    messages = [d.get("message", "") for d in diagnostics if d.get("severity") in ("warning", "error")]
    return [m for m in messages if not any(re.search(p, m) for p in EXPLAINED_WARNINGS)]
