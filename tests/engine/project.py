"""The real Pulumi engine on a throwaway copy of this project: its own state, stack file and plugins.

Each :class:`PulumiProject` is a temp directory holding copies of the real
`Pulumi.yaml` and `Pulumi.<stack>.yaml`; state goes to a `file://` backend in
the same directory, secrets are encrypted with a passphrase. Operations that
run the program (preview, up, refresh, destroy, setting secrets) go through
the Automation API's inline mode in a process of their own
(`tests/engine/inline.py`); CLI-only commands (`config set --path`, `stack
export`) run the CLI directly, as the runbook and the rollback script do.
Both use the CLI and the Kubernetes provider that tools/build.py builds.
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

from infra.mockrun import ProgramRun
from infra.render import manifests
from tests.conftest import KNOWN_SECRETS
from tests.engine.engine import Engine

PROJECT_DIR = Path(__file__).resolve().parents[2]
POLICY_PACK = PROJECT_DIR / "policy" / "run-policy-pack"
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
    policy_violations: list[dict[str, str]]

    def changed(self) -> list[Step]:
        """Every step that is not `same`."""
        return [s for s in self.steps if s.op != "same"]

    def ops(self) -> Counter[str]:
        return Counter(s.op for s in self.steps)


class PulumiProject:
    """A copy of the project that the real engine runs on, with one stack."""

    def __init__(
        self,
        root: Path,
        engine: Engine,
        *,
        stack: str,
        kubeconfig: Path | None,
        init: bool = True,
        stack_file_of: str | None = None,
    ) -> None:
        """``stack_file_of``: whose committed stack file the stack gets (default: its own)."""
        self.root = root
        self.stack = stack
        self.dir = root / "project"
        self.dir.mkdir(parents=True)
        shutil.copy(PROJECT_DIR / "Pulumi.yaml", self.dir / "Pulumi.yaml")
        shutil.copy(PROJECT_DIR / f"Pulumi.{stack_file_of or stack}.yaml", self.stack_file)
        self.env = {
            **os.environ,
            "PATH": os.pathsep.join([str(engine.cli_dir), os.environ["PATH"]]),
            "PULUMI_HOME": str(engine.pulumi_home),
            "PULUMI_BACKEND_URL": f"file://{root / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            # Every plugin is the one installed in the plugin home: nothing may be
            # downloaded, nor taken from PATH (where tests/conftest.py puts the built tools).
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
            # The inline program and the policy pack run in the tests' interpreter.
            "PYTHONPATH": str(PROJECT_DIR),
            "POLICY_PYTHON": sys.executable,
            # The policy pack's level follows the stack (policy/README.md); the CLI passes
            # its environment to the pack but no longer names the stack there itself.
            "PULUMI_STACK": stack,
        }
        if kubeconfig is not None:
            self.env["KUBECONFIG"] = str(kubeconfig)
        (root / "state").mkdir()
        if init:
            self.run("stack", "init", stack, "--secrets-provider", "passphrase")

    @property
    def stack_file(self) -> Path:
        return self.dir / f"Pulumi.{self.stack}.yaml"

    def run(
        self, *args: str, check: bool = True, timeout: float = TIMEOUT_S
    ) -> subprocess.CompletedProcess[str]:
        """`pulumi ARGS` (CLI-only commands) in the project directory; a failure shows what it printed."""
        return self._checked(["pulumi", *args, "--non-interactive"], check=check, timeout=timeout)

    def operate(
        self, operation: str, *, policy: bool = False, stdin: str | None = None, check: bool = True
    ) -> tuple[subprocess.CompletedProcess[str], Preview | None]:
        """One inline operation (tests/engine/inline.py): what the CLI printed, what the engine reported."""
        out = self.root / f"{operation}.json"
        out.unlink(missing_ok=True)
        command = [
            sys.executable, "-m", "tests.engine.inline", operation,
            "--work-dir", str(self.dir), "--stack", self.stack, "--out", str(out),
        ]  # fmt: skip
        if policy:
            command += ["--policy-pack", str(POLICY_PACK)]
        result = self._checked(command, check=check, timeout=TIMEOUT_S, stdin=stdin)
        return result, (parse_preview(out.read_text()) if out.exists() else None)

    def _checked(
        self, command: list[str], *, check: bool, timeout: float, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        # cwd is the project directory, as for a program the CLI starts itself.
        result = subprocess.run(
            command,
            cwd=self.dir,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise PulumiError(describe(result))
        return result

    def set_secrets(self, secrets: dict[str, str] = KNOWN_SECRETS) -> None:
        """Each secret as encrypted stack config, through the Automation API."""
        self.operate("secrets", stdin=json.dumps(secrets))

    def set_path(self, key: str, value: str) -> None:
        """`pulumi config set --path perfstack:KEY VALUE`: the runbook's one-line change."""
        self.run("config", "set", "--path", f"perfstack:{key}", value, "--stack", self.stack)

    def _reported(self, operation: str, *, policy: bool = False) -> Preview:
        _, reported = self.operate(operation, policy=policy)
        assert reported is not None
        return reported

    def preview(self, *, policy: bool = True) -> Preview:
        """`pulumi preview --diff` (with the policy pack unless told otherwise): what it would do."""
        return self._reported("preview", policy=policy)

    def up(self) -> Preview:
        """`pulumi up --yes --skip-preview` with the policy pack: what it did."""
        return self._reported("up", policy=True)

    def refresh_preview(self) -> Preview:
        """`pulumi refresh --preview-only`: what differs between the state and the cluster."""
        return self._reported("refresh")

    def destroy(self) -> Preview:
        """`pulumi destroy --yes`: what it deleted."""
        return self._reported("destroy")

    def declared_types(self) -> list[str]:
        """The type of every resource in the stack's state (`pulumi stack export`)."""
        exported = json.loads(self.run("stack", "export", "--stack", self.stack).stdout)
        return [r["type"] for r in exported["deployment"].get("resources") or []]


def parse_preview(text: str) -> Preview:
    """A result file of tests/engine/inline.py."""
    document = json.loads(text)
    return Preview(
        steps=[
            Step(op=s["op"], urn=s["urn"], detailed_diff=s.get("detailedDiff") or {})
            for s in document.get("steps", [])
        ],
        change_summary=document.get("changeSummary", {}),
        diagnostics=document.get("diagnostics", []),
        policy_violations=document.get("policyViolations", []),
    )


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


class StackFileProject(PulumiProject):
    """A copy of the project whose stack file has the text a test gives, on a file backend."""

    def __init__(self, root: Path, engine: Engine, stack: str, text: str, *, init: bool = True) -> None:
        super().__init__(root, engine, stack=stack, kubeconfig=None, init=init)
        # Written after `stack init`, which adds an `encryptionsalt:` line the committed files do not have.
        self.stack_file.write_text(text)

    def pulumi(self, *args: str) -> None:
        """`pulumi ARGS` in the project; a failure shows what it printed."""
        self.run(*args)
