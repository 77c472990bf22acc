"""Liveness and readiness: /health never depends on anything; /ready drains on SIGTERM, ignores Redis."""

import signal
import time

import httpx2
from starlette.testclient import TestClient

from tests.demo.helpers import chat, make_app, running_server, service_env, wait_until


def test_health_is_200_without_any_dependency() -> None:
    with TestClient(make_app(service_env(REDIS_HOST="127.0.0.1", REDIS_PORT="1"))) as client:
        assert client.get("/health").status_code == 200


def test_ready_is_200_with_redis_up(redis_env: dict[str, str]) -> None:
    with TestClient(make_app(service_env(**redis_env))) as client:
        response = client.get("/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"
    assert response.json()["redis"] == "up"


def test_ready_stays_200_when_redis_is_down_and_says_so() -> None:
    with TestClient(make_app(service_env(REDIS_HOST="127.0.0.1", REDIS_PORT="1"))) as client:
        response = client.get("/ready")
    assert response.status_code == 200
    assert response.json()["redis"] == "down"


def test_ready_reports_redis_disabled_when_none_is_configured() -> None:
    with TestClient(make_app(service_env())) as client:
        assert client.get("/ready").json()["redis"] == "disabled"


def test_ready_reports_track_and_version() -> None:
    with TestClient(make_app(service_env(APP_TRACK="canary", APP_VERSION="1.5.0"))) as client:
        body = client.get("/ready").json()
    assert (body["track"], body["version"]) == ("canary", "1.5.0")


def test_draining_fails_readiness_but_keeps_serving() -> None:
    app = make_app(service_env())
    with TestClient(app) as client:
        app.state.runtime.lifecycle.begin_drain()
        ready = client.get("/ready")
        assert (ready.status_code, ready.json()["status"]) == (503, "draining")
        assert client.get("/health").status_code == 200
        chat(client)


def test_sigterm_drains_for_the_drain_period_then_exits() -> None:
    with running_server(DEMO_DRAIN_SECONDS="1.5") as (base, process):
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        wait_until(lambda: httpx2.get(f"{base}/ready", timeout=1).status_code == 503, timeout=0.75)
        # Still serving during the drain: load balancers may send a last few requests.
        assert httpx2.get(f"{base}/health", timeout=1).status_code == 200
        assert httpx2.post(f"{base}/chat", json={"prompt": "still there?"}, timeout=2).status_code == 200
        process.wait(timeout=10)
        elapsed = time.monotonic() - signalled
        log = process.stdout.read().decode() if process.stdout else ""
    assert 1.5 <= elapsed < 7
    # uvicorn re-raises the SIGTERM after its graceful shutdown: the process ends as the signal ends it.
    assert process.returncode in (0, -signal.SIGTERM)
    assert "draining" in log
