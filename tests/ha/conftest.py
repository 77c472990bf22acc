"""A Redis Sentinel set on loopback, every process started through the real bootstrap.sh.

Three data nodes and three Sentinels run from the generated redis.conf and
sentinel.conf with only addresses, ports and paths rewritten, and with the
Sentinel timings shortened (through the same settings dataclass) so that a
failover takes seconds, and the master's wait before a full sync too
(``TEST_DATA_NODE_TIMINGS``). Each is stopped as a pod is (SIGTERM, then
SIGKILL after a grace period) and is ready when its generated readiness
probe passes. Each member has its own secret files, as each pod
mounts the Secret of its own revision, and its config files are written
afresh at every start, as a pod mounts its ConfigMap. The shell is ``/bin/sh`` (dash on Debian); set
``PERFSTACK_TEST_SHELL="busybox sh"`` to run the image's shell instead.
"""

import contextlib
import dataclasses
import os
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from components.platform.spec import HealthCheck
from components.redis.component import data_node_ready_check, ping_check, redis_conf_settings
from components.redis.conf import RedisConfSettings, render_redis_auth_conf
from components.redis.sentinel import (
    ReplicationSettings,
    SentinelSettings,
    render_data_node_conf,
    render_sentinel_auth_conf,
    render_sentinel_conf,
)
from components.redis.settings import RedisConfig
from tests.conftest import require_tool

BOOTSTRAP = Path(__file__).resolve().parents[2] / "components" / "redis" / "bootstrap.sh"
SHELL = shlex.split(os.environ.get("PERFSTACK_TEST_SHELL", "/bin/sh"))
LOOPBACK = "127.0.0.1"
PASSWORD = 'ha pa ss"word\\with-quotes 42'
"""Spaces, quotes and a backslash: quoting must survive redis.conf, sentinel.conf and redis-cli."""

TEST_SENTINEL = SentinelSettings(down_after_ms=1000, failover_timeout_ms=3000)
"""Production's Sentinel settings with the timings shortened so that a failover takes seconds."""

TEST_DATA_NODE_TIMINGS = "repl-diskless-sync-delay 1\n"
"""Appended to the generated redis.conf, shortened like the Sentinel timings: before a full sync
a master waits this long (5 s by default) for more replicas to share it."""

START_TIMEOUT_S = 15.0
STOP_GRACE_S = 5.0
"""SIGTERM to SIGKILL, as a pod's termination grace period (production's 30 s, shortened).

Redis ignores a SIGTERM that comes while it writes its first AOF after a
full sync ("Writing initial AOF, can't exit.") and does not retry: only the
SIGKILL at the end of the grace stops it then."""
NO_RETRY = Retry(NoBackoff(), 0)
"""redis-py retries a refused AUTH with back-off by default: a refusal must show, and at once."""
T = TypeVar("T")

Address = tuple[str, int]


