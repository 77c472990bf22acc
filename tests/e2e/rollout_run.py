"""The rollout judge (`python -m rollout apply`) driving the e2e run's router, as CI would drive a stack.

- RolloutProject: a copy of `Pulumi.yaml` and the e2e stack's `Pulumi.<stack>.yaml` in a git
  repository (committed as a test identity) with a `file://` backend and the stack initialised, so
  that `apply` can run `pulumi config set` (the CLI tools/build.py builds) and read the step's start
  from the history, as it does on the real repository.
- Router: the e2e run's nginx, its config rendered again from the project's stack file through the
  same path the run's was (the mocked program run with the run's overrides and secrets,
  `config_files`, `loopback_nginx_conf`), validated with `nginx -t` and reloaded (SIGHUP to the
  master). A reload is *in effect* once every worker of the old config has exited: from then on no
  process routes with the old split, and the requests the old workers had in flight are done.

Shared by tests/e2e/test_rollout.py and bench/rollout.py.
"""

import difflib
import http.client
import json
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from components.traffic.nginx_conf import TRACK_HEADER, USER_ID_HEADER
from infra.mockrun import stack_file_config
from infra.render import config_files
from tests.conftest import run_stack
from tests.engine.engine import Engine
from tests.engine.project import PulumiProject, describe
from tests.servers.harness import LOOPBACK, child_pids, http_get

from .stack import AppInstance, E2eStack, app_upstreams, installed, loopback_nginx_conf

REPO = Path(__file__).resolve().parents[2]
SERVICE = "api"
APPLY_TIMEOUT_S = 120
RELOAD_TIMEOUT_S = 30.0
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "perfstack e2e",
    "GIT_AUTHOR_EMAIL": "e2e@perfstack.invalid",
    "GIT_COMMITTER_NAME": "perfstack e2e",
    "GIT_COMMITTER_EMAIL": "e2e@perfstack.invalid",
}


def leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    """Every scalar of a config subtree by its `--path` key (`a.b[0].c`)."""
    if isinstance(node, dict):
        found: dict[str, Any] = {}
        for key, value in node.items():
            found |= leaves(value, f"{prefix}.{key}" if prefix else str(key))
        return found
    if isinstance(node, list):
        found = {}
        for index, value in enumerate(node):
            found |= leaves(value, f"{prefix}[{index}]")
        return found
    return {prefix: node}


def _moment(text: str | None) -> float | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class Verdict:
    """The service's object of one `apply --json` answer, and when the command ran."""

    data: dict[str, Any]
    started: float
    """time.time() when the command started."""
    seconds: float
    """How long the command took (decision, and the `pulumi config set` when it changed a weight)."""

    @property
    def action(self) -> str:
        return str(self.data["action"])

    @property
    def weight(self) -> int:
        return int(self.data["weight"])

    @property
    def next_weight(self) -> int:
        return int(self.data["next_weight"])

    @property
    def at(self) -> float:
        """The moment judged (unix seconds)."""
        moment = _moment(self.data["at"])
        assert moment is not None
        return moment

    @property
    def step_started(self) -> float | None:
        return _moment(self.data.get("step_started"))

    @property
    def eligible_at(self) -> float | None:
        return _moment(self.data.get("eligible_at"))

    @property
    def applied(self) -> bool:
        return bool(self.data.get("applied"))

    @property
    def commit_message(self) -> str:
        return str(self.data["commit_message"])

    def check(self, name: str, tier: str = "critical") -> dict[str, Any] | None:
        return next((c for c in self.data["checks"] if c["name"] == name and c["tier"] == tier), None)

    def failed(self) -> list[str]:
        """`tier name` of every failing check."""
        return [f"{c['tier']} {c['name']}" for c in self.data["checks"] if c["status"] == "fail"]

    def evidence(self) -> str:
        """The numbers a reader checks first: canary requests, P95 against stable, the comparison."""

        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value:.0f}ms"

        parts = []
        p95 = self.check("p95_latency_ms")
        delivered = self.check("traffic_delivered")
        if p95 is not None:
            parts.append(f"canary n={p95['sample']:.0f} P95 {ms(p95['observed'])} [{p95['status']}]")
        compare = self.check("compare_latency")
        if compare is not None and compare["status"] not in ("not_applicable", "inconclusive"):
            p = compare["p_value"]
            parts.append(
                f"stable P95 {ms(compare['baseline'])}, MW p={'-' if p is None else f'{p:.2g}'} "
                f"[{compare['status']}]"
            )
        elif compare is not None:
            parts.append(f"compare {compare['status']}")
        if delivered is not None and delivered["observed"] is not None:
            parts.append(f"delivered {delivered['observed']:.2f} of expected [{delivered['status']}]")
        failed = self.failed()
        if failed:
            parts.append("FAILED " + ", ".join(failed))
        return "; ".join(parts)


