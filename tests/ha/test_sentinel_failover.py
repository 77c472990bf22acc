"""Redis HA with Sentinel: the generated configs, and a real failover through bootstrap.sh.

The failover scenario runs once per module (module fixtures: first boot,
then the kill); each test states one thing about what was recorded.
"""

import dataclasses
import hashlib
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
from redis.sentinel import Sentinel

from components.redis.component import redis_conf_settings
from components.redis.sentinel import (
    ReplicationSettings,
    SentinelSettings,
    render_data_node_conf,
    render_sentinel_auth_conf,
    render_sentinel_conf,
)
from components.redis.settings import RedisConfig
from tests.conftest import require_tool
from tests.ha.conftest import (
    BOOTSTRAP,
    LOOPBACK,
    PASSWORD,
    SHELL,
    TEST_SENTINEL,
    Address,
    SentinelSet,
    failover_bound_s,
    free_ports,
    poll,
    wait_until,
)

T = TypeVar("T")
MASTER = TEST_SENTINEL.master_name
AUTH_INCLUDE = "/run/secrets/perfstack/sentinel-auth.conf"


# --- the generated files -------------------------------------------------------------------------


def _default_sentinel_conf() -> str:
    return render_sentinel_conf(
        SentinelSettings(), master_host="redis-0.redis", master_port=6379, auth_include=AUTH_INCLUDE
    )


def test_sentinel_conf_monitors_the_first_boot_master_with_a_quorum_of_2() -> None:
    assert "sentinel monitor perfstack redis-0.redis 6379 2" in _default_sentinel_conf().splitlines()


def test_sentinel_conf_carries_the_failover_timings() -> None:
    lines = _default_sentinel_conf().splitlines()
    assert {
        "sentinel down-after-milliseconds perfstack 5000",
        "sentinel failover-timeout perfstack 60000",
        "sentinel parallel-syncs perfstack 1",
    } <= set(lines)


def test_sentinel_conf_resolves_and_announces_hostnames() -> None:
    lines = _default_sentinel_conf().splitlines()
    assert {"sentinel resolve-hostnames yes", "sentinel announce-hostnames yes"} <= set(lines)


def test_sentinel_conf_holds_no_password_only_the_secret_include() -> None:
    text = _default_sentinel_conf()
    assert "auth-pass" not in text
    assert "requirepass" not in text
    assert text.splitlines()[-1] == f"include {AUTH_INCLUDE}"


def test_sentinel_auth_conf_authenticates_to_data_nodes_and_peers_and_protects_the_sentinel() -> None:
    digest = hashlib.sha256(b'p"w').hexdigest()
    assert render_sentinel_auth_conf('p"w', "perfstack").splitlines() == [
        f"user default on #{digest} ~* &* +@all",
        'sentinel auth-pass perfstack "p\\"w"',
        'sentinel sentinel-pass "p\\"w"',
    ]


def test_sentinel_settings_reject_a_master_name_that_cannot_be_a_config_token() -> None:
    with pytest.raises(ValueError, match="master_name"):
        SentinelSettings(master_name="perf stack")


def test_data_node_conf_refuses_writes_without_a_recent_replica() -> None:
    lines = render_data_node_conf(redis_conf_settings(RedisConfig()), ReplicationSettings()).splitlines()
    assert {"min-replicas-to-write 1", "min-replicas-max-lag 10"} <= set(lines)


def test_data_node_conf_leaves_replicaof_to_the_bootstrap_and_keeps_auth_last() -> None:
    lines = render_data_node_conf(redis_conf_settings(RedisConfig()), ReplicationSettings()).splitlines()
    assert not [line for line in lines if line.startswith(("replicaof", "slaveof"))]
    assert lines[-1].startswith("include ")


