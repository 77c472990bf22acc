"""The generated redis.conf, run by the real redis-server (Debian)."""

import dataclasses
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from components.redis.component import redis_conf_settings
from components.redis.conf import render_redis_auth_conf, render_redis_conf
from components.redis.settings import RedisConfig
from tests.conftest import require_tool

PASSWORD = 'pa ss"word\\with-quotes 42'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """redis-server started from the generated config; only address, port and paths rewritten."""

    def __init__(self, directory: Path, config: RedisConfig) -> None:
        self.directory = directory
        self.port = _free_port()
        auth = directory / "auth.conf"
        auth.write_text(render_redis_auth_conf(PASSWORD))
        settings = dataclasses.replace(
            redis_conf_settings(config),
            bind="127.0.0.1",
            port=self.port,
            data_dir=str(directory),
            auth_include=str(auth),
        )
        self.conf = directory / "redis.conf"
        self.conf.write_text(render_redis_conf(settings))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, cgroup: Path | None = None) -> None:
        """Start it, inside the cgroup v1 directory ``cgroup`` when given (its memory limit applies)."""
        argv = [require_tool("redis-server"), str(self.conf)]
        if cgroup is not None:
            # Joins the cgroup before exec, so nothing redis-server allocates escapes the limit.
            argv = ["sh", "-c", f'echo $$ > "{cgroup}/cgroup.procs" && exec "$0" "$1"', *argv]
        self.process = subprocess.Popen(
            argv,
            stdout=(self.directory / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except (redis.ConnectionError, redis.BusyLoadingError):
                time.sleep(0.05)
        raise AssertionError("redis-server did not start:\n" + (self.directory / "redis.log").read_text())

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def client(self, password: str | None = PASSWORD) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, password=password, socket_timeout=5)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    instance = RedisServer(tmp_path, RedisConfig())
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[RedisServer]:
    instance = RedisServer(tmp_path, RedisConfig(maxmemory="2mb", maxmemory_samples=10))
    instance.start()
    yield instance
    instance.stop()


def test_eviction_policy_is_allkeys_lru(server: RedisServer) -> None:
    assert server.client().config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}


def test_maxmemory_is_512mb_by_default(server: RedisServer) -> None:
    assert server.client().config_get("maxmemory") == {"maxmemory": str(512 * 1024 * 1024)}


def test_aof_persistence_with_fsync_every_second(server: RedisServer) -> None:
    config = server.client().config_get("append*")
    assert (config["appendonly"], config["appendfsync"]) == ("yes", "everysec")


def test_no_rdb_snapshots_beside_the_aof_by_default(server: RedisServer) -> None:
    assert server.client().config_get("save") == {"save": ""}


def test_rdb_snapshots_when_chosen_instead_of_the_aof(tmp_path: Path) -> None:
    instance = RedisServer(tmp_path, RedisConfig(appendonly=False, rdb_snapshots=True))
    instance.start()
    try:
        assert instance.client().config_get("save") == {"save": "900 1 300 10 60 10000"}
    finally:
        instance.stop()


def test_a_failed_snapshot_does_not_stop_writes(server: RedisServer) -> None:
    assert server.client().config_get("stop-writes-on-bgsave-error") == {"stop-writes-on-bgsave-error": "no"}


def test_commands_without_password_get_noauth(server: RedisServer) -> None:
    # A raw RESP command, as any client without a password would send it.
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n")
        reply = conn.recv(1024)
    assert reply.startswith(b"-NOAUTH"), reply


def test_wrong_password_is_rejected(server: RedisServer) -> None:
    with pytest.raises(redis.AuthenticationError):
        server.client(password="wrong").ping()


def test_writing_past_maxmemory_evicts_keys(small_server: RedisServer) -> None:
    client = small_server.client()
    value = "x" * 1024
    for i in range(4000):  # about 4 MB into a 2 MB cache
        client.set(f"key:{i}", value)
    assert client.info("stats")["evicted_keys"] > 0
    assert client.info("memory")["used_memory"] <= 2 * 1024 * 1024 * 1.1


def test_recently_touched_keys_survive_eviction_more_often(small_server: RedisServer) -> None:
    client = small_server.client()
    value = "x" * 1024
    hot = [f"hot:{i}" for i in range(300)]
    cold = [f"cold:{i}" for i in range(300)]
    for key in hot + cold:
        client.set(key, value)
    # Redis' LRU clock ticks once a second: age the keys, then touch only the hot ones.
    time.sleep(2.1)
    client.mget(hot)
    # Fill until Redis has evicted as many keys as there are cold ones: a perfect LRU would have
    # evicted exactly the cold keys by then. (A fixed number of fillers depended on Redis' own
    # baseline memory, which varies with load, and sometimes evicted nearly every hot key too.)
    for i in range(20_000):
        client.set(f"filler:{i}", value)
        if i % 10 == 0 and client.info("stats")["evicted_keys"] >= len(cold):
            break
    hot_left = sum(client.exists(k) for k in hot)
    cold_left = sum(client.exists(k) for k in cold)
    assert client.info("stats")["evicted_keys"] > 0
    assert hot_left >= 3 * cold_left, f"hot keys left {hot_left}, cold keys left {cold_left}"


def test_keys_survive_kill_and_restart(server: RedisServer) -> None:
    client = server.client()
    for i in range(1000):
        client.set(f"durable:{i}", i)
    # appendfsync everysec promises at most about one second of writes lost.
    time.sleep(1.5)
    server.kill()
    server.start()
    restored = sum(server.client().exists(f"durable:{i}") for i in range(1000))
    assert restored >= 990, f"only {restored} of 1000 keys came back"
