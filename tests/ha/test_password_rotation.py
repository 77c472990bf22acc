"""Rotating the Redis password without stopping writes (docs/secrets.md, "Rotating the Redis password").

A rotation is three `pulumi up`s, each a revision of the secrets; every pod
of a revision presents ``password`` and accepts ``password`` and
``also_accepted``. Kubernetes rolls the data nodes, the Sentinels, the app
and the exporter at the same time, so while one step rolls out, any pod of
the old revision meets any pod of the new one. Each step is proven here twice
with the real servers: pairwise (every presented password of either revision
is accepted by every server of either revision), and by rolling a Sentinel
set under write load in the StatefulSets' order.
"""

import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
from redis.sentinel import Sentinel

from components.redis.conf import render_redis_auth_conf
from components.redis.sentinel import render_sentinel_auth_conf
from tests.ha.conftest import (
    LOOPBACK,
    NO_RETRY,
    START_TIMEOUT_S,
    TEST_SENTINEL,
    Address,
    Auth,
    Member,
    SentinelSet,
    failover_bound_s,
    poll,
    wait_until,
)

OLD = 'old pass"word 1'
NEW = "new pass\\word 2"
BEFORE = Auth(OLD)
STEP_1 = Auth(OLD, also_accepted=NEW)
"""`redisPasswordAlsoAccepted` set to NEW: NEW is accepted, nobody presents it yet."""
STEP_2 = Auth(NEW, also_accepted=OLD)
"""Swap the two: everybody presents NEW, OLD is still accepted from pods not yet rolled."""
STEP_3 = Auth(NEW)
"""`pulumi config rm perfstack:redisPasswordAlsoAccepted`: only NEW is accepted."""
ROTATION = (BEFORE, STEP_1, STEP_2, STEP_3)
MASTER = TEST_SENTINEL.master_name
SETTLE_TIMEOUT_S = 20.0


# --- the rendered secret files -------------------------------------------------------------------


def test_data_node_auth_accepts_both_passwords_and_presents_the_current_one_during_a_rotation() -> None:
    lines = render_redis_auth_conf(NEW, also_accepted=OLD).splitlines()
    assert len(lines[0].split(" #")) == 3, lines[0]  # "user default on", two hashes
    assert lines[1] == 'masterauth "new pass\\\\word 2"'


def test_sentinel_auth_accepts_both_passwords_and_presents_the_current_one_during_a_rotation() -> None:
    lines = render_sentinel_auth_conf(NEW, MASTER, also_accepted=OLD).splitlines()
    assert len(lines[0].split(" #")) == 3, lines[0]
    assert lines[1:] == [
        f'sentinel auth-pass {MASTER} "new pass\\\\word 2"',
        'sentinel sentinel-pass "new pass\\\\word 2"',
    ]


def test_the_also_accepted_password_is_never_written_in_plaintext() -> None:
    texts = render_redis_auth_conf(NEW, also_accepted=OLD) + render_sentinel_auth_conf(NEW, also_accepted=OLD)
    assert "old pass" not in texts


# --- pairwise, with real servers -----------------------------------------------------------------


STEP_NAMES = {BEFORE: "before", STEP_1: "step 1", STEP_2: "step 2", STEP_3: "step 3"}


@pytest.fixture(scope="module")
def revisions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[Auth, tuple[int, int]]]:
    """A data node and a Sentinel per revision, started from their generated files: their ports."""
    sets = {auth: SentinelSet(tmp_path_factory.mktemp("revision"), auth=auth, size=1) for auth in ROTATION}
    try:
        for one in sets.values():
            one.start()
        yield {auth: (one.data_nodes[0].port, one.sentinels[0].port) for auth, one in sets.items()}
    finally:
        for one in sets.values():
            one.close()


