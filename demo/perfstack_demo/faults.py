"""Injected faults (a demo feature): per track, shared between instances through Redis.

The dev stack exposes only the router, which sends a request to either track,
so a fault for the canary must be settable from any instance. A PUT writes the
track's faults to Redis under a key per service and track; every instance
re-reads its own track's key about once a second (``refresh``) and keeps the
last faults it knew while Redis is unreachable.

``DEMO_FAULTS`` (JSON) gives an instance faults of its own at start: they are
the baseline that applies while Redis holds no faults for the track, so
deleting the shared faults returns an instance to its baseline.
"""

import asyncio
import logging
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from perfstack_demo.redis_link import RedisLink, RedisUnavailable

logger = logging.getLogger(__name__)

Track = Literal["stable", "canary"]
"""The two tracks of a service."""

TRACKS: tuple[Track, ...] = ("stable", "canary")

KEY_PREFIX = "perfstack-demo:faults"


class Faults(BaseModel):
    """What to break on a track. The defaults break nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_ms: int = Field(
        default=0, ge=0, le=60_000, description="extra latency added to every API request"
    )
    error_ratio: float = Field(default=0.0, ge=0.0, le=1.0, description="share of API requests answered 500")
    quality_score: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="quality reported for every answer instead of the simulated one",
    )
    cache_bypass: bool = Field(default=False, description="skip the response cache: every lookup is a miss")
    token_multiplier: float = Field(
        default=1.0, ge=1.0, le=100.0, description="token inflation of model calls"
    )


NO_FAULTS = Faults()


def faults_key(service: str, track: Track) -> str:
    """The Redis key holding `service`'s faults for `track`."""
    return f"{KEY_PREFIX}:{service}:{track}"


class FaultStore:
    """The faults this instance applies now, and the shared per-track faults in Redis."""

    def __init__(self, redis: RedisLink, *, service: str, track: Track, baseline: Faults) -> None:
        self._redis = redis
        self._service = service
        self._track = track
        self._baseline = baseline
        self.current: Faults = baseline
        """The faults this instance applies to its requests now."""

    async def read(self, track: Track) -> Faults | None:
        """The shared faults of `track`, None when there are none; raises RedisUnavailable."""
        raw = await self._redis.call(lambda client: client.get(faults_key(self._service, track)))
        if raw is None:
            return None
        try:
            return Faults.model_validate_json(raw)
        except ValidationError:
            # Someone wrote the key by hand: ignoring it is kinder than crashing every instance.
            logger.warning("ignoring malformed faults in Redis for track %s", track)
            return None

    async def refresh(self) -> None:
        """Re-read this instance's track; on a Redis error keep the faults applied so far."""
        if not self._redis.enabled:
            return
        try:
            shared = await self.read(self._track)
        except RedisUnavailable:
            return
        self._apply(self._baseline if shared is None else shared)

    async def run(self, interval_seconds: float) -> None:
        """Refresh every `interval_seconds` until cancelled."""
        while True:
            await asyncio.sleep(interval_seconds)
            try:
                await self.refresh()
            except Exception:
                # A bug here must not silently end the refresher for the life of the process.
                logger.exception("refreshing the faults failed")

    async def put(self, track: Track, faults: Faults) -> bool:
        """Set `track`'s faults for every instance; True when shared through Redis.

        When Redis cannot take them, faults for this instance's own track still
        apply here (False); for the other track it raises RedisUnavailable.
        """
        shared = False
        try:
            await self._redis.call(
                lambda client: client.set(faults_key(self._service, track), faults.model_dump_json())
            )
            shared = True
        except RedisUnavailable:
            if track != self._track:
                raise
        if track == self._track:
            self._apply(faults)
        return shared

    async def delete(self, track: Track) -> bool:
        """Clear `track`'s shared faults (instances go back to their baseline); True when done in Redis."""
        shared = False
        try:
            await self._redis.call(lambda client: client.delete(faults_key(self._service, track)))
            shared = True
        except RedisUnavailable:
            if track != self._track:
                raise
        if track == self._track:
            self._apply(self._baseline)
        return shared

    def _apply(self, faults: Faults) -> None:
        if faults != self.current:
            logger.info("track %s faults now %s", self._track, faults.model_dump_json())
        self.current = faults