@dataclass(frozen=True)
class Auth:
    """The Redis secrets of one revision: the password, and the one also accepted during a rotation."""

    password: str = PASSWORD
    also_accepted: str | None = None


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that were free a moment ago."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind((LOOPBACK, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def wait_until(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.05) -> T:
    """The first truthy value of ``check()``; Redis errors count as "not yet"."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except redis.RedisError as error:
            last_error = error
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last error: {last_error})")
        time.sleep(interval)


def poll(check: Callable[[], T | None], timeout: float, interval: float = 0.05) -> T | None:
    """Like :func:`wait_until`, but None on timeout: the scenario records, the tests judge."""
    try:
        return wait_until(check, timeout, "", interval)
    except AssertionError:
        return None


def failover_bound_s(s: SentinelSettings) -> float:
    """The longest a failover may take, from the master's death to a promoted replica.

    ``down-after`` until a Sentinel marks the master down, then about a second
    each for the other Sentinels to agree (their status is asked every second),
    for the random delay (up to 1 s) that keeps Sentinels from standing for
    leader together, and for the leader to see the promoted replica's INFO.
    A first election can still be split; it is retried ``2 x failover-timeout``
    after it began and the promotion then has one more ``failover-timeout``.
    """
    return (s.down_after_ms + 3000 + 3 * s.failover_timeout_ms) / 1000


class Member:
    """One process of the set: bootstrap.sh, which execs redis-server or redis-sentinel.

    ``conf`` renders its config file from the path of its secret include.
    """

    def __init__(
        self,
        name: str,
        role: Literal["redis", "sentinel"],
        port: int,
        directory: Path,
        env: dict[str, str],
        conf: Callable[[str], str],
        auth: Auth,
    ) -> None:
        self.name = name
        self.role = role
        self.port = port
        self.directory = directory
        self.secrets = directory / "secrets"
        self.secrets.mkdir(exist_ok=True)
        self.env = {**env, "REDIS_PASSWORD_FILE": str(self.secrets / "redis-password")}
        self.conf = conf
        self.auth = auth
        self.log = directory / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> Address:
        return (LOOPBACK, self.port)

    def _write_files(self) -> None:
        (self.secrets / "redis-password").write_text(self.auth.password)
        include = self.secrets / f"{self.role}-auth.conf"
        if self.role == "redis":
            include.write_text(render_redis_auth_conf(self.auth.password, self.auth.also_accepted))
        else:
            include.write_text(
                render_sentinel_auth_conf(self.auth.password, also_accepted=self.auth.also_accepted)
            )
        # Sentinel's CONFIG REWRITE may have written into a data node's file (a pod's is read-only).
        Path(self.env["CONF_PATH"]).write_text(self.conf(str(include)))

    def start(self) -> None:
        """Write its files, run bootstrap.sh and wait until the server it execs answers."""
        self._write_files()
        with self.log.open("ab") as log:
            # A session of its own: teardown kills the whole group, whatever bootstrap.sh is running.
            self.process = subprocess.Popen(
                [*SHELL, str(BOOTSTRAP), self.role],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = self.process

        def answers() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"{self.name} exited with {process.returncode}:\n{self.log.read_text()}")
            try:
                return bool(self.client(socket_timeout=1).ping())
            except redis.BusyLoadingError:
                return False

        wait_until(answers, START_TIMEOUT_S, f"{self.name} to answer PING")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final fsync, as a node that dies."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """As the kubelet stops a pod: SIGTERM, then SIGKILL if it still runs after the grace period."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.kill()

    @property
    def readiness(self) -> HealthCheck:
        """The pod's generated readiness probe, with this member's port and password file."""
        if self.role == "redis":
            return data_node_ready_check(self.port, self.env["REDIS_PASSWORD_FILE"])
        return self.liveness

    @property
    def liveness(self) -> HealthCheck:
        """The pod's generated liveness probe (PING), with this member's port and password file."""
        return ping_check(self.port, self.env["REDIS_PASSWORD_FILE"])

    def ready(self) -> bool:
        """Whether the readiness probe passes now."""
        return self.passes(self.readiness)

    def passes(self, probe: HealthCheck) -> bool:
        """Whether ``probe`` passes now, run as the kubelet runs an exec probe."""
        try:
            done = subprocess.run(
                probe.command, env=self.env, capture_output=True, timeout=probe.timeout_seconds
            )
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0

    def client(self, socket_timeout: float = 5, password: str | None = None) -> redis.Redis:
        """A client presenting ``password``, by default the one of the member's own revision."""
        return redis.Redis(
            host=LOOPBACK,
            port=self.port,
            password=self.auth.password if password is None else password,
            socket_timeout=socket_timeout,
            decode_responses=True,
            retry=NO_RETRY,
        )


