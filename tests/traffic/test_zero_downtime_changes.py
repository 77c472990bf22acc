"""A weight change and a flag change on Docker fail no request under load (issue 20, finding 8).

Real nginx run by the router container's own entrypoint (``RELOADER``), the
config delivered by the one-shot writer's own script (``WRITER``), both under
busybox sh with only busybox applets (and nginx) on PATH, as in the Alpine
images, and the real demo app as the tracks, each a process on loopback. The
steps are the ones the Pulumi program makes the engine take
(tests/foundation/test_program.py and tests/traffic/test_app_track_rollout.py
hold the resource options that make them so):

- weight change: only the writer is replaced; it returns once the running
  router serves the new file. The router container stays.
- flag change: a track's container is replaced create-before-delete: the new
  one starts and is healthy (``wait``), the writer hands the router the new
  container's name, then the engine deletes the old container last, which
  drains it (``destroy_grace_seconds``). The canary is replaced before the
  stable track, so they are never both new and unproven, and never both gone.
"""

import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from components.platform.live_file import APPLIED_SUFFIX, WRITER
from components.traffic.nginx_conf import TRACK_HEADER, RouteTarget, render_nginx_conf
from components.traffic.reloader import RELOADER
from tests.conftest import require_tool
from tests.traffic.conftest import LOOPBACK, free_port, nginx_binary

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
WRITER_TIMEOUT_S = 30
DRAIN_SECONDS = 2


class App:
    """The demo app as one container of a track: `python -m perfstack_demo` on its own port."""

    def __init__(self, directory: Path, track: str, *, kill_switch: bool = False) -> None:
        self.port = free_port()
        self.address = f"{LOOPBACK}:{self.port}"
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(DEMO_DIR),
            "HOST": LOOPBACK,
            "PORT": str(self.port),
            "APP_TRACK": track,
            # A flag change is a change of the container's env, whatever the flag.
            "DISABLE_ALL_OPTIMIZATIONS": str(kill_switch).lower(),
            "DEMO_DRAIN_SECONDS": str(DRAIN_SECONDS),
        }
        self.log = directory / f"app-{track}-{self.port}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "perfstack_demo"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the demo app exited: {self.log.read_text()}"
            try:
                conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=2)
                conn.request("GET", "/ready")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the demo app on {self.address} was not ready in 30s")

    def delete(self) -> None:
        """What the engine's delete of a container with destroy_grace_seconds does: SIGTERM, wait."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=DRAIN_SECONDS + 30)


def busybox_path(directory: Path) -> str:
    """A PATH of busybox's applets and nginx alone: what the scripts may use in the Alpine images."""
    busybox = require_tool("busybox")
    directory.mkdir()
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        (directory / applet).symlink_to(busybox)
    (directory / "nginx").symlink_to(nginx_binary())
    return str(directory)