@pytest.fixture
def lone_sentinel(tmp_path: Path) -> Iterator[int]:
    """redis-sentinel on the production defaults, only address, port and paths rewritten; its port."""
    port, master_port = free_ports(2)
    auth = tmp_path / "sentinel-auth.conf"
    auth.write_text(render_sentinel_auth_conf(PASSWORD))
    conf = tmp_path / "sentinel.conf"  # a writable copy: Sentinel rewrites its config
    conf.write_text(
        render_sentinel_conf(
            dataclasses.replace(SentinelSettings(), bind=LOOPBACK, port=port, work_dir=str(tmp_path)),
            master_host=LOOPBACK,
            master_port=master_port,  # nobody there: Sentinel must start anyway
            auth_include=str(auth),
        )
    )
    log = tmp_path / "sentinel.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [require_tool("redis-sentinel"), str(conf)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        client = redis.Redis(host=LOOPBACK, port=port, password=PASSWORD, socket_timeout=1)

        def answers() -> bool:
            assert process.poll() is None, f"redis-sentinel exited:\n{log.read_text()}"
            return bool(client.ping())

        wait_until(answers, 10, "redis-sentinel to answer PING")
        yield port
    finally:
        process.kill()
        process.wait(timeout=10)


def test_redis_sentinel_runs_the_generated_config(lone_sentinel: int) -> None:
    client = redis.Redis(host=LOOPBACK, port=lone_sentinel, password=PASSWORD, decode_responses=True)
    state = client.sentinel_master("perfstack")
    assert (
        state["quorum"],
        state["down-after-milliseconds"],
        state["failover-timeout"],
        state["parallel-syncs"],
    ) == (2, 5000, 60000, 1)


def test_sentinel_refuses_clients_without_the_password(lone_sentinel: int) -> None:
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host=LOOPBACK, port=lone_sentinel).sentinel_masters()


def test_a_restarted_sentinel_keeps_its_id_and_the_replicas_it_knew_but_its_master(tmp_path: Path) -> None:
    # A master just failed away from is one of them: Sentinel turns it back into a replica only if
    # it knows it; a copy that forgot it left it master alone.
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "redis-sentinel").write_text("#!/bin/sh\nexit 0\n")
    (stub / "redis-sentinel").chmod(0o755)
    nobody, master_port = free_ports(2)
    template, conf = tmp_path / "sentinel.conf", tmp_path / "run.conf"
    template.write_text(
        render_sentinel_conf(TEST_SENTINEL, master_host=LOOPBACK, master_port=master_port, auth_include=None)
    )
    conf.write_text(
        f"sentinel myid {'a' * 40}\n"
        f"sentinel known-replica {MASTER} {LOOPBACK} 7001\n"
        f"sentinel known-replica {MASTER} {LOOPBACK} {master_port}\n"
        f"sentinel known-sentinel {MASTER} {LOOPBACK} 7002 {'b' * 40}\n"
    )
    env = {
        "PATH": f"{stub}:{os.environ['PATH']}",
        "SENTINEL_HOSTS": f"{LOOPBACK}:{nobody}",
        "MY_HOST": LOOPBACK,
        "FALLBACK_MASTER_HOST": LOOPBACK,
        "FALLBACK_MASTER_PORT": str(master_port),
        "CONF_PATH": str(template),
        "SENTINEL_CONF": str(conf),
    }
    require_tool("redis-cli")
    subprocess.run([*SHELL, str(BOOTSTRAP), "sentinel"], env=env, check=True, capture_output=True, timeout=30)
    kept = [
        line for line in conf.read_text().splitlines() if line.startswith(("sentinel myid", "sentinel known"))
    ]
    assert kept == [f"sentinel myid {'a' * 40}", f"sentinel known-replica {MASTER} {LOOPBACK} 7001"]


# --- first boot ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FirstBoot:
    """What the set looked like once started, before anything was killed."""

    replication: dict[str, dict[str, Any]]
    """INFO replication of each data node, by name."""
    sentinel_masters: list[Address | None]
    """The master each Sentinel names."""


@pytest.fixture(scope="module")
def first_boot(sentinel_set: SentinelSet) -> FirstBoot:
    return FirstBoot(
        replication={node.name: node.client().info("replication") for node in sentinel_set.data_nodes},
        sentinel_masters=[
            s.client().sentinel_get_master_addr_by_name(MASTER) for s in sentinel_set.sentinels
        ],
    )


def test_first_boot_makes_pod_0_the_master(first_boot: FirstBoot) -> None:
    assert first_boot.replication["redis-0"]["role"] == "master"


