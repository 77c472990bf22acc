"""Fixtures for the demo app's tests: a real redis-server for the session, no span export."""

import os
from collections.abc import Iterator

import pytest

from tests.demo.helpers import RedisServer, start_redis


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the session."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.process.terminate()
    server.process.wait(timeout=10)


@pytest.fixture
def redis_env(redis_server: RedisServer) -> dict[str, str]:
    """The shared Redis, emptied, as app env."""
    redis_server.client().flushall()
    return redis_server.env()


@pytest.fixture(autouse=True)
def _no_tracing_export(monkeypatch: pytest.MonkeyPatch) -> None:
    # Apps under test must not try to reach an OTLP collector; the tracing tests turn this back off.
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
