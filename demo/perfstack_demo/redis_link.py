"""The app's Redis client, direct or through Sentinel, and what the last command showed of its health.

Redis is a cache here: every caller is ready for it to be missing. Timeouts
are short and there is at most one immediate retry (enough to replace a
pooled connection that a Redis restart or a failover closed), so an outage
costs a request milliseconds, not the client's default backoff of seconds.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

RedisStatus = Literal["disabled", "unknown", "up", "down"]
"""``disabled``: no Redis configured; ``unknown``: not used yet; then what the last command showed."""

T = TypeVar("T")


class RedisUnavailable(Exception):
    """Redis is not configured or did not answer."""


class RedisLink:
    """One Redis client (or none) plus the health seen by the last command sent through it."""

    def __init__(self, client: Redis | None, sentinel: Sentinel | None = None) -> None:
        self.client = client
        self.sentinel = sentinel
        self.status: RedisStatus = "disabled" if client is None else "unknown"

    @property
    def enabled(self) -> bool:
        """Whether a Redis is configured at all."""
        return self.client is not None

    async def call(self, command: Callable[[Redis], Awaitable[T]]) -> T:
        """Run `command` on the client; RedisUnavailable when disabled or on any Redis or network error."""
        if self.client is None:
            raise RedisUnavailable("no Redis configured")
        try:
            result = await command(self.client)
        except (RedisError, OSError, TimeoutError) as exc:
            self._mark("down", exc)
            raise RedisUnavailable(str(exc)) from exc
        self._mark("up", None)
        return result

    def _mark(self, status: RedisStatus, exc: BaseException | None) -> None:
        # Log transitions only: the fault refresher would otherwise log an outage every second.
        if status != self.status:
            if status == "down":
                logger.warning("Redis unreachable (%s: %s); serving without cache", type(exc).__name__, exc)
            else:
                logger.info("Redis reachable")
        self.status = status

    async def aclose(self) -> None:
        """Close the client's connections (and the Sentinel clients')."""
        if self.client is not None:
            await self.client.aclose()
        if self.sentinel is not None:
            await self.sentinel.aclose()


def connect(
    *,
    host: str | None,
    port: int,
    password: str | None,
    sentinels: tuple[tuple[str, int], ...],
    master_name: str | None,
    timeout_seconds: float,
) -> RedisLink:
    """A RedisLink for the configured Redis; no I/O happens until the first command.

    With `sentinels` (and `master_name`) the client asks the Sentinels for the
    current master on every new connection, so it follows a failover; perfstack's
    Sentinels require the same password as the data nodes. Without either a
    host or Sentinels the link is disabled.
    """
    if sentinels:
        if not master_name:
            raise ValueError("REDIS_SENTINELS needs REDIS_MASTER_NAME")
        sentinel = Sentinel(
            list(sentinels),
            sentinel_kwargs={
                "password": password,
                "socket_timeout": timeout_seconds,
                "socket_connect_timeout": timeout_seconds,
                # Sentinel.discover_master already tries every Sentinel in turn.
                "retry": Retry(NoBackoff(), 0),
            },
            password=password,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 1),
        )
        return RedisLink(sentinel.master_for(master_name), sentinel)
    if host:
        return RedisLink(
            Redis(
                host=host,
                port=port,
                password=password,
                socket_timeout=timeout_seconds,
                socket_connect_timeout=timeout_seconds,
                retry=Retry(NoBackoff(), 1),
            )
        )
    return RedisLink(None)