def _refused_pairs(steps: tuple[Auth, ...], revisions: dict[Auth, tuple[int, int]]) -> list[str]:
    """Each client of a revision whose password a server of the same or the next revision refuses."""
    refused = []
    for before, after in itertools.pairwise(steps):
        for client, server in itertools.product((before, after), repeat=2):
            for kind, port in zip(("redis", "sentinel"), revisions[server], strict=True):
                try:
                    redis.Redis(
                        host=LOOPBACK, port=port, password=client.password, socket_timeout=2, retry=NO_RETRY
                    ).ping()
                except redis.AuthenticationError:
                    refused.append(f"{STEP_NAMES[client]} -> {kind} of {STEP_NAMES[server]}")
    return refused


def test_in_every_step_of_the_rotation_every_pod_accepts_the_password_of_every_other(
    revisions: dict[Auth, tuple[int, int]],
) -> None:
    assert _refused_pairs(ROTATION, revisions) == []


def test_swapping_the_password_in_one_step_refuses_pods_not_yet_rolled(
    revisions: dict[Auth, tuple[int, int]],
) -> None:
    # The procedure the finding describes: the new password replaces the old one everywhere at once.
    assert "before -> redis of step 3" in _refused_pairs((BEFORE, STEP_3), revisions)


def test_dropping_the_old_password_in_the_step_that_switches_to_the_new_refuses_pods_not_yet_rolled(
    revisions: dict[Auth, tuple[int, int]],
) -> None:
    # Why three steps and not two: pods of step 1 still present OLD to pods that dropped it.
    assert "step 1 -> sentinel of step 3" in _refused_pairs((BEFORE, STEP_1, STEP_3), revisions)


# --- rolling a Sentinel set under write load -----------------------------------------------------


class Writer(threading.Thread):
    """Writes one key after another to the master Sentinel names, as an app pod does.

    ``password`` is the app's revision: set it and the writer reconnects, as a
    new app pod would. Records when each write succeeded and why each failed.
    """

    def __init__(self, sentinels: list[Address], password: str) -> None:
        super().__init__(daemon=True)
        self.sentinels = sentinels
        self.password = password
        self.successes: list[float] = []
        self.errors: Counter[str] = Counter()
        self._stopping = threading.Event()

    def run(self) -> None:
        client: redis.Redis | None = None
        presented = ""
        number = 0
        while not self._stopping.is_set():
            try:
                if client is None or presented != self.password:
                    presented = self.password
                    options = {"password": presented, "socket_timeout": 0.5, "retry": NO_RETRY}
                    found = Sentinel(self.sentinels, sentinel_kwargs=options).discover_master(MASTER)
                    client = redis.Redis(host=found[0], port=int(found[1]), **options)  # type: ignore[arg-type]
                number += 1
                client.set(f"rotation:{number}", number)
                self.successes.append(time.monotonic())
            except redis.RedisError as error:
                self.errors[_kind(error)] += 1
                client = None
                self._stopping.wait(0.05)

    def longest_gap_s(self) -> float:
        """The longest time between two successful writes."""
        return max((b - a for a, b in itertools.pairwise(self.successes)), default=0.0)

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=10)


def _kind(error: redis.RedisError) -> str:
    text = str(error)
    for kind in ("WRONGPASS", "NOAUTH", "NOREPLICAS", "READONLY"):
        if kind in text:
            return kind
    if isinstance(error, redis.AuthenticationError):
        return "WRONGPASS"  # redis-py strips the error code of a refused AUTH
    return type(error).__name__


def _roll(
    statefulset: list[Member], auth: Auth, sentinel_set: SentinelSet, bound: float
) -> tuple[int, bool, bool]:
    """A StatefulSet's rolling update onto ``auth``, as its controller does it.

    Highest ordinal first; the next pod only once every pod passes its
    generated readiness probe. A pod takes longer to come back than Sentinel
    takes to fail over, so a rolled master comes back once another was
    promoted and bootstrap.sh makes it a replica. How many failovers it
    caused, whether each was within ``bound``, and whether every pod was
    ready again within its bound.
    """
    failovers = 0
    promoted = ready = True
    for member in reversed(statefulset):
        was_master = sentinel_set.master_from_sentinels() == member.address
        member.stop()
        if was_master:
            failovers += 1
            promoted &= bool(poll(lambda old=member.address: sentinel_set.promoted_instead_of(old), bound))
        member.auth = auth
        member.start()
        ready &= bool(poll(lambda: all(m.ready() for m in statefulset), bound + START_TIMEOUT_S))
    return failovers, promoted, ready