class Router:
    """The router container: its config volume (a directory) and its entrypoint script."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = busybox_path(directory / "bin")
        self.volume = directory / "volume"
        self.volume.mkdir()
        self.conf = self.volume / "nginx.conf"
        self.port = free_port()
        self.writes = 0
        self.process: subprocess.Popen[bytes] | None = None

    def render(self, stable: App, canary: App, weight: int) -> str:
        route = RouteTarget("api", "/", stable.address, canary.address, canary_weight=weight)
        return render_nginx_conf(
            [route],
            listen_address=LOOPBACK,
            listen_port=self.port,
            pid_path=str(self.directory / "nginx.pid"),
            error_log=str(self.directory / "error.log"),
            access_log="off",
            temp_dir=str(self.directory),
            worker_processes=2,
        )

    def write(self, conf: str, timeout: int = WRITER_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        """One run of the one-shot writer container: the new file is its upload."""
        self.writes += 1
        upload = self.directory / f"upload-{self.writes}.conf"
        upload.write_text(conf)
        return subprocess.run(
            [f"{self.path}/sh", "-c", WRITER, "writer", str(upload), str(self.conf), str(timeout)],
            env={"PATH": self.path},
            capture_output=True,
            text=True,
            timeout=timeout + 10,
            check=False,
        )

    def start(self) -> None:
        log = (self.directory / "router.log").open("wb")
        self.process = subprocess.Popen(
            [f"{self.path}/sh", "-c", RELOADER, "router", str(self.conf), "0.2"],
            env={"PATH": self.path},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        ack = Path(f"{self.conf}{APPLIED_SUFFIX}")
        deadline = time.monotonic() + 10
        while not ack.exists():
            assert self.process.poll() is None, self.log()
            assert time.monotonic() < deadline, f"the router did not start in 10s: {self.log()}"
            time.sleep(0.05)

    def log(self) -> str:
        return (self.directory / "router.log").read_text()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)


@dataclass
class Load:
    """Clients sending requests through the router until stopped; every failure is kept."""

    port: int
    stop: threading.Event = field(default_factory=threading.Event)
    tracks: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def _client(self, client: int) -> None:
        # A new connection per request: on a reload nginx closes its idle client keep-alive
        # connections, and a client that sends on one just then must retry (HTTP clients do).
        number = 0
        while not self.stop.is_set():
            number += 1
            conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=10)
            try:
                # /ready answers 503 while an app drains: a request sent to a container being
                # deleted fails here.
                conn.request("GET", "/ready", headers={"X-User-Id": f"c{client}-{number}"})
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    self.failures.append(f"HTTP {response.status}")
                self.tracks.append(response.getheader(TRACK_HEADER) or "")
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append(repr(exc))
            finally:
                conn.close()

    def __enter__(self) -> "Load":
        self.threads = [threading.Thread(target=self._client, args=(n,)) for n in range(4)]
        for thread in self.threads:
            thread.start()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.5)
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=15)


@pytest.fixture
def router(tmp_path: Path) -> Iterator[Router]:
    router = Router(tmp_path)
    yield router
    router.stop()


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[list[App]]:
    started: list[App] = []
    yield started
    for app in started:
        if app.process.poll() is None:
            app.process.kill()
            app.process.wait(timeout=10)


def serving(router: Router, apps: list[App], tmp_path: Path, weight: int) -> tuple[App, App, str]:
    """Both tracks up and the router started on a config that sends ``weight`` % to the canary."""
    stable, canary = App(tmp_path, "stable"), App(tmp_path, "canary")
    apps += [stable, canary]
    config = router.render(stable, canary, weight)
    assert router.write(config).returncode == 0
    router.start()
    return stable, canary, config


def test_a_weight_change_reloads_the_running_router_and_fails_no_request(
    router: Router, apps: list[App], tmp_path: Path
) -> None:
    stable, canary, _ = serving(router, apps, tmp_path, 0)
    master = router.process.pid if router.process else None

    with Load(router.port) as load:
        before_write = len(load.tracks)
        written = router.write(router.render(stable, canary, 50))
        after_write = len(load.tracks)

    assert written.returncode == 0, written.stderr + router.log()
    assert router.process is not None and router.process.pid == master and router.process.poll() is None
    assert load.failures == []
    assert set(load.tracks[:before_write]) == {"stable"}
    assert set(load.tracks[after_write:]) == {"stable", "canary"}


def test_a_flag_change_replaces_each_track_create_before_delete_and_fails_no_request(
    router: Router, apps: list[App], tmp_path: Path
) -> None:
    stable, canary, _ = serving(router, apps, tmp_path, 50)

    with Load(router.port) as load:
        new_canary = App(tmp_path, "canary", kill_switch=True)  # created, and healthy before anything goes on
        apps.append(new_canary)
        assert router.write(router.render(stable, new_canary, 50)).returncode == 0, router.log()
        new_stable = App(tmp_path, "stable", kill_switch=True)
        apps.append(new_stable)
        assert router.write(router.render(new_stable, new_canary, 50)).returncode == 0, router.log()
        # The engine deletes replaced resources last.
        canary.delete()
        stable.delete()
        after_deletes = len(load.tracks)

    assert load.failures == []
    assert len(load.tracks) - after_deletes > 20  # the new containers alone serve both tracks
    assert set(load.tracks[after_deletes:]) == {"stable", "canary"}


def test_a_config_nginx_refuses_is_never_acknowledged_and_the_old_one_keeps_serving(
    router: Router, apps: list[App], tmp_path: Path
) -> None:
    _, _, good = serving(router, apps, tmp_path, 0)

    bad = good.replace("worker_connections 1024;", "worker_connections nonsense;")
    refused = router.write(bad, timeout=3)

    assert refused.returncode == 1
    assert "has not applied the new config" in refused.stderr
    conn = http.client.HTTPConnection(LOOPBACK, router.port, timeout=10)
    conn.request("GET", "/ready")
    assert conn.getresponse().status == 200
