"""The metrics contract of perfstack apps (DESIGN.md), in a registry of the app's own.

| metric                          | type      | labels                  |
| ------------------------------- | --------- | ----------------------- |
| http_request_duration_seconds   | histogram | track, route            |
| http_requests_total             | counter   | track, route, code      |
| cache_requests_total            | counter   | result = hit / miss     |
| llm_tokens_total                | counter   | direction, track        |
| quality_score                   | gauge     | intent                  |

Alerts and dashboards are written against exactly these names and labels.
"""

from typing import Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

LATENCY_BUCKETS: tuple[float, ...] = (
    0.05,
    0.1,
    0.15,
    0.2,
    0.25,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    1.25,
    1.5,
    1.75,
    2.0,
    2.5,
    3.0,
    4.0,
    5.0,
    7.5,
    10.0,
)
"""Bucket bounds in seconds. The alert and dashboard thresholds (p95 at 1.5, 2 and 2.5 s) are bucket
bounds themselves, so histogram_quantile tells "above" from "below" them exactly, and the healthy
range (tens to hundreds of ms) is finely resolved."""

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""Content type of the /metrics answer (Prometheus text format)."""

# The *_created series the client adds to every counter and histogram are
# one extra series each that nothing here reads.
disable_created_metrics()


class AppMetrics:
    """The contract metrics of one app instance; `track` is this instance's track."""

    def __init__(self, track: str) -> None:
        self.track = track
        self.registry = CollectorRegistry()
        # The process and runtime collectors the default registry would have had.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.request_duration = Histogram(
            "http_request_duration_seconds",
            "Duration of HTTP requests (probes and /metrics excluded), to the last byte of the body.",
            ["track", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered (probes and /metrics excluded), by route template and status code.",
            ["track", "route", "code"],
            registry=self.registry,
        )
        self.cache_requests = Counter(
            "cache_requests_total",
            "Response cache lookups by result.",
            ["result"],
            registry=self.registry,
        )
        self.llm_tokens = Counter(
            "llm_tokens_total",
            "Tokens sent to (input) and received from (output) the model.",
            ["direction", "track"],
            registry=self.registry,
        )
        self.quality = Gauge(
            "quality_score",
            "Quality (0..1) of the latest answer, by intent.",
            ["intent"],
            registry=self.registry,
        )
        # Series that rates and ratios divide by exist from the start at 0,
        # so a fresh instance shows "no hits yet" rather than "no data".
        for result in ("hit", "miss"):
            self.cache_requests.labels(result=result)
        for direction in ("input", "output"):
            self.llm_tokens.labels(direction=direction, track=track)

    def observe_request(self, route: str, code: int, seconds: float) -> None:
        """Count one answered request of `route` (a template) and its duration."""
        self.request_duration.labels(track=self.track, route=route).observe(seconds)
        self.requests.labels(track=self.track, route=route, code=str(code)).inc()

    def count_cache(self, result: Literal["hit", "miss"]) -> None:
        """Count one cache lookup."""
        self.cache_requests.labels(result=result).inc()

    def count_tokens(self, input_tokens: int, output_tokens: int) -> None:
        """Count the tokens of one model call."""
        self.llm_tokens.labels(direction="input", track=self.track).inc(input_tokens)
        self.llm_tokens.labels(direction="output", track=self.track).inc(output_tokens)

    def set_quality(self, intent: str, score: float) -> None:
        """Report the quality of the latest answer for `intent`."""
        self.quality.labels(intent=intent).set(score)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)
