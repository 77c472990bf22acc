"""A simulated language model whose costs react to the optimisations the way the runbooks describe.

Without optimisations a typical request (a prompt of about 24 characters)
costs about 45 input + 22 output = 67 tokens, the alert catalog's baseline,
and takes 160-260 ms. Each optimisation has an effect the metrics show:

- PROMPT_OPTIMIZATION: a concise system prompt, 10 input tokens fewer;
- CONTEXT_PRUNING: retrieved context pruned to the best chunks, 8 input tokens fewer;
- MODEL_SELECTION: simple intents go to a fast model: 40-80 ms and 30 % fewer output tokens;
- RESPONSE_CACHING is not the model's concern (see chat.py): a hit costs no model call.

Token counts are a pure function of the prompt, intent and optimisations, so
tests can compare them exactly; latency and quality carry random jitter.
"""

import hashlib
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass

from perfstack_demo.flags import Optimization

SYSTEM_PROMPT_TOKENS = 23
OPTIMIZED_SYSTEM_PROMPT_TOKENS = 13
CONTEXT_TOKENS = 16
PRUNED_CONTEXT_TOKENS = 8
OUTPUT_TOKENS = 20
"""Output tokens before the per-prompt variation of 0..4."""
FAST_MODEL_OUTPUT_SHARE = 0.7
CHARS_PER_TOKEN = 4
"""The usual rule of thumb for English text."""

STANDARD_LATENCY_SECONDS = (0.16, 0.26)
FAST_LATENCY_SECONDS = (0.04, 0.08)
"""Latency ranges that do not overlap, so a test can tell the models apart from any one request."""

BASE_QUALITY = 0.88
QUALITY_JITTER = 0.02
QUALITY_COST: dict[Optimization, float] = {
    Optimization.PROMPT_OPTIMIZATION: 0.005,
    Optimization.CONTEXT_PRUNING: 0.005,
    Optimization.MODEL_SELECTION: 0.01,
}
"""What each optimisation costs in quality when it changes the answer (small, as the runbooks promise)."""

KNOWN_INTENTS: frozenset[str] = frozenset({"simple", "enhance", "complex"})
"""The runbooks' intents; any other is reported as ``other`` so the quality_score labels stay bounded."""
SIMPLE_INTENTS: frozenset[str] = frozenset({"simple", "enhance"})
"""Intents the runbooks' model selection sends to the fast model."""
DEFAULT_INTENT = "simple"

STANDARD_MODEL = "standard"
FAST_MODEL = "fast"

_TEXT = (
    "the cache keeps popular answers close while the canary proves each change with a small share of "
    "users before the stable track takes it and every metric tells whether latency tokens and quality "
    "stayed within their budgets"
)
_WORDS = tuple(_TEXT.split(" "))


def normalise_intent(intent: str | None) -> str:
    """The intent label a request is counted under."""
    if intent is None or not intent.strip():
        return DEFAULT_INTENT
    intent = intent.strip().lower()
    return intent if intent in KNOWN_INTENTS else "other"


def _digest(prompt: str) -> bytes:
    return hashlib.sha256(prompt.encode()).digest()


@dataclass(frozen=True)
class Completion:
    """One simulated model call: what it answers, what it costs, and how long it takes."""

    text: str
    model: str
    input_tokens: int
    output_tokens: int
    quality: float
    latency_seconds: float


class SimulatedModel:
    """Plans completions; the caller spends `latency_seconds` (all at once or while streaming)."""

    def __init__(self, rng: random.Random, latency_scale: float = 1.0) -> None:
        self._rng = rng
        self._latency_scale = latency_scale

    def complete(
        self,
        prompt: str,
        intent: str,
        optimizations: Iterable[Optimization],
        token_multiplier: float = 1.0,
    ) -> Completion:
        """The completion of `prompt` for `intent` with `optimizations` applied."""
        active = frozenset(optimizations)
        fast = Optimization.MODEL_SELECTION in active and intent in SIMPLE_INTENTS
        input_tokens = (
            (
                OPTIMIZED_SYSTEM_PROMPT_TOKENS
                if Optimization.PROMPT_OPTIMIZATION in active
                else SYSTEM_PROMPT_TOKENS
            )
            + (PRUNED_CONTEXT_TOKENS if Optimization.CONTEXT_PRUNING in active else CONTEXT_TOKENS)
            + max(1, math.ceil(len(prompt) / CHARS_PER_TOKEN))
        )
        output_tokens = OUTPUT_TOKENS + _digest(prompt)[0] % 5
        if fast:
            output_tokens = round(output_tokens * FAST_MODEL_OUTPUT_SHARE)
        # Token inflation (a fault) is what a runaway prompt template or a
        # chatty model version would do: both directions grow.
        input_tokens = math.ceil(input_tokens * token_multiplier)
        output_tokens = math.ceil(output_tokens * token_multiplier)

        low, high = FAST_LATENCY_SECONDS if fast else STANDARD_LATENCY_SECONDS
        latency = self._rng.uniform(low, high) * self._latency_scale
        # Model selection changes nothing (and costs nothing) for intents that keep the standard model.
        changed = active - {Optimization.MODEL_SELECTION} | (
            {Optimization.MODEL_SELECTION} if fast else set()
        )
        cost = sum(QUALITY_COST.get(opt, 0.0) for opt in changed)
        quality = BASE_QUALITY - cost + self._rng.uniform(-QUALITY_JITTER, QUALITY_JITTER)
        return Completion(
            text=self._text(prompt, output_tokens),
            model=FAST_MODEL if fast else STANDARD_MODEL,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            quality=round(min(1.0, max(0.0, quality)), 4),
            latency_seconds=latency,
        )

    @staticmethod
    def _text(prompt: str, words: int) -> str:
        # One word per output token keeps the fake answer's length honest.
        start = int.from_bytes(_digest(prompt)[1:3], "big")
        return " ".join(_WORDS[(start + i) % len(_WORDS)] for i in range(words)).capitalize() + "."
