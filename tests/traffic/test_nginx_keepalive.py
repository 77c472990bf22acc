"""Upstream keep-alive under real nginx: connections are reused, and a restarted backend is still reached.

A Docker app container that restarts (its restart policy) comes back under
its name, usually at its address, while nginx holds keep-alive connections to
the old process. (A replaced container has a new name: the router reloads
its config then, see test_zero_downtime_changes.py.) Here loopback addresses
stand in for container addresses: Linux routes all of 127.0.0.0/8 to lo.
"""

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from components.traffic.nginx_conf import RouteTarget, render_nginx_conf
from tests.traffic.conftest import LOOPBACK, Nginx, Reply, _BackendHandler

BACKEND_SCRIPT = Path(__file__).with_name("http_backend.py")
STABLE_HOST, CANARY_HOST = "127.0.0.2", "127.0.0.3"


class _CountingBackend(ThreadingHTTPServer):
    """Answers 'stable' and counts the TCP connections it accepts."""

    request_queue_size = 256
    daemon_threads = True

    def __init__(self) -> None:
        self.body = b"stable"
        self.accepted = 0
        self._lock = threading.Lock()
        super().__init__((LOOPBACK, 0), _BackendHandler)

    def get_request(self) -> tuple[socket.socket, object]:
        accepted = super().get_request()
        with self._lock:
            self.accepted += 1
        return accepted


@pytest.fixture
def counting_backend() -> Iterator[_CountingBackend]:
    server = _CountingBackend()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_requests_through_the_router_reuse_upstream_connections(
    nginx: Nginx, counting_backend: _CountingBackend
) -> None:
    route = RouteTarget("api", "/", f"{LOOPBACK}:{counting_backend.server_address[1]}")
    nginx.write(render_nginx_conf([route], **nginx.conf_kwargs, worker_processes=1))
    nginx.start()
    clients = 4

    replies = nginx.get_many("/", [{}] * 400, workers=clients)

    assert {(reply.status, reply.body) for reply in replies} == {(200, "stable")}
    # Without keep-alive every request is a new connection (400); with it, at
    # most one per request in flight at a time.
    assert counting_backend.accepted <= clients


class _ProcessBackend:
    """tests/traffic/http_backend.py in its own process, answering '<body> #<connection>'."""

    def __init__(self, host: str, port: int, body: str) -> None:
        self.process = subprocess.Popen([sys.executable, str(BACKEND_SCRIPT), host, str(port), body])
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((host, port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"backend {body} did not listen on {host}:{port}") from None
                time.sleep(0.02)

    def stop(self) -> None:
        """Ends the process; the kernel closes its connections, as when a container stops."""
        self.process.terminate()
        self.process.wait(timeout=10)


def port_free_on(*hosts: str) -> int:
    """A TCP port free on every one of ``hosts``, as every app container listens on the same port."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((hosts[0], 0))
            port = int(probe.getsockname()[1])
        try:
            for host in hosts[1:]:
                with socket.socket() as other:
                    other.bind((host, port))
        except OSError:
            continue
        return port
    raise RuntimeError(f"no port free on all of {hosts}")


@pytest.fixture
def process_backends() -> Iterator[list[_ProcessBackend]]:
    started: list[_ProcessBackend] = []
    yield started
    for backend in started:
        if backend.process.poll() is None:
            backend.stop()


def split_by_user(nginx: Nginx, count: int) -> list[Reply]:
    return nginx.get_many("/", [{"X-User-Id": f"user-{index}"} for index in range(count)], workers=4)


def test_a_backend_restarted_at_the_same_address_is_reached_with_no_error(
    nginx: Nginx, process_backends: list[_ProcessBackend]
) -> None:
    port = port_free_on(STABLE_HOST, CANARY_HOST)
    process_backends += [
        _ProcessBackend(STABLE_HOST, port, "stable-v1"),
        _ProcessBackend(CANARY_HOST, port, "canary"),
    ]
    route = RouteTarget("api", "/", f"{STABLE_HOST}:{port}", f"{CANARY_HOST}:{port}", canary_weight=50)
    nginx.write(render_nginx_conf([route], **nginx.conf_kwargs, worker_processes=1))
    nginx.start()
    before = split_by_user(nginx, 200)
    assert {r.body.split(" #")[0] for r in before} == {"stable-v1", "canary"}
    # nginx held its connections: only the first few requests opened one.
    assert max(int(r.body.split(" #")[1]) for r in before) <= 4

    # The restart: the old process stops, the new one comes up at the same address.
    process_backends[0].stop()
    process_backends.append(_ProcessBackend(STABLE_HOST, port, "stable-v2"))
    after = split_by_user(nginx, 200)

    assert [r.status for r in after] == [200] * 200
    assert {r.body.split(" #")[0] for r in after} == {"stable-v2", "canary"}
    # The same users still split the same way: the split does not depend on the connections.
    assert [r.track_header for r in after] == [r.track_header for r in before]