def _settled(sentinel_set: SentinelSet) -> bool:
    """What the operator checks before the next step: one master (the Sentinels' one), two replicas
    in sync with it, and every Sentinel sees those 2 replicas and 2 other Sentinels."""

    def check() -> bool:
        master = sentinel_set.master_from_sentinels()
        links = [
            n.client(socket_timeout=1).info("replication").get("master_link_status")
            for n in sentinel_set.data_nodes
            if n.address != master
        ]
        return links == ["up", "up"] and all(
            (state := s.client(socket_timeout=1).sentinel_master(MASTER))["num-slaves"] == 2
            and state["num-other-sentinels"] == 2
            for s in sentinel_set.sentinels
        )

    return bool(poll(check, SETTLE_TIMEOUT_S))


def _wait_for_writes(writer: Writer, count: int, when: str) -> None:
    wait_until(lambda: len(writer.successes) >= count, 10, f"{count} writes {when}")


@dataclass(frozen=True)
class StepOutcome:
    """What rolling one step of the rotation did."""

    failovers: int
    failovers_within_bound: bool
    rolled_ready: bool
    """Every pod passed its readiness probe after each restart, so the StatefulSets could go on."""
    settled: bool
    longest_gap_s: float
    errors: Counter[str]
    writes: int


Rotation = tuple[list[StepOutcome], SentinelSet]


@pytest.fixture(scope="module")
def rotation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rotation]:
    """The three steps rolled out in turn on a Sentinel set under write load.

    Each step rolls the data nodes, then the Sentinels, each as its
    StatefulSet does (highest ordinal first, the next pod once all pass their
    readiness probe), then the app. Kubernetes rolls them at the same time;
    here one after the other, so that a failover is not mixed up with
    Sentinels restarting, and the pairwise test above covers the interleavings.
    Before the next step, as the operator does, the set has settled.
    """
    sentinel_set = SentinelSet(tmp_path_factory.mktemp("rotation"), auth=BEFORE)
    bound = failover_bound_s(sentinel_set.settings)
    outcomes: list[StepOutcome] = []
    try:
        sentinel_set.start()
        for previous, step in itertools.pairwise(ROTATION):
            writer = Writer([s.address for s in sentinel_set.sentinels], previous.password)
            writer.start()
            try:
                _wait_for_writes(writer, 50, "before the step")
                failovers, promoted, data_ready = _roll(sentinel_set.data_nodes, step, sentinel_set, bound)
                _, _, sentinels_ready = _roll(sentinel_set.sentinels, step, sentinel_set, bound)
                writer.password = step.password
                settled = _settled(sentinel_set)
                _wait_for_writes(writer, len(writer.successes) + 50, "after the step")
            finally:
                writer.stop()
            outcomes.append(
                StepOutcome(
                    failovers,
                    promoted,
                    data_ready and sentinels_ready,
                    settled,
                    writer.longest_gap_s(),
                    writer.errors,
                    len(writer.successes),
                )
            )
            print(f"\n{STEP_NAMES[step]}: {outcomes[-1]}")
        yield outcomes, sentinel_set
    finally:
        sentinel_set.close()


def test_no_step_of_the_rotation_refuses_a_password(rotation: Rotation) -> None:
    outcomes, sentinel_set = rotation
    assert [dict(o.errors) for o in outcomes if o.errors["WRONGPASS"] or o.errors["NOAUTH"]] == []
    logs = [
        m.name
        for m in sentinel_set.members
        if "WRONGPASS" in m.log.read_text() or "NOAUTH" in m.log.read_text()
    ]
    assert logs == []


def test_writes_never_stop_for_longer_than_a_failover(
    rotation: Rotation,
) -> None:
    outcomes, sentinel_set = rotation
    bound = failover_bound_s(sentinel_set.settings)
    assert [round(o.longest_gap_s, 2) for o in outcomes if o.longest_gap_s > bound] == []


