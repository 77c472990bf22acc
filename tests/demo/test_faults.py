"""Fault injection: each fault's effect, validation, and per-track sharing through Redis."""

import asyncio
import json
import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from demo.perfstack_demo.app import cancel_until_done
from tests.demo.helpers import (
    FAST,
    RedisServer,
    chat,
    make_app,
    sample,
    service_env,
    start_redis,
    wait_until,
)

CACHING = {"FEATURE_RESPONSE_CACHING": "true"}
REFRESH = {"DEMO_FAULTS_REFRESH_SECONDS": "0.05"}


def _with_faults(**faults: Any) -> dict[str, str]:
    return service_env(DEMO_FAULTS=json.dumps(faults))


def _active(client: TestClient) -> dict[str, Any]:
    active: dict[str, Any] = client.get("/admin/faults").json()["active"]
    return active


def test_latency_fault_adds_its_latency_to_every_request() -> None:
    with TestClient(make_app(_with_faults(latency_ms=300))) as client:
        start = time.perf_counter()
        chat(client)
        assert time.perf_counter() - start >= 0.3
        assert sample(client, "http_request_duration_seconds_sum", track="stable", route="/chat") >= 0.3
        # ...and lands above the 0.25 s bucket, where a p95 query sees it.
        labels = {"track": "stable", "route": "/chat", "le": "0.25"}
        assert sample(client, "http_request_duration_seconds_bucket", **labels) == 0


def test_error_ratio_one_answers_every_request_500_and_counts_it() -> None:
    with TestClient(make_app(_with_faults(error_ratio=1.0))) as client:
        for _ in range(3):
            response = client.post("/chat", json={"prompt": "hi"})
            assert response.status_code == 500
        assert client.post("/chat/stream", json={"prompt": "hi"}).status_code == 500
        assert sample(client, "http_requests_total", track="stable", route="/chat", code="500") == 3
        assert sample(client, "http_requests_total", track="stable", route="/chat/stream", code="500") == 1
        assert sample(client, "llm_tokens_total", direction="input", track="stable") == 0


def test_error_ratio_fails_that_share_of_requests() -> None:
    with TestClient(make_app(_with_faults(error_ratio=0.3))) as client:
        codes = [client.post("/chat", json={"prompt": "hi"}).status_code for _ in range(300)]
    assert set(codes) == {200, 500}
    assert 0.2 < codes.count(500) / len(codes) < 0.4


def test_quality_fault_overrides_the_reported_quality() -> None:
    with TestClient(make_app(_with_faults(quality_score=0.62))) as client:
        assert chat(client, intent="enhance")["quality"] == 0.62
        assert sample(client, "quality_score", intent="enhance") == 0.62


def test_token_multiplier_inflates_the_tokens_of_model_calls() -> None:
    def tokens(env: dict[str, str]) -> tuple[float, float]:
        with TestClient(make_app(env)) as client:
            chat(client)
            return (
                sample(client, "llm_tokens_total", direction="input", track="stable"),
                sample(client, "llm_tokens_total", direction="output", track="stable"),
            )

    plain_in, plain_out = tokens(service_env())
    inflated_in, inflated_out = tokens(_with_faults(token_multiplier=2))
    assert (inflated_in, inflated_out) == (2 * plain_in, 2 * plain_out)


def test_cache_bypass_makes_every_lookup_a_miss(redis_env: dict[str, str]) -> None:
    env = service_env(**redis_env, **CACHING, DEMO_FAULTS=json.dumps({"cache_bypass": True}))
    with TestClient(make_app(env)) as client:
        answers = [chat(client, "What is a canary release?") for _ in range(3)]
        assert sample(client, "cache_requests_total", result="miss") == 3
        assert sample(client, "cache_requests_total", result="hit") == 0
    assert not any(answer["cached"] for answer in answers)


def test_demo_faults_env_applies_without_redis() -> None:
    with TestClient(make_app(_with_faults(latency_ms=5, cache_bypass=True))) as client:
        assert _active(client)["latency_ms"] == 5
        assert _active(client)["cache_bypass"] is True


@pytest.mark.parametrize(
    "body",
    [
        {"error_ratio": 1.5},
        {"error_ratio": -0.1},
        {"latency_ms": -1},
        {"quality_score": 1.2},
        {"token_multiplier": 0.5},
        {"cache_bypass": "sometimes"},
        {"no_such_fault": 1},
    ],
)
def test_invalid_faults_are_refused_with_422(body: dict[str, Any]) -> None:
    with TestClient(make_app(service_env())) as client:
        response = client.put("/admin/faults/stable", json=body)
        assert response.status_code == 422
        assert response.json()["detail"]
        assert _active(client)["error_ratio"] == 0.0