class SentinelSet:
    """``size`` data nodes and as many Sentinels wired as the StatefulSets wire them, on loopback."""

    def __init__(
        self, directory: Path, sentinel: SentinelSettings = TEST_SENTINEL, auth: Auth = Auth(), size: int = 3
    ) -> None:
        self.settings = sentinel
        ports = free_ports(2 * size)
        data_ports, sentinel_ports = ports[:size], ports[size:]
        common = {
            "PATH": os.environ["PATH"],
            "SENTINEL_HOSTS": " ".join(f"{LOOPBACK}:{p}" for p in sentinel_ports),
            "SENTINEL_MASTER_NAME": sentinel.master_name,
            "MY_HOST": LOOPBACK,
            "FALLBACK_MASTER_HOST": LOOPBACK,
            "FALLBACK_MASTER_PORT": str(data_ports[0]),
        }
        self.data_nodes: list[Member] = []
        for ordinal, port in enumerate(data_ports):
            home = directory / f"redis-{ordinal}"
            (home / "data").mkdir(parents=True)
            settings = dataclasses.replace(
                redis_conf_settings(RedisConfig()), bind=LOOPBACK, port=port, data_dir=str(home / "data")
            )
            env = {
                **common,
                "MY_PORT": str(port),
                "POD_ORDINAL": str(ordinal),
                "CONF_PATH": str(home / "redis.conf"),
            }

            def data_conf(include: str, settings: RedisConfSettings = settings) -> str:
                generated = render_data_node_conf(
                    dataclasses.replace(settings, auth_include=include), ReplicationSettings()
                )
                return generated + TEST_DATA_NODE_TIMINGS

            self.data_nodes.append(Member(f"redis-{ordinal}", "redis", port, home, env, data_conf, auth))

        self.sentinels: list[Member] = []
        for ordinal, port in enumerate(sentinel_ports):
            home = directory / f"sentinel-{ordinal}"
            (home / "run").mkdir(parents=True)
            env = {
                **common,
                "MY_PORT": str(port),
                "POD_ORDINAL": str(ordinal),
                "CONF_PATH": str(home / "sentinel.conf"),
                "SENTINEL_CONF": str(home / "run" / "sentinel.conf"),
            }
            local = dataclasses.replace(sentinel, bind=LOOPBACK, port=port, work_dir=str(home / "run"))

            def sentinel_conf(include: str, local: SentinelSettings = local) -> str:
                return render_sentinel_conf(
                    local, master_host=LOOPBACK, master_port=data_ports[0], auth_include=include
                )

            member = Member(f"sentinel-{ordinal}", "sentinel", port, home, env, sentinel_conf, auth)
            self.sentinels.append(member)

    @property
    def members(self) -> list[Member]:
        return self.data_nodes + self.sentinels

    def start(self) -> None:
        """First boot: data nodes (no Sentinel up yet), then Sentinels; wait until all know each other."""
        require_tool("redis-server")
        require_tool("redis-sentinel")
        require_tool("redis-cli")
        for member in self.members:
            member.start()
        for replica in self.data_nodes[1:]:
            client = replica.client()
            wait_until(
                lambda client=client: client.info("replication")["master_link_status"] == "up",
                START_TIMEOUT_S,
                f"{replica.name}'s replication link to come up",
            )
        others = len(self.sentinels) - 1
        for sentinel in self.sentinels:
            client = sentinel.client()
            # Sentinels find replicas through the master and each other through its hello channel.
            wait_until(
                lambda client=client: (
                    (state := client.sentinel_master(self.settings.master_name))["num-slaves"] == others
                    and state["num-other-sentinels"] == others
                ),
                START_TIMEOUT_S,
                f"{sentinel.name} to see {others} replicas and {others} other Sentinels",
            )

    def master_from_sentinels(self) -> Address | None:
        """The master address the first answering Sentinel names (None if none answers)."""
        for sentinel in self.sentinels:
            try:
                found = sentinel.client(socket_timeout=1).sentinel_get_master_addr_by_name(
                    self.settings.master_name
                )
            except redis.RedisError:
                continue
            if found:
                return (found[0], int(found[1]))
        return None

    def data_node_at(self, address: Address) -> Member:
        return next(node for node in self.data_nodes if node.address == address)

    def promoted_instead_of(self, old: Address) -> Address | None:
        """The master the Sentinels name once it is another than ``old`` and says it is master."""
        master = self.master_from_sentinels()
        if master is None or master == old:
            return None
        role = self.data_node_at(master).client(socket_timeout=1).info("replication")["role"]
        return master if role == "master" else None

    def close(self) -> None:
        """Kill every process; never raises, so one failure cannot leave the others running."""
        for member in self.members:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                member.kill()


@pytest.fixture(scope="module")
def sentinel_set(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelSet]:
    """A started Sentinel set, shared by a module's tests and killed at its end, even on failure."""
    instance = SentinelSet(tmp_path_factory.mktemp("sentinel-set"))
    try:
        instance.start()
        yield instance
    finally:
        instance.close()