def test_each_step_rolls_the_master_pod_and_fails_over(
    rotation: Rotation,
) -> None:
    # Without a failover in every step, the write gap above would prove little.
    outcomes, _ = rotation
    assert [(o.failovers >= 1, o.failovers_within_bound) for o in outcomes] == [(True, True)] * 3


def test_every_pod_is_ready_again_after_its_restart_so_the_statefulsets_roll_on(
    rotation: Rotation,
) -> None:
    outcomes, _ = rotation
    assert [o.rolled_ready for o in outcomes] == [True] * 3


def test_each_step_ends_with_one_master_two_replicas_in_sync_and_the_sentinels_in_touch(
    rotation: Rotation,
) -> None:
    outcomes, _ = rotation
    assert [o.settled for o in outcomes] == [True] * 3


def test_after_the_rotation_only_the_new_password_is_accepted(
    rotation: Rotation,
) -> None:
    _, sentinel_set = rotation
    refused_old = []
    for member in sentinel_set.members:
        assert member.client(password=NEW).ping()
        with pytest.raises(redis.AuthenticationError):
            member.client(password=OLD).ping()
        refused_old.append(member.name)
    assert len(refused_old) == 6


@dataclass(frozen=True)
class SingleSwap:
    """The new password alone rolled onto the replicas, which a one-step change rolls first."""

    first_probes: dict[str, bool]
    """The first rolled replica's probes, once its master refused it: ``ping`` (liveness) and ``ready``."""
    write_error_at_first: str | None
    """A write while the roll is held at the first replica (the StatefulSet waits for it to be ready)."""
    links: list[str | None]
    """Both replicas' links after the second was rolled too, as a PING readiness let the roll go on."""
    replica_logs_wrongpass: bool
    write_error: str | None


def _write_error(client: redis.Redis) -> str | None:
    try:
        client.set("after-the-swap", 1)
    except redis.RedisError as refused:
        return _kind(refused)
    return None


@pytest.fixture(scope="module")
def single_swap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SingleSwap]:
    sentinel_set = SentinelSet(tmp_path_factory.mktemp("single-swap"), auth=BEFORE)
    try:
        sentinel_set.start()
        master, *replicas = sentinel_set.data_nodes
        first, second = reversed(replicas)
        for node in (first, second):
            node.stop()
            node.auth = STEP_3
            node.start()
            wait_until(
                lambda node=node: "WRONGPASS" in node.log.read_text(), 10, f"{node.name} to be refused"
            )
            if node is first:
                first_probes = {"ping": first.passes(first.liveness), "ready": first.ready()}
                write_error_at_first = _write_error(master.client(socket_timeout=1))
        client = master.client(socket_timeout=1)
        poll(lambda: client.info("replication")["connected_slaves"] == 0, 10)
        yield SingleSwap(
            first_probes=first_probes,
            write_error_at_first=write_error_at_first,
            links=[n.client().info("replication").get("master_link_status") for n in replicas],
            replica_logs_wrongpass=all("WRONGPASS" in n.log.read_text() for n in replicas),
            write_error=_write_error(client),
        )
    finally:
        sentinel_set.close()


def test_a_replica_its_master_refuses_answers_ping_but_is_not_ready(single_swap: SingleSwap) -> None:
    assert single_swap.first_probes == {"ping": True, "ready": False}


def test_a_one_step_swap_halts_the_roll_at_the_first_replica_while_writes_go_on(
    single_swap: SingleSwap,
) -> None:
    # Not a safe rotation (that replica does not replicate), but no outage: the other one still does.
    assert single_swap.write_error_at_first is None


def test_a_one_step_swap_rolled_past_an_unready_replica_stops_every_write(single_swap: SingleSwap) -> None:
    # The finding, reproduced (a readiness that only pings let the roll go on): rolled replicas
    # cannot authenticate to the master, which then has no replica and refuses writes
    # (min-replicas-to-write 1).
    assert (single_swap.links, single_swap.replica_logs_wrongpass, single_swap.write_error) == (
        ["down", "down"],
        True,
        "NOREPLICAS",
    )
