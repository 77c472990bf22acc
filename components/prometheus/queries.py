"""The PromQL of the app's per-track signals over any window: one definition for two readers.

The recording rules (components/prometheus/rules.py) evaluate these over
`alerts.rateWindow`; the rollout judge (`python -m rollout`) evaluates the same
expressions over its analysis interval through Prometheus' HTTP API, on the raw
series of the metrics contract, so a verdict can be replayed at any moment
Prometheus still holds. Every expression aggregates `by (service, track)`, and
request counts, 5xx share and latency count users' requests only (the routes
of `alerts.excludedRoutes` are left out).
"""

from dataclasses import dataclass

from components.platform.telemetry import APP_UP
from components.prometheus.alerts import AlertsConfig, user_requests

BY = "by (service, track)"
"""The labels every per-track signal keeps."""


@dataclass(frozen=True)
class TrackQueries:
    """PromQL per signal, each giving one sample per (service, track)."""

    request_rate: str
    """User requests per second."""
    error_ratio: str
    """Share of user requests answered 5xx (0 rather than absent when there were none)."""
    p95_latency: str
    """P95 request latency, seconds."""
    p50_latency: str
    """Median request latency, seconds."""
    mean_latency: str
    """Mean request latency, seconds."""
    latency_buckets: str
    """Per-second rate of each latency histogram bucket (cumulative, labelled `le`)."""
    cache_hit_ratio: str
    """Share of cache lookups that hit (0 rather than absent when nothing hit)."""
    token_rate: str
    """LLM tokens per second."""
    tokens_per_request: str
    """LLM tokens per user request."""
    quality: str
    """Average quality score of the track's instances (a gauge: no window)."""
    instances_up: str
    """Instances whose last scrape succeeded (0 when every target of the track is down)."""


def _ratio(part: str, whole: str, window: str) -> str:
    # `or ... * 0` makes the ratio 0 instead of absent when no series matches
    # the part yet (no 5xx ever served, no cache hit ever): an absent ratio would
    # silently disable "hit rate low" and the canary-vs-stable comparison.
    part_rate = f"sum {BY} (rate({part}[{window}]))"
    whole_rate = f"sum {BY} (rate({whole}[{window}]))"
    return f"(\n  {part_rate}\n  or\n  {whole_rate} * 0\n)\n/\n{whole_rate}"


def track_queries(cfg: AlertsConfig, window: str) -> TrackQueries:
    """The per-track signals over `window` (a Prometheus duration such as '5m')."""
    requests = user_requests("http_requests_total", cfg)
    duration_sum = user_requests("http_request_duration_seconds_sum", cfg)
    duration_count = user_requests("http_request_duration_seconds_count", cfg)
    buckets = (
        f"sum by (service, track, le) (rate({user_requests('http_request_duration_seconds_bucket', cfg)}"
        f"[{window}]))"
    )
    request_rate = f"sum {BY} (rate({requests}[{window}]))"
    token_rate = f"sum {BY} (rate(llm_tokens_total[{window}]))"
    return TrackQueries(
        request_rate=request_rate,
        error_ratio=_ratio(user_requests("http_requests_total", cfg, 'code=~"5.."'), requests, window),
        p95_latency=f"histogram_quantile(0.95, {buckets})",
        p50_latency=f"histogram_quantile(0.5, {buckets})",
        mean_latency=(
            f"sum {BY} (rate({duration_sum}[{window}]))\n/\nsum {BY} (rate({duration_count}[{window}]))"
        ),
        latency_buckets=buckets,
        cache_hit_ratio=_ratio('cache_requests_total{result="hit"}', "cache_requests_total", window),
        token_rate=token_rate,
        tokens_per_request=f"(\n  {token_rate}\n)\n/\n(\n  {request_rate}\n)",
        quality=f"avg {BY} (quality_score)",
        instances_up=f"sum {BY} ({APP_UP})",
    )
