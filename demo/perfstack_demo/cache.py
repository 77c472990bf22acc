"""The response cache: answers kept in Redis, keyed by service, version, intent and normalised prompt.

The version is part of the key so that a canary never serves the stable
version's answers (and the other way round): each track's hit rate is its own.
Every lookup counts in ``cache_requests_total``; Redis being down counts as a
miss, because the request then pays for a model call like any miss.
"""

import contextlib
import hashlib
import logging

from pydantic import BaseModel, ValidationError

from perfstack_demo.metrics import AppMetrics
from perfstack_demo.redis_link import RedisLink, RedisUnavailable

logger = logging.getLogger(__name__)

KEY_PREFIX = "perfstack-demo:cache"


class CachedAnswer(BaseModel):
    """What the cache keeps of an answer."""

    text: str
    model: str
    quality: float


def normalise_prompt(prompt: str) -> str:
    """The prompt as the cache compares it: case and runs of whitespace do not matter."""
    return " ".join(prompt.lower().split())


class ResponseCache:
    """Lookups and stores of answers in Redis."""

    def __init__(
        self, redis: RedisLink, metrics: AppMetrics, *, service: str, version: str, ttl_seconds: int
    ) -> None:
        self._redis = redis
        self._metrics = metrics
        self._namespace = f"{KEY_PREFIX}:{service}:{version}"
        self._ttl_seconds = ttl_seconds

    def key(self, prompt: str, intent: str) -> str:
        """The Redis key of `prompt`'s answer for `intent` (hashed: prompts are long, may hold anything)."""
        digest = hashlib.sha256(f"{intent}\n{normalise_prompt(prompt)}".encode()).hexdigest()
        return f"{self._namespace}:{digest}"

    async def get(self, prompt: str, intent: str, *, bypass: bool = False) -> CachedAnswer | None:
        """The cached answer, or None (a miss); `bypass` makes it a miss without asking Redis."""
        answer: CachedAnswer | None = None
        if not bypass:
            try:
                raw = await self._redis.call(lambda client: client.get(self.key(prompt, intent)))
            except RedisUnavailable:
                raw = None
            if raw is not None:
                try:
                    answer = CachedAnswer.model_validate_json(raw)
                except ValidationError:
                    logger.warning("ignoring a malformed cache entry")
        self._metrics.count_cache("miss" if answer is None else "hit")
        return answer

    async def put(self, prompt: str, intent: str, answer: CachedAnswer) -> None:
        """Keep `answer` for the TTL; a Redis outage only means it is not kept."""
        with contextlib.suppress(RedisUnavailable):
            await self._redis.call(
                lambda client: client.set(
                    self.key(prompt, intent), answer.model_dump_json(), ex=self._ttl_seconds
                )
            )