def test_first_boot_replicas_follow_pod_0_with_the_password(
    first_boot: FirstBoot, sentinel_set: SentinelSet
) -> None:
    # A link that is up proves masterauth from the auth include works.
    pod_0 = sentinel_set.data_nodes[0].port
    assert [
        (info["role"], info["master_port"], info["master_link_status"])
        for name, info in sorted(first_boot.replication.items())
        if name != "redis-0"
    ] == [("slave", pod_0, "up"), ("slave", pod_0, "up")]


def test_first_boot_sentinels_all_monitor_pod_0(first_boot: FirstBoot, sentinel_set: SentinelSet) -> None:
    assert first_boot.sentinel_masters == [sentinel_set.data_nodes[0].address] * 3


# --- failover ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ack:
    """A write the master acknowledged with ``WAIT 1``: at least one replica has it."""

    key: str
    master: Address
    at: float


class Writer(threading.Thread):
    """Writes one key after another to whichever master Sentinel names, as a client would."""

    def __init__(self, sentinels: list[Address]) -> None:
        super().__init__(daemon=True)
        self.sentinels = sentinels
        self.acks: list[Ack] = []
        self.failed_writes = 0
        self._stopping = threading.Event()

    def run(self) -> None:
        sentinel = Sentinel(
            self.sentinels,
            sentinel_kwargs={"password": PASSWORD, "socket_timeout": 0.5},
            password=PASSWORD,
            socket_timeout=0.5,
        )
        client: redis.Redis | None = None
        master: Address = ("", 0)
        number = 0
        while not self._stopping.is_set():
            try:
                if client is None:
                    found = sentinel.discover_master(MASTER)
                    master = (found[0], int(found[1]))
                    client = redis.Redis(host=master[0], port=master[1], password=PASSWORD, socket_timeout=1)
                number += 1
                key = f"ha:{number}"
                client.set(key, number)
                if client.wait(1, 1000) >= 1:
                    self.acks.append(Ack(key, master, time.monotonic()))
            except redis.RedisError:
                # Master gone, not yet elected, read-only or without a replica yet: ask Sentinel again.
                self.failed_writes += 1
                client = None
                self._stopping.wait(0.05)

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=10)


@dataclass(frozen=True)
class Failover:
    """What happened when the master was SIGKILLed under write load."""

    old_master: Address
    new_master: Address | None
    promoted_after_s: float | None
    """From the kill until a Sentinel named a replica that reports role master."""
    acks_before_kill: int
    last_ack_before_kill_s: float | None
    """How long before the kill the last acknowledged write happened (writes were flowing)."""
    acks: list[Ack]
    missing_on_new_master: list[str]
    acks_on_new_master: int
    resumed_after_s: float | None
    """From the kill until the first write acknowledged by the new master."""
    rejoined: dict[str, Any] | None
    """INFO replication of the restarted old master, read as soon as it answered."""
    caught_up: bool
    """The restarted old master got the last write acknowledged by the new master."""


def _missing_keys(client: redis.Redis, keys: list[str]) -> list[str]:
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.exists(key)
    return [key for key, exists in zip(keys, pipe.execute(), strict=True) if not exists]


