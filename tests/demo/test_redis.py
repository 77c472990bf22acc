"""Redis wiring: the password comes from a file and goes nowhere else; direct and Sentinel clients."""

import asyncio
import logging
import os
import subprocess
from pathlib import Path

import pytest
from perfstack_demo.app import create_app
from perfstack_demo.redis_link import connect
from perfstack_demo.settings import Settings
from pydantic import ValidationError
from redis.asyncio.sentinel import SentinelConnectionPool
from starlette.testclient import TestClient

from tests.demo.helpers import (
    REDIS_PASSWORD,
    RedisServer,
    chat,
    free_port,
    make_app,
    redis_binary,
    service_env,
    start_redis,
    wait_for_port,
)


def test_the_password_is_read_from_the_file_without_its_trailing_newline(redis_server: RedisServer) -> None:
    settings = Settings.from_env(redis_server.env())
    password = settings.redis_password()
    assert password is not None
    assert password.get_secret_value() == REDIS_PASSWORD


def test_the_app_authenticates_with_the_password_from_the_file(redis_env: dict[str, str]) -> None:
    with TestClient(make_app(service_env(**redis_env))) as client:
        assert client.get("/ready").json()["redis"] == "up"


def test_a_wrong_password_is_a_redis_outage_not_an_app_failure(
    redis_env: dict[str, str], tmp_path: Path
) -> None:
    wrong = tmp_path / "password"
    wrong.write_text("not-the-password\n")
    env = service_env(**redis_env, FEATURE_RESPONSE_CACHING="true") | {"REDIS_PASSWORD_FILE": str(wrong)}
    with TestClient(make_app(env)) as client:
        chat(client)
        ready = client.get("/ready")
    assert (ready.status_code, ready.json()["redis"]) == (200, "down")


def test_a_missing_password_file_fails_the_start(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        make_app(service_env(REDIS_HOST="127.0.0.1", REDIS_PASSWORD_FILE=str(tmp_path / "absent")))


def test_the_password_never_shows_in_env_logs_or_answers(
    redis_env: dict[str, str], caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    env = service_env(**redis_env, FEATURE_RESPONSE_CACHING="true", DEMO_FAULTS='{"latency_ms": 1}')
    settings = Settings.from_env(env)
    with TestClient(create_app(settings)) as client:
        bodies = [
            client.get("/ready").text,
            client.get("/admin/faults").text,
            client.put("/admin/faults/stable", json={"latency_ms": 2}).text,
            client.post("/chat", json={"prompt": "hi"}).text,
            client.get("/metrics").text,
        ]
    out, err = capfd.readouterr()
    assert REDIS_PASSWORD not in "".join(bodies)
    assert REDIS_PASSWORD not in caplog.text + out + err
    assert REDIS_PASSWORD not in repr(settings) + str(settings) + repr(settings.redis_password())
    assert not any(REDIS_PASSWORD in value for value in os.environ.values())


def test_sentinels_are_parsed_from_a_comma_separated_list() -> None:
    settings = Settings.from_env(
        {
            "REDIS_SENTINELS": "redis-0.redis:26379, redis-1.redis:26380,redis-2.redis,[::1]:5000,",
            "REDIS_MASTER_NAME": "perfstack",
        }
    )
    assert settings.redis_sentinels == (
        ("redis-0.redis", 26379),
        ("redis-1.redis", 26380),
        ("redis-2.redis", 26379),
        ("::1", 5000),
    )
    assert settings.redis_master_name == "perfstack"


@pytest.mark.parametrize(
    "env",
    [
        {"REDIS_SENTINELS": "a:26379"},
        {"REDIS_SENTINELS": "a:port", "REDIS_MASTER_NAME": "m"},
        {"REDIS_SENTINELS": "a:70000", "REDIS_MASTER_NAME": "m"},
        {"REDIS_SENTINELS": ":26379", "REDIS_MASTER_NAME": "m"},
    ],
)
def test_bad_sentinel_settings_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match=r"REDIS_SENTINELS|REDIS_MASTER_NAME"):
        Settings.from_env(env)


def test_with_sentinels_the_client_asks_them_for_the_master() -> None:
    link = connect(
        host="ignored-when-sentinels-are-set",
        port=6379,
        password="pw",
        sentinels=(("s0", 26379), ("s1", 26379)),
        master_name="perfstack",
        timeout_seconds=0.5,
    )
    assert link.client is not None and link.sentinel is not None
    pool = link.client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "perfstack"
    assert pool.connection_kwargs["password"] == "pw"
    sentinel_hosts = [
        (s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
        for s in link.sentinel.sentinels
    ]
    assert sentinel_hosts == [("s0", 26379), ("s1", 26379)]
    # perfstack's Sentinels require the same password as the data nodes.
    assert all(s.connection_pool.connection_kwargs["password"] == "pw" for s in link.sentinel.sentinels)
    asyncio.run(link.aclose())


def test_the_cache_works_through_a_real_sentinel(tmp_path: Path) -> None:
    master: RedisServer = start_redis(tmp_path / "master")
    sentinel_port = free_port()
    config = tmp_path / "sentinel.conf"
    config.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor perfstack 127.0.0.1 {master.port} 1\n"
        f"sentinel auth-pass perfstack {REDIS_PASSWORD}\nrequirepass {REDIS_PASSWORD}\n"
    )
    sentinel = subprocess.Popen(
        [redis_binary("redis-sentinel"), str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(sentinel_port)
        env = service_env(
            REDIS_SENTINELS=f"127.0.0.1:{sentinel_port}",
            REDIS_MASTER_NAME="perfstack",
            REDIS_PASSWORD_FILE=str(master.password_file),
            FEATURE_RESPONSE_CACHING="true",
        )
        with TestClient(make_app(env)) as client:
            assert chat(client, "What is a canary release?")["cached"] is False
            assert chat(client, "What is a canary release?")["cached"] is True
            assert client.get("/ready").json()["redis"] == "up"
        assert list(master.client().scan_iter("perfstack-demo:cache:*"))
    finally:
        sentinel.kill()
        sentinel.wait(timeout=10)
        master.stop()