def test_a_body_that_is_not_json_is_refused_with_422() -> None:
    with TestClient(make_app(service_env())) as client:
        assert client.put("/admin/faults/stable", content=b"{not json").status_code == 422


def test_an_unknown_track_is_refused_with_422() -> None:
    with TestClient(make_app(service_env())) as client:
        assert client.put("/admin/faults/blue", json={}).status_code == 422
        assert client.delete("/admin/faults/blue").status_code == 422


def test_without_redis_own_track_faults_apply_locally_and_other_tracks_fail() -> None:
    with TestClient(make_app(service_env())) as client:
        own = client.put("/admin/faults/stable", json={"latency_ms": 7})
        assert (own.status_code, own.json()["shared"]) == (200, False)
        assert _active(client)["latency_ms"] == 7
        assert client.put("/admin/faults/canary", json={"latency_ms": 7}).status_code == 503


def test_faults_set_through_one_instance_reach_the_tracks_other_instance(redis_env: dict[str, str]) -> None:
    env = service_env(**redis_env, **REFRESH)
    with (
        TestClient(make_app(env | {"APP_TRACK": "stable"})) as stable,
        TestClient(make_app(env | {"APP_TRACK": "canary"})) as canary,
    ):
        response = stable.put("/admin/faults/canary", json={"error_ratio": 1.0, "quality_score": 0.5})
        assert response.status_code == 200
        assert response.json()["shared"] is True
        wait_until(lambda: _active(canary)["error_ratio"] == 1.0)
        assert canary.post("/chat", json={"prompt": "hi"}).status_code == 500
        # The stable track is untouched, however long it refreshes.
        time.sleep(0.2)
        assert _active(stable)["error_ratio"] == 0.0
        assert chat(stable)["quality"] != 0.5
        assert stable.get("/admin/faults").json()["shared"]["canary"]["error_ratio"] == 1.0
        assert stable.get("/admin/faults").json()["shared"]["stable"] is None


def test_deleting_a_tracks_faults_returns_its_instances_to_their_baseline(redis_env: dict[str, str]) -> None:
    env = service_env(**redis_env, **REFRESH, APP_TRACK="canary", DEMO_FAULTS='{"latency_ms": 3}')
    with TestClient(make_app(env)) as canary:
        canary.put("/admin/faults/canary", json={"error_ratio": 1.0})
        assert _active(canary)["error_ratio"] == 1.0
        assert canary.delete("/admin/faults/canary").status_code == 200
        assert _active(canary) == {
            "latency_ms": 3,
            "error_ratio": 0.0,
            "quality_score": None,
            "cache_bypass": False,
            "token_multiplier": 1.0,
        }


def test_faults_of_another_service_do_not_apply(redis_env: dict[str, str]) -> None:
    with (
        TestClient(make_app(service_env(**redis_env, **REFRESH))) as first,
        TestClient(make_app(service_env(**redis_env, **REFRESH))) as second,
    ):
        first.put("/admin/faults/stable", json={"error_ratio": 1.0})
        time.sleep(0.2)
        assert _active(second)["error_ratio"] == 0.0


def test_an_instance_keeps_the_last_faults_it_knew_while_redis_is_down(tmp_path: Any) -> None:
    server: RedisServer = start_redis(tmp_path / "redis")
    try:
        env = service_env(**server.env(), **REFRESH, **FAST)
        with TestClient(make_app(env)) as client:
            client.put("/admin/faults/stable", json={"latency_ms": 11, "quality_score": 0.7})
            server.stop()
            time.sleep(0.3)  # several refreshes fail meanwhile
            assert _active(client)["latency_ms"] == 11
            assert chat(client)["quality"] == 0.7
            ready = client.get("/ready")
            assert (ready.status_code, ready.json()["redis"]) == (200, "down")
    finally:
        if server.process.poll() is None:
            server.stop()


def test_shutdown_stops_a_refresher_that_swallowed_one_cancellation() -> None:
    # As a cancellation that coincides with a Redis command's timeout does on Python 3.11: the
    # refresher sees a TimeoutError, takes Redis for down and carries on. One cancel hung the shutdown.
    swallowed = []

    async def refresher() -> None:
        while True:
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed.append(True)

    async def scenario() -> bool:
        task = asyncio.create_task(refresher())
        await asyncio.sleep(0.1)
        await asyncio.wait_for(cancel_until_done(task), timeout=5)
        return task.done()

    assert asyncio.run(scenario()) and swallowed
