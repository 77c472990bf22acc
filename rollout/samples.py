"""What the judge knows of a track in one analysis window."""

from dataclasses import dataclass


@dataclass(frozen=True)
class TrackSample:
    """One track's signals over the analysis window (None: the track reports no such series)."""

    requests: float
    """User requests in the window (probes and scrapes excluded)."""
    instances_up: int
    """Instances whose last scrape succeeded."""
    error_ratio: float | None = None
    """Share of the window's user requests answered 5xx."""
    p95_s: float | None = None
    """P95 latency in the window, seconds."""
    buckets: tuple[tuple[float, float], ...] = ()
    """The latency histogram over the window: (upper bound `le`, cumulative requests), rising, +Inf last."""
    quality: float | None = None
    """Average quality score of the track's instances."""
    cache_hit_ratio: float | None = None
    """Share of cache lookups that hit in the window."""
    tokens_per_request: float | None = None
    """LLM tokens per user request in the window."""

    @property
    def errors(self) -> float:
        """5xx answers in the window."""
        return (self.error_ratio or 0.0) * self.requests


@dataclass(frozen=True)
class ErrorBudget:
    """What is left of one objective's error budget over the SLO's window (both tracks together)."""

    slo: str
    """The indicator: availability or latency."""
    window: str
    """The SLO's window, e.g. 30d."""
    remaining: float | None
    """1 untouched, 0 spent, below 0 overspent; None when the window holds no request."""
    requests: float
    """User requests in the window."""


@dataclass(frozen=True)
class ServiceSamples:
    """Both tracks of one service; a track is None when Prometheus holds no series of it at all."""

    stable: TrackSample | None
    canary: TrackSample | None
    budgets: tuple[ErrorBudget, ...] = ()
    """The service's error budgets, one per objective (none without `slo`)."""
