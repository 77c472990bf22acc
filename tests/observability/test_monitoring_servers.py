"""The pinned Prometheus and Alertmanager servers doing what the generated flags and config promise."""

import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml

from components.alertmanager.config import (
    DEAD_MANS_SWITCH_URL_FILE,
    SLACK_WEBHOOK_FILE,
    render_alertmanager_config,
)
from components.alertmanager.settings import NotificationsConfig
from components.platform.telemetry import WATCHDOG_ALERT
from infra.mockrun import ProgramRun
from tests.servers.harness import http_server

from .test_monitoring_wiring import args
from .tools import tool_path

T = TypeVar("T")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    check: Callable[[], T | None], what: str, server: subprocess.Popen[str], timeout: float = 30
) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        try:
            found = check()
        except OSError:
            found = None
        if found:
            return found
        time.sleep(0.25)
    server.terminate()
    _, stderr = server.communicate(timeout=30)
    raise AssertionError(f"no {what} within {timeout}s\n{stderr[-3000:]}")


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.load(response)


@contextmanager
def started(argv: list[str]) -> Iterator[subprocess.Popen[str]]:
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        yield server
    finally:
        if server.poll() is None:
            server.terminate()
            server.communicate(timeout=30)


class _OpenMetrics(BaseHTTPRequestHandler):
    """An app that attaches its trace id to a counter sample, as OpenTelemetry SDKs do."""

    def do_GET(self) -> None:
        body = (
            "# TYPE http_requests counter\n"
            f'http_requests_total{{code="200"}} 5 # {{trace_id="{TRACE_ID}"}} 1.0\n'
            "# EOF\n"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/openmetrics-text; version=1.0.0; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


def test_deployed_prometheus_flags_keep_the_exemplars_grafana_links_to_jaeger(
    staging: ProgramRun, tmp_path: Path
) -> None:
    # The stack's own flags, with only paths and the listen address made local.
    local = {"--config.file", "--storage.tsdb.path"}
    flags = [a for a in args(staging, "prometheus") if a.split("=", 1)[0] not in local]
    port = free_port()
    with http_server(_OpenMetrics) as app:
        config = {
            "global": {"scrape_interval": "1s"},
            "scrape_configs": [{"job_name": "app", "static_configs": [{"targets": [app]}]}],
        }
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        argv = [
            tool_path("prometheus"), *flags, f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
        ]  # fmt: skip
        with started(argv) as server:
            url = f"http://127.0.0.1:{port}/api/v1/query_exemplars?query=http_requests_total&start=0&end=9999999999"

            def trace_ids() -> list[str] | None:
                data = get_json(url)["data"]
                return [e["labels"]["trace_id"] for series in data for e in series["exemplars"]] or None

            assert wait_for(trace_ids, "exemplar", server) == [TRACE_ID]


class _Heartbeats(BaseHTTPRequestHandler):
    """A dead man's switch: records what is posted to it."""

    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


def test_alertmanager_posts_the_watchdog_to_the_dead_mans_switch(tmp_path: Path) -> None:
    cfg = NotificationsConfig.model_validate({"slack": {"channel": "#a"}, "deadMansSwitch": {}})
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / SLACK_WEBHOOK_FILE).write_text("http://127.0.0.1:9/unused")
    (tmp_path / "alertmanager.yml").write_text(render_alertmanager_config(cfg, str(secrets)))
    port = free_port()
    _Heartbeats.received = []
    with http_server(_Heartbeats) as switch:
        (secrets / DEAD_MANS_SWITCH_URL_FILE).write_text(f"http://{switch}/ping")
        argv = [
            tool_path("alertmanager"), f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ]  # fmt: skip
        with started(argv) as server:
            base = f"http://127.0.0.1:{port}"
            wait_for(
                lambda: urllib.request.urlopen(f"{base}/-/ready", timeout=2).status == 200, "ready", server
            )
            alert = [{"labels": {"alertname": WATCHDOG_ALERT, "severity": "none", "family": "watchdog"}}]
            request = urllib.request.Request(
                f"{base}/api/v2/alerts",
                data=json.dumps(alert).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            urllib.request.urlopen(request, timeout=5).close()
            posted = wait_for(lambda: list(_Heartbeats.received), "heartbeat", server, timeout=20)
    assert [a["labels"]["alertname"] for a in posted[0]["alerts"]] == [WATCHDOG_ALERT]
    assert posted[0]["receiver"] == "watchdog"
