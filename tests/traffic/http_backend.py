"""A keep-alive HTTP backend in its own process: stopping it closes its connections, as a container stop does.

``python http_backend.py HOST PORT BODY`` answers every GET with ``BODY #N``,
N being the number of the TCP connection the request came on (1 for the
first connection that carried a request), so a test can tell a reused connection from a
new one across processes.
"""

import itertools
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True

    def __init__(self, address: tuple[str, int], body: str) -> None:
        self.body = body
        self.connections = itertools.count(1)
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Two writes per response: without TCP_NODELAY a kept-alive connection waits for delayed ACKs.
    disable_nagle_algorithm = True
    server: _Server
    connection_number: int | None = None

    def do_GET(self) -> None:
        # Numbered at their first request, so that readiness probes (connect, close) do not count.
        if self.connection_number is None:
            self.connection_number = next(self.server.connections)
        body = f"{self.server.body} #{self.connection_number}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    host, port, body = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    _Server((host, port), body).serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main()