class RolloutProject(PulumiProject):
    """The project copy `apply` edits: the e2e stack's file, committed, on a file backend."""

    def __init__(self, root: Path, engine: Engine, stack: str, settings: Mapping[str, Any]) -> None:
        """``settings``: `--path` keys under `perfstack:` and their values, set and committed first."""
        super().__init__(root, engine, stack=stack, kubeconfig=None)
        self.env |= GIT_IDENTITY
        # `set-all --path` reads integers and booleans, the rest as strings; a float needs `--type`.
        floats = {key: value for key, value in settings.items() if isinstance(value, float)}
        pairs = [
            arg
            for key, value in settings.items()
            if key not in floats
            for arg in (
                "--plaintext",
                f"perfstack:{key}={json.dumps(value) if isinstance(value, bool) else value}",
            )
        ]
        self.run("config", "set-all", "--path", *pairs, "--stack", stack)
        for key, value in floats.items():
            self.run(
                "config",
                "set",
                "--path",
                f"perfstack:{key}",
                repr(value),
                "--type",
                "float",
                "--stack",
                stack,
            )
        # One first commit, settings and weight together: the canary is new to the history. (The
        # stack's own weight committed first would make a first step below it a step back to the judge.)
        self.git("init", "-q", "-b", "main")
        self.git("add", "Pulumi.yaml")
        self.commits: dict[str, float] = {}
        """Commit sha -> committer time, for every commit made through `commit`."""
        self.commit(f"Pulumi.{stack}.yaml of the e2e run, with rollout settings")

    def git(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            ["git", *args],
            cwd=self.dir,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, describe(result)
        return result.stdout

    def commit(self, message: str) -> tuple[str, float]:
        """Commit the stack file with `message`: (sha, committer time in unix seconds)."""
        self.git("add", self.stack_file.name)
        self.git("commit", "-q", "-F", "-", stdin=message)
        sha, when = self.git("log", "-1", "--format=%H %ct").split()
        self.commits[sha] = float(when)
        return sha, float(when)

    def changed_lines(self) -> list[str]:
        """The removed ('- ') and added ('+ ') lines of the stack file against HEAD."""
        before = self.git("show", f"HEAD:{self.stack_file.name}").splitlines()
        after = self.stack_file.read_text().splitlines()
        return [line for line in difflib.ndiff(before, after) if line.startswith(("- ", "+ "))]

    def apply(self, prometheus_url: str) -> Verdict:
        """`python -m rollout apply STACK --project-dir DIR --prometheus URL --json`, from the repo root."""
        command = [
            sys.executable, "-m", "rollout", "apply", self.stack,
            "--project-dir", str(self.dir), "--prometheus", prometheus_url, "--json",
        ]  # fmt: skip
        started, clock = time.time(), time.monotonic()
        result = subprocess.run(
            command,
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=APPLY_TIMEOUT_S,
            check=False,
        )
        seconds = time.monotonic() - clock
        assert result.returncode == 0, describe(result)
        (data,) = [d for d in json.loads(result.stdout) if d["service"] == SERVICE]
        return Verdict(data, started, seconds)


@dataclass(frozen=True)
class Reload:
    """One reload of the router with a config rendered from a stack file."""

    weight: int
    """The canary weight the stack file gave."""
    started: float
    """time.time() when rendering began."""
    signalled: float
    """time.time() when the master got SIGHUP."""
    in_effect: float
    """time.time() when the last worker of the old config had exited."""
    log_offset: int
    """Size of nginx's log (its access log is stdout) at `in_effect`: later lines are the new config's."""


@dataclass
class Router:
    """The e2e run's nginx: rendered again from a stack file, checked and reloaded."""

    stack: E2eStack
    stack_name: str
    overrides: dict[str, Any]
    secrets: dict[str, str]
    original: str = field(init=False)
    """The config the run started nginx with."""

    def __post_init__(self) -> None:
        self.original = self.conf_path.read_text()

    @property
    def prefix(self) -> Path:
        return self.stack.directory / "nginx"

    @property
    def conf_path(self) -> Path:
        return self.prefix / "nginx.conf"

    def render(self, stack_file: Path) -> str:
        """nginx.conf of the run rendered from `stack_file` instead of the stack's own file."""
        config = stack_file_config(self.stack_name, stack_file)
        run = run_stack(self.stack_name, config=config, overrides=self.overrides, secrets=self.secrets)
        generated = config_files(run)["router/nginx.conf"]
        listen = self.stack.router_url.removeprefix("http://")
        return loopback_nginx_conf(generated, app_upstreams(run, self.stack.apps), listen, self.prefix)

    def deploy(self, stack_file: Path) -> Reload:
        """Render from `stack_file` and reload; returns once the new config is in effect."""
        started = time.time()
        weight = int(stack_file_config(self.stack_name, stack_file)["services"][SERVICE]["canary"]["weight"])
        signalled, in_effect = self.load(self.render(stack_file))
        return Reload(weight, started, signalled, in_effect, self.stack.nginx.log.stat().st_size)

    def restore(self) -> None:
        """Back to the config the run started with."""
        self.load(self.original)

    def load(self, text: str) -> tuple[float, float]:
        """Write, `nginx -t`, SIGHUP; (signalled, in effect) as time.time() once the old workers exited."""
        self.conf_path.write_text(text)
        checked = subprocess.run(
            [installed("nginx", "/usr/sbin/nginx"), "-t", "-q", "-c", str(self.conf_path),
             "-p", str(self.prefix), "-e", "stderr"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )  # fmt: skip
        assert checked.returncode == 0, f"nginx -t refused the rendered config:\n{checked.stderr}"
        master = self.stack.nginx.process
        old = self.workers()
        assert old, "nginx has no workers"
        master.send_signal(signal.SIGHUP)
        signalled = time.time()
        deadline = time.monotonic() + RELOAD_TIMEOUT_S
        while True:
            current = self.workers()
            if current and not current & old:
                return signalled, time.time()
            assert master.poll() is None, self.stack.nginx.describe()
            assert time.monotonic() < deadline, (
                f"old nginx workers {sorted(current & old)} still run {RELOAD_TIMEOUT_S}s after SIGHUP\n"
                + self.stack.nginx.log_tail()
            )
            time.sleep(0.02)

    def workers(self) -> set[int]:
        """The master's children (its workers), from /proc."""
        return child_pids(self.stack.nginx.process.pid)

    def access_lines(self, since_offset: int) -> list[str]:
        """Access log lines (`track=... upstream=...`) nginx wrote after `since_offset`."""
        with self.stack.nginx.log.open("rb") as log:
            log.seek(since_offset)
            text = log.read().decode(errors="replace")
        return [line for line in text.splitlines() if " track=" in line and " upstream=" in line]

    def probe(self, count: int, path: str = "/health", workers: int = 8) -> dict[str, int]:
        """`count` requests with distinct user ids through the router: how many each track answered."""
        host, port = self.stack.router_url.removeprefix("http://").rsplit(":", 1)
        assert host == LOOPBACK
        stamp = time.monotonic_ns()

        def run(indexes: range) -> list[str]:
            tracks = []
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            try:
                for index in indexes:
                    conn.request("GET", path, headers={USER_ID_HEADER: f"probe-{stamp}-{index}"})
                    response = conn.getresponse()
                    response.read()
                    assert response.status == 200, (path, response.status)
                    tracks.append(response.getheader(TRACK_HEADER) or "?")
            finally:
                conn.close()
            return tracks

        with ThreadPoolExecutor(workers) as pool:
            futures = [pool.submit(run, range(i, count, workers)) for i in range(workers)]
            answers = [track for future in futures for track in future.result()]
        return {track: answers.count(track) for track in sorted(set(answers))}


def served(app: AppInstance) -> int:
    """Requests the instance has answered so far (its `http_requests_total`: probes and scrapes excluded)."""
    status, body = http_get(f"{app.url}/metrics")
    assert status == 200
    return round(
        sum(
            sample.value
            for family in text_string_to_metric_families(body.decode())
            if family.name == "http_requests"
            for sample in family.samples
            if sample.name == "http_requests_total"
        )
    )


def sleep_until(moment: float) -> None:
    """Sleep until time.time() reaches `moment` (no-op if it has)."""
    delay = moment - time.time()
    if delay > 0:
        time.sleep(delay)
