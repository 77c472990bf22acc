"""Real nginx in a temp dir, tiny loopback backends, and a fast threaded HTTP client."""

import http.client
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from components.traffic.nginx_conf import NGINX_HEALTH_PATH, TRACK_HEADER
from tests.servers.harness import child_pids

LOOPBACK = "127.0.0.1"


def nginx_binary() -> str:
    """The Debian nginx; CI installs it, so a missing one is a failure (as for every real tool)."""
    # /usr/sbin is not on every user's PATH.
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    assert found, "nginx is not installed (see .ci/run for the install step)"
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


class _Backend(ThreadingHTTPServer):
    # The default backlog of 5 drops connections under a few concurrent
    # clients, and a dropped SYN costs a one-second retransmit.
    request_queue_size = 256
    daemon_threads = True

    def __init__(self, body: str) -> None:
        self.body = body.encode()
        super().__init__((LOOPBACK, 0), _BackendHandler)


class _BackendHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; on a connection nginx keeps
    # alive, Nagle would hold the body until nginx's delayed ACK (~40 ms).
    # Real app servers (uvicorn, any asyncio server) set TCP_NODELAY too.
    disable_nagle_algorithm = True
    server: _Backend

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # thousands of requests per test: keep the output readable


@pytest.fixture(scope="session")
def backends() -> Iterator[dict[str, str]]:
    """'host:port' of three backends on loopback answering 'stable', 'canary' and 'root'."""
    servers = {name: _Backend(name) for name in ("stable", "canary", "root")}
    threads = [
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        for server in servers.values()
    ]
    for thread in threads:
        thread.start()
    yield {name: f"{LOOPBACK}:{server.server_address[1]}" for name, server in servers.items()}
    for server in servers.values():
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class Reply:
    """What one request through the router got back."""

    status: int
    body: str
    track_header: str | None


class Nginx:
    """One nginx master process run from a temp dir, unprivileged-friendly."""

    def __init__(self, prefix: Path) -> None:
        self.binary = nginx_binary()
        self.prefix = prefix
        self.conf_path = prefix / "nginx.conf"
        self.error_log = prefix / "error.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def conf_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for render_nginx_conf that keep every file inside the temp dir."""
        return {
            "listen_address": LOOPBACK,
            "listen_port": self.port,
            "pid_path": str(self.prefix / "nginx.pid"),
            "error_log": str(self.error_log),
            "access_log": "off",
            "temp_dir": str(self.prefix),
        }

    def _args(self, *extra: str) -> list[str]:
        # -e: the error log nginx uses before it has read the config (the
        # compiled-in path is not writable when unprivileged).
        return [self.binary, "-c", str(self.conf_path), "-p", str(self.prefix), "-e", "stderr", *extra]

    def write(self, conf: str) -> None:
        self.conf_path.write_text(conf)

    def check(self) -> subprocess.CompletedProcess[str]:
        """`nginx -t` on the written config."""
        return subprocess.run(self._args("-t"), capture_output=True, text=True, timeout=30, check=False)

    def start(self) -> None:
        self.process = subprocess.Popen(self._args("-g", "daemon off;"), stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                stderr = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"nginx exited with {self.process.returncode}: {stderr}{self._log()}")
            try:
                if self.get(NGINX_HEALTH_PATH).status == 200:
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx did not answer on {LOOPBACK}:{self.port} within 10s{self._log()}")

    def reload(self) -> None:
        """`nginx -s reload`, as an operator would (signals the master through the pid file)."""
        subprocess.run(self._args("-s", "reload"), check=True, capture_output=True, timeout=30)

    def worker_pids(self) -> set[int]:
        """Current children of the master process (its workers), from /proc."""
        assert self.process is not None
        return child_pids(self.process.pid)

    def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=10)
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            return Reply(response.status, response.read().decode(), response.getheader(TRACK_HEADER))
        finally:
            conn.close()

    def get_many(self, path: str, header_sets: Sequence[dict[str, str]], workers: int = 8) -> list[Reply]:
        """GET `path` once per header set, in `workers` keep-alive connections; replies in input order."""
        replies: list[Reply | None] = [None] * len(header_sets)

        def run(indexes: range) -> None:
            conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=10)
            try:
                for index in indexes:
                    conn.request("GET", path, headers=header_sets[index])
                    response = conn.getresponse()
                    body = response.read().decode()
                    replies[index] = Reply(response.status, body, response.getheader(TRACK_HEADER))
            finally:
                conn.close()

        with ThreadPoolExecutor(workers) as pool:
            for future in [pool.submit(run, range(i, len(header_sets), workers)) for i in range(workers)]:
                future.result()
        return [reply for reply in replies if reply is not None]

    def _log(self) -> str:
        return f"\nerror.log:\n{self.error_log.read_text()}" if self.error_log.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # fast shutdown of master and workers
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Nginx]:
    """An nginx in this test's temp dir, stopped at teardown."""
    server = Nginx(tmp_path)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def module_nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], Nginx]]:
    """An nginx shared by a module (start it once, send thousands of requests), stopped at teardown."""
    servers: list[Nginx] = []

    def make() -> Nginx:
        servers.append(Nginx(tmp_path_factory.mktemp("nginx")))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()
