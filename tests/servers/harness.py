"""Starting a real server from a stack's generated files, on loopback, bounded in time.

Every server here runs as a child process on 127.0.0.1 with ports that were
free a moment before, inside the test's temporary directory, and writes its
log to a file there. Waiting is always polling against a deadline; a server
that exits or does not get ready fails the test with the tail of its log.
Teardown terminates the process and kills it if it does not stop in time.
"""

import json
import os
import posixpath
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import yaml

from infra.mockrun import MockedResource, ProgramRun

LOOPBACK = "127.0.0.1"
START_TIMEOUT_S = 30.0
"""Longest wait for a server to get ready (each is ready in 0.3 to 10 s here)."""
STOP_TIMEOUT_S = 10.0
"""How long a terminated server may take to exit before it is killed."""
LOG_TAIL_LINES = 40

T = TypeVar("T")


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that were free a moment ago (all held open together)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind((LOOPBACK, 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Server:
    """One server process; its output goes to ``<directory>/<name>.log``."""

    def __init__(
        self, name: str, argv: Sequence[str], directory: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = directory / f"{name}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=directory,
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines the server logged, for failure messages."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- last {lines} lines of {self.log}\n" + "\n".join(text.splitlines()[-lines:])

    def describe(self) -> str:
        """Command line, state and log tail: what a failing assertion should show."""
        state = "running" if self.process.poll() is None else f"exited with {self.process.returncode}"
        return f"$ {' '.join(self.argv)}\n{self.name} is {state}\n{self.log_tail()}"

    def wait_until(self, check: Callable[[], T | None], what: str, timeout: float = START_TIMEOUT_S) -> T:
        """The first truthy value of ``check()``; HTTP and socket errors count as "not yet".

        Fails at once if the server exits, and after ``timeout`` seconds otherwise.
        """
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited while waiting for {what}\n{self.describe()}")
            try:
                value = check()
                if value:
                    return value
            except (OSError, ValueError) as error:  # URLError is an OSError; bad JSON a ValueError
                last_error = error
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"timed out after {timeout} s waiting for {what} (last error: {last_error})\n"
                    f"{self.describe()}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        """Terminate, then kill if it does not exit within STOP_TIMEOUT_S."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)


@contextmanager
def running(
    name: str, argv: Sequence[str], directory: Path, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """A started server (``env`` added to ours) that is stopped however the block ends."""
    server = Server(name, argv, directory, env)
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """``handler`` serving on a free loopback port from a thread; yields its host:port."""
    server = ThreadingHTTPServer((LOOPBACK, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{LOOPBACK}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=STOP_TIMEOUT_S)


@contextmanager
def recording_endpoint() -> Iterator[tuple[str, list[tuple[str, Any]]]]:
    """A loopback HTTP server answering 200 to every POST: its host:port and the (path, JSON) it got.

    Stands in for a receiver that exists only in the deployment (e.g. Alertmanager's alerts API).
    """
    received: list[tuple[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.append((self.path, json.loads(body or b"null")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures
            pass

    with http_server(Handler) as address:
        yield address, received


def child_pids(parent: int) -> set[int]:
    """The processes whose parent is `parent` (an nginx master's workers), from /proc."""
    children = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited while we looked
            continue
        # The ppid is the 2nd field after the ")" that closes the command name.
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            children.add(int(entry.name))
    return children


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    """Status and body of a GET; an HTTP error status is returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def get_json(url: str, timeout: float = 5) -> Any:
    """The JSON body of a GET that must answer 200."""
    status, body = http_get(url, timeout)
    if status != 200:
        raise ValueError(f"GET {url}: HTTP {status}: {body[:500]!r}")
    return json.loads(body)


def answers_200(url: str) -> Callable[[], bool]:
    """A readiness check for :meth:`Server.wait_until`: ``url`` answers HTTP 200."""
    return lambda: http_get(url, timeout=2)[0] == 200


def replace_flags(args: Sequence[str], values: dict[str, str]) -> list[str]:
    """The generated command line with the value of each named ``--flag=`` replaced.

    Every flag named must occur exactly once: a generated command line that
    lost or doubled one is a finding, not something to paper over.
    """
    result = list(args)
    for flag, value in values.items():
        positions = [i for i, arg in enumerate(result) if arg.startswith(f"{flag}=")]
        assert len(positions) == 1, f"{flag}= occurs {len(positions)} times in the generated args {args}"
        result[positions[0]] = f"{flag}={value}"
    return result


def _workload_resource(run: ProgramRun, name: str) -> MockedResource:
    kinds = (
        "docker:index/container:Container",
        "kubernetes:apps/v1:StatefulSet",
        "kubernetes:apps/v1:Deployment",
    )
    (found,) = [r for r in run.resources if r.type in kinds and r.name == name]
    return found


def workload_args(run: ProgramRun, name: str) -> list[str]:
    """The command-line arguments the stack gives the workload ``name`` (Docker or Kubernetes)."""
    resource = _workload_resource(run, name)
    if resource.type.startswith("docker:"):
        return list(resource.inputs.get("command") or [])
    (container,) = [c for c in resource.inputs["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    return list(container.get("args") or [])


def workload_replicas(run: ProgramRun, name: str) -> int:
    """How many instances of the workload ``name`` the stack runs (a Docker container is one)."""
    resource = _workload_resource(run, name)
    if resource.type.startswith("docker:"):
        return 1
    return int(resource.inputs["spec"].get("replicas", 1))


def _rewrite_listeners(node: Any, ports: dict[int, int]) -> None:
    """Point every `endpoint: host:port` at loopback, allocating a free port per generated port."""
    if isinstance(node, list):
        for item in node:
            _rewrite_listeners(item, ports)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "endpoint" and isinstance(value, str):
                generated = int(value.rsplit(":", 1)[1])
                ports.setdefault(generated, free_ports(1)[0])
                node[key] = f"{LOOPBACK}:{ports[generated]}"
            else:
                _rewrite_listeners(value, ports)


def loopback_jaeger_config(
    generated: str, files: Mapping[str, str], directory: Path
) -> tuple[dict[str, Any], dict[int, int]]:
    """Jaeger's generated config with every listener on loopback (a free port per generated port),
    badger's directories and the sampling strategies file (from ``files``) in ``directory``; the
    config and the map from generated to local ports."""
    config = yaml.safe_load(generated)
    ports: dict[int, int] = {}
    _rewrite_listeners(config, ports)
    for reader in config["service"]["telemetry"]["metrics"]["readers"]:
        exporter = reader["pull"]["exporter"]["prometheus"]
        ports[exporter["port"]] = free_ports(1)[0]
        exporter.update(host=LOOPBACK, port=ports[exporter["port"]])
    (backend,) = config["extensions"]["jaeger_storage"]["backends"].values()
    assert list(backend) == ["badger"], f"traces are stored in {list(backend)}, not badger"
    backend["badger"]["directories"] = {kind: str(directory / "badger" / kind) for kind in ("keys", "values")}
    sampling = config["extensions"]["remote_sampling"]["file"]
    name = posixpath.basename(sampling["path"])
    (directory / name).write_text(files[f"jaeger/{name}"])
    sampling["path"] = str(directory / name)
    # A listener the rewrite missed would still bind every interface: none may be left.
    assert "0.0.0.0" not in yaml.safe_dump(config), config
    return config, ports
