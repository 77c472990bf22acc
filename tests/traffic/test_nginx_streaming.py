"""Streamed responses under real nginx: chunks pass through as they come, and the read timeout is ours.

A streaming endpoint (`/chat/stream`) writes its answer in pieces with pauses
between them. The router must pass each piece on at once (no response
buffering) and wait for the next one as long as `router.readTimeout` says,
not nginx's 60 s default. The tests use a timeout of about a second, to show
that the configured value is the one nginx enforces.

Measured with nginx 1.22: with response buffering on, a chunked body still
passes chunk by chunk, but a body framed by Content-Length (or by closing the
connection) is held back, status line included, until the response ends.
"""

import http.client
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from components.traffic.nginx_conf import ProxyOptions, RouteTarget, render_nginx_conf
from components.traffic.settings import RouterConfig
from tests.traffic.conftest import LOOPBACK, Nginx

GATE_WAIT_S = 5
"""How long the streaming backend waits for the client's go-ahead before it sends the rest anyway."""


class _StreamingBackend(ThreadingHTTPServer):
    request_queue_size = 64
    daemon_threads = True

    def __init__(self) -> None:
        self.gate = threading.Event()
        super().__init__((LOOPBACK, 0), _StreamingHandler)


class _StreamingHandler(BaseHTTPRequestHandler):
    """Sends 'first' at once, then 'second' after ``?pause=S`` seconds or, with ``?gate``, the go-ahead.

    The body is chunked, or with ``?framing=content-length`` sized up front.
    """

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _StreamingBackend
    chunked = True

    def _part(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if self.chunked else data)
        self.wfile.flush()

    def do_GET(self) -> None:
        query = parse_qs(urlparse(self.path).query, keep_blank_values=True)
        self.chunked = query.get("framing", ["chunked"])[0] == "chunked"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        if self.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(b"first\nsecond\n")))
        self.end_headers()
        self._part(b"first\n")
        if "gate" in query:
            self.server.gate.wait(GATE_WAIT_S)
        else:
            time.sleep(float(query["pause"][0]))
        self._part(b"second\n")
        if self.chunked:
            self._part(b"")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def streaming_backend() -> Iterator[_StreamingBackend]:
    server = _StreamingBackend()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.gate.set()
    server.shutdown()
    server.server_close()


def start_router(nginx: Nginx, backend: _StreamingBackend, proxy: ProxyOptions) -> None:
    route = RouteTarget("chat", "/", f"{LOOPBACK}:{backend.server_address[1]}")
    nginx.write(render_nginx_conf([route], **nginx.conf_kwargs, proxy=proxy))
    nginx.start()


def get_body(nginx: Nginx, path: str) -> str:
    """The whole body of GET `path`; IncompleteRead when the router cuts the response off."""
    conn = http.client.HTTPConnection(LOOPBACK, nginx.port, timeout=10)
    try:
        conn.request("GET", path)
        return conn.getresponse().read().decode()
    finally:
        conn.close()


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
def test_streamed_part_reaches_the_client_before_the_response_ends(
    nginx: Nginx, streaming_backend: _StreamingBackend, framing: str
) -> None:
    start_router(nginx, streaming_backend, ProxyOptions())
    conn = http.client.HTTPConnection(LOOPBACK, nginx.port, timeout=GATE_WAIT_S - 2)
    try:
        conn.request("GET", f"/chat/stream?gate&framing={framing}")
        response = conn.getresponse()
        # The backend sends the rest only after this read: a buffering router
        # would hold 'first' until the backend gave up waiting, and this read
        # would time out first.
        first = response.read(len("first\n"))
        streaming_backend.gate.set()
        rest = response.read()
    finally:
        conn.close()

    assert (first, rest) == (b"first\n", b"second\n")


def test_pause_longer_than_the_read_timeout_cuts_the_response(
    nginx: Nginx, streaming_backend: _StreamingBackend
) -> None:
    start_router(nginx, streaming_backend, ProxyOptions(read_timeout_seconds=1))

    with pytest.raises(http.client.IncompleteRead) as cut:
        get_body(nginx, "/chat/stream?pause=1.6")

    assert cut.value.partial == b"first\n"


def test_pause_shorter_than_the_read_timeout_is_waited_for(
    nginx: Nginx, streaming_backend: _StreamingBackend
) -> None:
    start_router(nginx, streaming_backend, ProxyOptions(read_timeout_seconds=3))

    assert get_body(nginx, "/chat/stream?pause=1.6") == "first\nsecond\n"


def test_router_waits_five_minutes_between_chunks_by_default() -> None:
    conf = render_nginx_conf(
        [RouteTarget("chat", "/", "127.0.0.1:9001")], proxy=RouterConfig().proxy_options()
    )

    assert "        proxy_read_timeout 300s;" in conf.splitlines()
