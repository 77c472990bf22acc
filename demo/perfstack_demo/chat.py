"""The chat API's logic: flags, faults, cache and simulated model, and what each request reports.

A request goes through, in order: the injected latency, the injected error,
the cache lookup (when response caching applies to the user), the model call
on a miss. Metrics record what happened: tokens only for model calls (a cache
hit costs none), quality for every answer.
"""

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

from opentelemetry.trace import Span, Tracer
from pydantic import BaseModel, ConfigDict, Field

from perfstack_demo.cache import CachedAnswer, ResponseCache
from perfstack_demo.faults import FaultStore
from perfstack_demo.flags import FeatureFlags, Optimization
from perfstack_demo.metrics import AppMetrics
from perfstack_demo.model import SimulatedModel, normalise_intent
from perfstack_demo.tracing import TRACK_ATTRIBUTE

STREAM_WORDS_PER_CHUNK = 4
FIRST_CHUNK_SHARE = 0.3
"""Share of the model latency spent before the first streamed chunk (time to first token)."""


class ChatRequest(BaseModel):
    """The body of POST /chat and POST /chat/stream."""

    model_config = ConfigDict(extra="ignore")

    prompt: str = Field(min_length=1, max_length=8000)
    intent: str | None = Field(default=None, max_length=64)


class InjectedError(Exception):
    """The error-ratio fault chose this request to fail."""


@dataclass(frozen=True)
class Answer:
    """An answer ready to send, and what its sending costs."""

    text: str
    intent: str
    model: str
    cached: bool
    input_tokens: int
    output_tokens: int
    quality: float
    """The quality reported (a quality fault overrides the model's)."""
    model_quality: float
    """The model's own quality: what the cache keeps, so a fault does not outlive itself in cached answers."""
    optimizations: frozenset[Optimization]
    delay_seconds: float
    """Simulated model time still to spend while sending the answer (0 for a cache hit)."""

    def body(self, *, track: str, version: str) -> dict[str, object]:
        """The JSON body of a /chat answer (and the last event of a stream)."""
        return {
            "answer": self.text,
            "intent": self.intent,
            "model": self.model,
            "cached": self.cached,
            "quality": self.quality,
            "usage": {
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "total_tokens": self.input_tokens + self.output_tokens,
            },
            "optimizations": sorted(self.optimizations),
            "track": track,
            "version": version,
        }


class ChatService:
    """Answers chat requests for one app instance."""

    def __init__(
        self,
        *,
        flags: FeatureFlags,
        faults: FaultStore,
        cache: ResponseCache,
        model: SimulatedModel,
        metrics: AppMetrics,
        tracer: Tracer,
        rng: random.Random,
        track: str,
    ) -> None:
        self._flags = flags
        self._faults = faults
        self._cache = cache
        self._model = model
        self._metrics = metrics
        self._tracer = tracer
        self._rng = rng
        self._track = track

    async def prepare(self, request: ChatRequest, user_id: str) -> Answer:
        """Apply the faults, look the answer up, plan the model call; raises InjectedError."""
        faults = self._faults.current
        intent = normalise_intent(request.intent)
        active = self._flags.active_for(user_id)
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.error_ratio and self._rng.random() < faults.error_ratio:
            raise InjectedError("injected error (demo fault)")

        cached: CachedAnswer | None = None
        if Optimization.RESPONSE_CACHING in active:
            with self._tracer.start_as_current_span("cache.lookup") as span:
                cached = await self._cache.get(request.prompt, intent, bypass=faults.cache_bypass)
                span.set_attribute("perfstack.cache.hit", cached is not None)
                span.set_attribute("perfstack.cache.bypass", faults.cache_bypass)
        if cached is not None:
            return Answer(
                text=cached.text,
                intent=intent,
                model=cached.model,
                cached=True,
                input_tokens=0,
                output_tokens=0,
                quality=cached.quality if faults.quality_score is None else faults.quality_score,
                model_quality=cached.quality,
                optimizations=active,
                delay_seconds=0.0,
            )

        completion = self._model.complete(request.prompt, intent, active, faults.token_multiplier)
        return Answer(
            text=completion.text,
            intent=intent,
            model=completion.model,
            cached=False,
            input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens,
            quality=completion.quality if faults.quality_score is None else faults.quality_score,
            model_quality=completion.quality,
            optimizations=active,
            delay_seconds=completion.latency_seconds,
        )

    async def generate(self, request: ChatRequest, answer: Answer) -> None:
        """Spend the model time of `answer` in one go, then record it."""
        if not answer.cached:
            with self._tracer.start_as_current_span("llm.generate") as span:
                self._describe_model_call(span, answer)
                await asyncio.sleep(answer.delay_seconds)
        await self.finish(request, answer)

    async def stream(self, request: ChatRequest, answer: Answer) -> AsyncIterator[str]:
        """The words of `answer` in chunks, paced over its model time; records it at the end."""
        words = answer.text.split()
        chunks = [
            " ".join(words[i : i + STREAM_WORDS_PER_CHUNK])
            for i in range(0, len(words), STREAM_WORDS_PER_CHUNK)
        ]
        if answer.cached:
            for chunk in chunks:
                yield chunk
        else:
            # A span started (not made current) here and ended in `finally`: the
            # generator yields between chunks, and a current span would have to
            # be detached in a context the generator no longer owns.
            span = self._tracer.start_span("llm.generate")
            try:
                self._describe_model_call(span, answer)
                first = answer.delay_seconds * FIRST_CHUNK_SHARE
                rest = (answer.delay_seconds - first) / max(1, len(chunks) - 1)
                for index, chunk in enumerate(chunks):
                    await asyncio.sleep(first if index == 0 else rest)
                    yield chunk
            finally:
                span.end()
        await self.finish(request, answer)

    async def finish(self, request: ChatRequest, answer: Answer) -> None:
        """Record an answer that was sent: quality, tokens of a model call, and the cache entry."""
        self._metrics.set_quality(answer.intent, answer.quality)
        if answer.cached:
            return
        self._metrics.count_tokens(answer.input_tokens, answer.output_tokens)
        if Optimization.RESPONSE_CACHING in answer.optimizations and not self._faults.current.cache_bypass:
            await self._cache.put(
                request.prompt,
                answer.intent,
                CachedAnswer(text=answer.text, model=answer.model, quality=answer.model_quality),
            )

    def _describe_model_call(self, span: Span, answer: Answer) -> None:
        span.set_attribute(TRACK_ATTRIBUTE, self._track)
        span.set_attribute("gen_ai.request.model", answer.model)
        span.set_attribute("gen_ai.usage.input_tokens", answer.input_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", answer.output_tokens)
        span.set_attribute("perfstack.intent", answer.intent)