@pytest.fixture(scope="module")
def failover(sentinel_set: SentinelSet, first_boot: FirstBoot) -> Failover:
    """Kill the master under load, then restart it through bootstrap.sh, recording everything."""
    old_node = sentinel_set.data_nodes[0]
    assert sentinel_set.master_from_sentinels() == old_node.address, "precondition: pod 0 is master"
    bound = failover_bound_s(sentinel_set.settings)
    writer = Writer([s.address for s in sentinel_set.sentinels])
    writer.start()
    try:
        wait_until(lambda: len(writer.acks) >= 200, 15, "200 acknowledged writes before the kill")
        killed_at = time.monotonic()
        old_node.kill()
        acks_before_kill = len(writer.acks)
        new_master = poll(lambda: sentinel_set.promoted_instead_of(old_node.address), bound + 5)
        promoted_after = time.monotonic() - killed_at if new_master else None
        if new_master:
            poll(lambda: sum(a.master == new_master for a in writer.acks) >= 100, 20)
    finally:
        writer.stop()

    acks = list(writer.acks)
    on_new = [a for a in acks if a.master == new_master]
    missing: list[str] = []
    rejoined: dict[str, Any] | None = None
    caught_up = False
    if new_master:
        missing = _missing_keys(sentinel_set.data_node_at(new_master).client(), [a.key for a in acks])
        # The old master comes back as pod 0 would: the same script, env and data directory.
        old_node.start()
        rejoined = old_node.client().info("replication")
        if on_new:
            last_key = on_new[-1].key
            caught_up = bool(poll(lambda: old_node.client(socket_timeout=1).exists(last_key), 20, 0.2))
    outcome = Failover(
        old_master=old_node.address,
        new_master=new_master,
        promoted_after_s=promoted_after,
        acks_before_kill=acks_before_kill,
        last_ack_before_kill_s=killed_at - acks[acks_before_kill - 1].at if acks_before_kill else None,
        acks=acks,
        missing_on_new_master=missing,
        acks_on_new_master=len(on_new),
        resumed_after_s=on_new[0].at - killed_at if on_new else None,
        rejoined=rejoined,
        caught_up=caught_up,
    )
    print(
        f"\nfailover: promoted after {promoted_after} s (bound {bound} s), writes resumed after "
        f"{outcome.resumed_after_s} s, {len(acks)} acknowledged writes, "
        f"{writer.failed_writes} failed attempts"
    )
    return outcome


def test_killing_the_master_promotes_a_replica_within_the_bound(
    failover: Failover, sentinel_set: SentinelSet
) -> None:
    bound = failover_bound_s(sentinel_set.settings)
    assert failover.new_master is not None, f"no replica was promoted within {bound + 5} s"
    assert failover.promoted_after_s is not None
    assert failover.promoted_after_s <= bound


def test_writes_were_flowing_when_the_master_died(failover: Failover) -> None:
    # Without this, "no acknowledged write lost" would prove nothing.
    assert failover.acks_before_kill >= 200
    assert failover.last_ack_before_kill_s is not None
    assert failover.last_ack_before_kill_s < 0.5


def test_no_acknowledged_write_is_lost(failover: Failover) -> None:
    assert failover.new_master is not None
    assert failover.missing_on_new_master == [], (
        f"{len(failover.missing_on_new_master)} of {len(failover.acks)} acknowledged writes missing, "
        f"first {failover.missing_on_new_master[:5]}"
    )


def test_writes_resume_on_the_master_sentinel_names(failover: Failover) -> None:
    assert failover.acks_on_new_master >= 100, f"only {failover.acks_on_new_master} writes on the new master"


def test_restarted_old_master_asks_sentinel_and_starts_as_replica_of_the_new_master(
    failover: Failover,
) -> None:
    # Read as soon as it answered: Sentinel needs seconds to demote a master that came back,
    # so "slave" here is bootstrap.sh's own decision, not Sentinel's correction.
    assert failover.new_master is not None
    assert failover.rejoined is not None
    assert (
        failover.rejoined["role"],
        failover.rejoined.get("master_host"),
        failover.rejoined.get("master_port"),
    ) == ("slave", *failover.new_master)


def test_restarted_old_master_catches_up_with_the_new_master(failover: Failover) -> None:
    assert failover.caught_up, "the restarted old master never got the new master's last write"


@pytest.fixture(scope="module")
def sentinels_restarted(failover: Failover, sentinel_set: SentinelSet) -> list[Address | None]:
    """Every Sentinel killed, then restarted through bootstrap.sh: the master each one names."""
    for sentinel in sentinel_set.sentinels:
        sentinel.kill()
    for sentinel in sentinel_set.sentinels:
        sentinel.start()
    return [s.client().sentinel_get_master_addr_by_name(MASTER) for s in sentinel_set.sentinels]


def test_sentinels_restarted_together_follow_pod_0_to_the_new_master(
    sentinels_restarted: list[Address | None], failover: Failover
) -> None:
    # No Sentinel is left to ask, so the first one asks pod 0, which is now a replica: its
    # master is the one to monitor, not pod 0 itself.
    assert failover.new_master is not None
    assert sentinels_restarted == [failover.new_master] * 3
