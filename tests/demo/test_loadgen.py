"""The load generator: chat requests with pooled user ids and repeated prompts, bounded, clean on SIGTERM."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2
import pytest
from perfstack_demo.loadgen import Options, parse_args, run

from tests.demo import DEMO_DIR
from tests.demo.helpers import parse_metrics, running_server, wait_until


class Recorder(ThreadingHTTPServer):
    """A test server that answers 200 to every POST and keeps what it got."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), RecordingHandler)
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.server_address[1]}"


class RecordingHandler(BaseHTTPRequestHandler):
    """Records method, path, user header and JSON body."""

    server: Recorder

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            user = self.headers.get("X-User-Id")
            self.server.requests.append({"path": self.path, "user": user, "body": body})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """A recording server running in a thread."""
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_it_sends_chat_requests_from_the_user_pool(recorder: Recorder) -> None:
    summary = asyncio.run(run(Options(target=recorder.url, rps=100, users=5, duration=0.6, seed=1)))
    requests = recorder.requests
    assert summary.sent == len(requests) == summary.codes[200]
    assert {r["path"] for r in requests} <= {"/chat", "/chat/stream"}
    assert {r["user"] for r in requests} <= {f"user-{i:04d}" for i in range(5)}
    assert len({r["user"] for r in requests}) > 1
    assert all(r["body"]["prompt"] for r in requests)
    assert {r["body"]["intent"] for r in requests} <= {"simple", "enhance", "complex"}


def test_it_repeats_prompts_so_a_cache_can_hit(recorder: Recorder) -> None:
    asyncio.run(run(Options(target=recorder.url, rps=100, duration=0.5, seed=2)))
    prompts = [r["body"]["prompt"] for r in recorder.requests]
    assert len(set(prompts)) < len(prompts) * 0.6


def test_it_keeps_to_the_rate_and_the_duration(recorder: Recorder) -> None:
    summary = asyncio.run(run(Options(target=recorder.url, rps=40, duration=1.0)))
    assert 36 <= summary.sent <= 41


def test_bad_arguments_are_refused() -> None:
    for bad in (["--rps", "0"], ["--rps", "1", "--users", "0"], ["--rps", "1", "--stream-share", "2"]):
        with pytest.raises(SystemExit):
            parse_args(["--target", "http://127.0.0.1:1", *bad])


def test_sigterm_stops_it_cleanly_with_a_summary(recorder: Recorder) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "perfstack_demo.loadgen", "--target", recorder.url, "--rps", "20"],
        env={**os.environ, "PYTHONPATH": str(DEMO_DIR)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: len(recorder.requests) >= 3, timeout=15)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert summary["sent"] >= 3
    assert summary["failed"] == 0


def test_against_the_real_server_it_produces_cache_hits(redis_env: dict[str, str]) -> None:
    env = redis_env | {"FEATURE_RESPONSE_CACHING": "true", "DEMO_LATENCY_SCALE": "0.05"}
    with running_server(**env) as (base, _):
        summary = asyncio.run(run(Options(target=base, rps=50, users=10, duration=1.0, seed=3)))
        families = parse_metrics(httpx2.get(f"{base}/metrics", timeout=2).text)
    assert summary.codes[200] == summary.sent >= 40
    cache = {s.labels["result"]: s.value for s in families["cache_requests"].samples}
    assert cache["hit"] > 0
    assert cache["miss"] > 0
    assert sum(s.value for s in families["http_requests"].samples) == summary.sent
