"""Helpers for the demo app's tests: a real redis-server, app factories, metric parsing."""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import redis
from perfstack_demo.app import create_app
from perfstack_demo.settings import Settings
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.demo import DEMO_DIR

REDIS_PASSWORD = "demo-Redis-Secret-9931"
"""Recognisable, so a test can search outputs for it."""

FAST = {"DEMO_LATENCY_SCALE": "0", "DEMO_SEED": "7"}
"""Env for tests that do not measure latency: no simulated model time, a fixed random sequence."""


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Block until something accepts connections on 127.0.0.1:`port`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def redis_binary(name: str) -> str:
    """The path of redis-server / redis-sentinel (CI installs them from Debian)."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    assert path, f"{name} is not installed (apt-get install -y redis-server redis-sentinel)"
    return path


@dataclass
class RedisServer:
    """A redis-server on 127.0.0.1 with a password, and the file that holds the password."""

    port: int
    password_file: Path
    process: subprocess.Popen[bytes]

    def client(self) -> redis.Redis:
        """A synchronous client, for the tests' own checks."""
        return redis.Redis(host="127.0.0.1", port=self.port, password=REDIS_PASSWORD, socket_timeout=2)

    def env(self) -> dict[str, str]:
        """The env perfstack gives an app for this Redis."""
        return {
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(self.port),
            "REDIS_PASSWORD_FILE": str(self.password_file),
        }

    def stop(self) -> None:
        """Kill the server (tests of an outage)."""
        self.process.kill()
        self.process.wait(timeout=10)


def start_redis(directory: Path, *, extra_config: str = "") -> RedisServer:
    """Start a redis-server in `directory`; the password is in its config file, never on its command line."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    password_file = directory / "redis-password"
    password_file.write_text(REDIS_PASSWORD + "\n")  # secret files usually end with a newline
    config = directory / "redis.conf"
    config.write_text(
        f'port {port}\nbind 127.0.0.1\ndir {directory}\nsave ""\nappendonly no\n'
        f"requirepass {REDIS_PASSWORD}\nmasterauth {REDIS_PASSWORD}\n{extra_config}"
    )
    process = subprocess.Popen(
        [redis_binary("redis-server"), str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    server = RedisServer(port=port, password_file=password_file, process=process)
    wait_for_port(port)
    deadline = time.monotonic() + 10
    while True:
        try:
            server.client().ping()
            return server
        except redis.exceptions.BusyLoadingError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def make_app(env: Mapping[str, str]) -> Starlette:
    """The app for exactly `env` (the process env is not read for settings)."""
    return create_app(Settings.from_env(env))


def service_env(**extra: str) -> dict[str, str]:
    """Env with a service name of its own, so tests sharing one Redis never see each other's keys."""
    return {"OTEL_SERVICE_NAME": f"svc-{uuid.uuid4().hex[:8]}", **FAST, **extra}


def parse_metrics(text: str) -> dict[str, Metric]:
    """A Prometheus text exposition, parsed, by metric family name."""
    return {family.name: family for family in text_string_to_metric_families(text)}


def scrape(client: TestClient) -> dict[str, Metric]:
    """The app's /metrics, parsed, by metric family name."""
    response = client.get("/metrics")
    assert response.status_code == 200
    return parse_metrics(response.text)


def sample(client: TestClient, name: str, **labels: str) -> float:
    """The value of the sample `name` with exactly `labels` (0 when absent)."""
    for family in scrape(client).values():
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return 0.0


def chat(
    client: TestClient, prompt: str = "How do I reset my password?", user: str = "user-1", **body: str
) -> dict[str, Any]:
    """POST /chat as `user`; the answer's JSON (asserting a 200)."""
    response = client.post("/chat", json={"prompt": prompt, **body}, headers={"X-User-Id": user})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll `predicate` every 20 ms until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def server_env(port: int, **extra: str) -> dict[str, str]:
    """Env for `python -m perfstack_demo` on 127.0.0.1:`port`: the test process's env without app settings."""
    app_prefixes = ("OTEL_", "REDIS_", "DEMO_", "FEATURE_", "ENABLE_", "FF_", "APP_")
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(app_prefixes)}
    return {
        **inherited,
        **FAST,
        "PYTHONPATH": str(DEMO_DIR),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "OTEL_SDK_DISABLED": "true",
        **extra,
    }


def answers_ready(base_url: str) -> bool:
    """Whether the server at `base_url` answers /ready with 200."""
    try:
        return httpx2.get(f"{base_url}/ready", timeout=1).status_code == 200
    except httpx2.HTTPError:
        return False


@contextlib.contextmanager
def running_server(**env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`python -m perfstack_demo` as the image runs it, ready: (base URL, process). Killed on the way out."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "perfstack_demo"],
        env=server_env(port, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers_ready(base_url) or process.poll() is not None, timeout=15)
        assert process.poll() is None, "the server exited at start"
        yield base_url, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
