"""Redis settings (`perfstack:redis`): image, memory policy, persistence, replication."""

import math
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from components.platform.images import IMAGES
from components.platform.settings import ConfigModel, ImageTag, MemoryQuantity, Resources, memory_bytes

_REDIS_SIZE = re.compile(r"^(\d+)(b|k|kb|m|mb|g|gb)?$", re.IGNORECASE)
_REDIS_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1024,
    "m": 1000**2,
    "mb": 1024**2,
    "g": 1000**3,
    "gb": 1024**3,
}


def redis_size_bytes(size: str) -> int:
    """Bytes in a redis.conf size ('512mb' -> 536870912; 'm' is 10^6, 'mb' 2^20, as Redis reads them)."""
    match = _REDIS_SIZE.match(size)
    if not match:
        raise ValueError(f"not a Redis size: {size!r}")
    return int(match.group(1)) * _REDIS_UNITS[(match.group(2) or "").lower()]


def _redis_size(value: str) -> str:
    match = _REDIS_SIZE.match(value)
    if not match or int(match.group(1)) == 0:
        raise ValueError(
            f"{value!r} is not a Redis memory size: use a positive number with kb, mb or gb ('512mb')"
        )
    return value.lower()


RedisSize = Annotated[str, AfterValidator(_redis_size)]

MIB = 1024**2


STORAGE_PER_MAXMEMORY = 3.5
"""Volume size per byte of `maxmemory` that persistence needs (3.2 measured, and a margin)."""

FORK_MEMORY_PER_MAXMEMORY = 2.5
"""Memory limit per byte of `maxmemory` for a Redis that forks (AOF rewrites, RDB snapshots, replica
syncs). Full, Redis holds about 1.15 x `maxmemory` resident; under a saturating write load the fork's
copy-on-write duplicates nearly all of it (2.2 x measured, tests/foundation/test_redis_memory.py)."""


class SentinelConfig(ConfigModel):
    """Redis Sentinel: watches the data nodes and promotes a replica when the master fails."""

    sentinels: Annotated[int, Field(ge=3, le=7)] = 3
    """Number of Sentinels (their own StatefulSet); an odd number avoids split votes."""
    quorum: Annotated[int, Field(ge=2)] = 2
    """Sentinels that must agree the master is down before a failover starts."""
    down_after_ms: Annotated[int, Field(ge=1000)] = 5000
    """How long the master must be unreachable before a Sentinel calls it down."""
    failover_timeout_ms: Annotated[int, Field(ge=1000)] = 60000
    """How long a failover may take before another Sentinel retries it."""
    min_replicas_to_write: Annotated[int, Field(ge=0)] = 1
    """The master refuses writes unless this many replicas are connected: bounds what a failover can lose."""
    min_replicas_max_lag: Annotated[int, Field(ge=1)] = 10
    """Seconds a replica may lag and still count for `minReplicasToWrite`."""


class RedisConfig(ConfigModel):
    """The Redis cache (official `redis` image)."""

    image: str = IMAGES["redis"].repository
    """Image repository (official image; Bitnami's free images are frozen)."""
    version: ImageTag = IMAGES["redis"].version
    """Image tag."""
    port: Annotated[int, Field(ge=1, le=65535)] = 6379
    """Port Redis listens on."""
    maxmemory: RedisSize = "512mb"
    """Memory Redis may use for data before it evicts (redis.conf `maxmemory`)."""
    maxmemory_policy: Literal[
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
        "noeviction",
    ] = "allkeys-lru"
    """Which keys go when `maxmemory` is reached; a cache evicts the least recently used."""
    maxmemory_samples: Annotated[int, Field(ge=1, le=64)] = 5
    """Keys sampled per eviction: more is closer to true LRU and costs more CPU."""
    appendonly: bool = True
    """Append-only file persistence: every write is logged and replayed on restart."""
    appendfsync: Literal["always", "everysec", "no"] = "everysec"
    """How often the AOF is flushed to disk; `everysec` loses at most about one second."""
    rdb_snapshots: bool = False
    """RDB snapshots (900s/1, 300s/10, 60s/10000 changes) instead of the AOF. Not both: each forks on
    its own schedule, so together they fork back to back under write load (8 forks in 150 s measured),
    and every fork can double Redis' memory. The AOF is the default because its base is an RDB file
    (`aof-use-rdb-preamble`), so a restart loads as fast as from a snapshot and loses at most a
    second of writes."""
    storage_size: MemoryQuantity = "2Gi"
    """Size of the data volume (PVC on Kubernetes). With persistence on it must hold at least
    `STORAGE_PER_MAXMEMORY` (3.5) x `maxmemory`: on disk Redis peaked at 3.2 x `maxmemory`, with the
    AOF's base and increment, the new base an AOF rewrite writes beside them, and an RDB snapshot
    (snapshots are off by default now, which leaves the margin to the files a replica sync writes).
    The default is 4 x the default `maxmemory`."""
    resources: Resources | None = None
    """Container resources. Unset: derived from `maxmemory` (memory request 1.25 x, what a full
    cache holds; limit `FORK_MEMORY_PER_MAXMEMORY` (2.5) x; CPU 100m..1), because a fork that
    rewrites the AOF, writes a snapshot or syncs a replica can copy every page of the data while the
    writes go on, and a kill at the limit loses the cache (and on Kubernetes fails the master over).
    When set, the memory limit must be at least 2.5 x `maxmemory` if Redis forks (persistence on, or
    sentinel mode), and larger than `maxmemory` otherwise."""
    exporter_version: ImageTag = IMAGES["redis_exporter"].version
    """Tag of the `oliver006/redis_exporter` image that exposes Redis metrics."""
    mode: Literal["standalone", "sentinel"] = "standalone"
    """`standalone`: one node. `sentinel`: replicated data nodes with Sentinel failover (Kubernetes only)."""
    replicas: Annotated[int, Field(ge=1, le=9)] = 1
    """Data nodes: one master and the rest replicas (sentinel mode needs at least 2)."""
    sentinel: SentinelConfig = Field(default_factory=SentinelConfig)
    """Sentinel settings (sentinel mode)."""

    @model_validator(mode="after")
    def _replication_fits_mode(self) -> "RedisConfig":
        if self.mode == "standalone" and self.replicas != 1:
            raise ValueError("replicas: standalone mode runs exactly 1 node; use mode: sentinel for replicas")
        if self.mode == "sentinel" and self.replicas < 2:
            raise ValueError("replicas: sentinel mode needs at least 2 data nodes (one master, one replica)")
        if self.mode == "sentinel" and not self.sentinel.quorum <= self.sentinel.sentinels:
            raise ValueError("sentinel.quorum: must not exceed sentinel.sentinels")
        if self.mode == "sentinel" and self.sentinel.min_replicas_to_write >= self.replicas:
            raise ValueError(
                "sentinel.minReplicasToWrite: must be less than replicas, or one lost node stops writes"
            )
        return self

    @model_validator(mode="after")
    def _one_persistence(self) -> "RedisConfig":
        if self.appendonly and self.rdb_snapshots:
            raise ValueError(
                "rdbSnapshots: choose it or appendonly, not both: their forks come back to back under "
                "write load and each can double Redis' memory (the AOF's RDB preamble already restarts fast)"
            )
        return self

    @property
    def forks(self) -> bool:
        """Whether Redis forks a child process: to persist, or to sync a replica."""
        return self.appendonly or self.rdb_snapshots or self.mode == "sentinel"

    @model_validator(mode="after")
    def _limit_fits_the_data(self) -> "RedisConfig":
        if self.resources is None:
            return self
        limit, maxmemory = memory_bytes(self.resources.memory_limit), redis_size_bytes(self.maxmemory)
        if self.forks and limit < FORK_MEMORY_PER_MAXMEMORY * maxmemory:
            raise ValueError(
                f"resources.memoryLimit: {self.resources.memory_limit} is too small for maxmemory "
                f"{self.maxmemory}: Redis forks (persistence or replication) and a fork can copy every "
                f"page of the data, so the limit must be at least {FORK_MEMORY_PER_MAXMEMORY} x maxmemory "
                f"({math.ceil(FORK_MEMORY_PER_MAXMEMORY * maxmemory / MIB)}Mi)"
            )
        if limit <= maxmemory:
            raise ValueError(
                f"resources.memoryLimit: {self.resources.memory_limit} must be larger than "
                f"maxmemory ({self.maxmemory}), or the container is killed before Redis evicts"
            )
        return self

    @model_validator(mode="after")
    def _volume_holds_the_files(self) -> "RedisConfig":
        if not (self.appendonly or self.rdb_snapshots):
            return self
        needed = STORAGE_PER_MAXMEMORY * redis_size_bytes(self.maxmemory)
        if memory_bytes(self.storage_size) < needed:
            raise ValueError(
                f"storageSize: {self.storage_size} cannot hold the files of {self.maxmemory} of data: with "
                f"persistence on it needs at least {STORAGE_PER_MAXMEMORY} x maxmemory "
                f"({math.ceil(needed / MIB)}Mi: AOF base and increment, a rewrite's new base, an RDB "
                "snapshot)"
            )
        return self

    @property
    def container_resources(self) -> Resources:
        """`resources`, or the default derived from `maxmemory` (see `resources`)."""
        if self.resources is not None:
            return self.resources
        maxmemory = redis_size_bytes(self.maxmemory)
        return Resources(
            cpu_request="100m",
            cpu_limit="1",
            memory_request=f"{math.ceil(maxmemory * 1.25 / MIB)}Mi",
            memory_limit=f"{math.ceil(maxmemory * FORK_MEMORY_PER_MAXMEMORY / MIB)}Mi",
        )
