"""Synthetic app series of the metrics contract, as timestamped OpenMetrics text (pure: no I/O).

`openmetrics(phases)` describes what Prometheus would have scraped from every
app instance, every `step_s` seconds, while each phase's traffic held: the
series of demo/perfstack_demo/metrics.py (with its latency buckets) plus the
target labels scraping adds (`job`, `instance`, `service`, `track`) and `up`.
`promtool tsdb create-blocks-from openmetrics` turns the text into TSDB blocks
a real Prometheus serves (tests/rollout/conftest.py).

Counter increments are computed in exact fractions from the decimal values
given (0.05 is 1/20, not the nearest binary float), so with round inputs every
counter value is a round number and expected rates are easy to state.
"""

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from demo.perfstack_demo.metrics import LATENCY_BUCKETS

JOB = "app"
"""The scrape job of app targets (components/prometheus/config.py names it so)."""
USER_ROUTE = "/chat"
"""The route users' requests go to."""
PROBE_ROUTE = "/health"
"""The probe route: its requests are counted like any other, and the queries must leave them out."""
PROBE_LATENCY_S = 0.002
"""Latency of every probe: far below any user latency, so counting probes would visibly pull it down."""
QUALITY_INTENT = "chat"
"""The `intent` label of the quality gauge."""
INSTANCE_PORT = 8080
"""Port in the `instance` label (the demo app's default)."""

Labels = tuple[tuple[str, str], ...]
"""Label pairs in output order."""


@dataclass(frozen=True)
class TrackTraffic:
    """One track of one service, constant while a phase lasts.

    Requests and cache lookups are spread evenly over the instances that are up;
    instances that are down report `up` 0 and nothing else.
    """

    rps: float
    """User requests per second (all instances together), on USER_ROUTE."""
    error_ratio: float = 0.0
    """Share of user requests answered code="500"; the rest are "200"."""
    latency_s: float = 0.1
    """Latency of every user request; it lands in the first bucket whose `le` is >= it."""
    quality: float | None = None
    """Value of every up instance's quality gauge; None: no quality series."""
    cache_hit_ratio: float | None = None
    """Share of cache lookups (one per user request) that hit; None: no cache series."""
    tokens_per_request: float | None = None
    """LLM tokens per user request, half input and half output; None: no token series."""
    instances: int = 1
    """Instances of the track, each with its own `instance` label."""
    instances_up: int = 1
    """How many of them (the first ones) are up; the rest have up=0 and no app series."""
    probe_rps: float = 1.0
    """Probe requests per second (all up instances together) on PROBE_ROUTE, code 200."""

    def __post_init__(self) -> None:
        # A typo'd scenario (a ratio of 5 meaning 5 %) would otherwise produce
        # plausible but wrong series, and a test that agrees with them.
        checks = {
            "rps >= 0": self.rps >= 0,
            "0 <= error_ratio <= 1": 0 <= self.error_ratio <= 1,
            "latency_s >= 0": self.latency_s >= 0,
            "0 <= cache_hit_ratio <= 1": self.cache_hit_ratio is None or 0 <= self.cache_hit_ratio <= 1,
            "tokens_per_request >= 0": self.tokens_per_request is None or self.tokens_per_request >= 0,
            "0 <= instances_up <= instances": 0 <= self.instances_up <= self.instances,
            "probe_rps >= 0": self.probe_rps >= 0,
        }
        failed = [rule for rule, ok in checks.items() if not ok]
        if failed:
            raise ValueError(f"{self}: violates {', '.join(failed)}")


@dataclass(frozen=True)
class Phase:
    """A span of time [start, end) in unix seconds and the traffic of each (service, track) in it.

    A (service, track) absent from `tracks` emits nothing during the phase (a
    canary that has no instance yet, say); its counters resume where they were
    if it comes back.
    """

    start: int
    end: int
    tracks: dict[tuple[str, str], TrackTraffic]

    def sample_times(self, step_s: int) -> range:
        """The scrape times inside the phase: start, start + step_s, ... before end."""
        return range(self.start, self.end, step_s)


def latency_bucket(latency_s: float) -> tuple[float, float]:
    """The histogram bucket (lower, upper] that a request of `latency_s` lands in (upper may be inf)."""
    lower = 0.0
    for bound in LATENCY_BUCKETS:
        if latency_s <= bound:
            return lower, bound
        lower = bound
    return lower, math.inf


def instance_label(service: str, track: str, index: int) -> str:
    """The `instance` label of instance `index` (from 0) of a track."""
    return f"{service}-{track}-{index}:{INSTANCE_PORT}"


def _exact(value: float) -> Fraction:
    # Through the decimal text, so 0.05 counts as 1/20 and sums stay exact.
    return Fraction(repr(value))


def _labels(labels: Labels) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{name}="{escape(value)}"' for name, value in labels) + "}"


def _le(bound: float) -> str:
    # The client library's spelling: 0.05, 1.0, +Inf.
    return "+Inf" if math.isinf(bound) else repr(float(bound))


class _Text:
    """OpenMetrics lines grouped as the format requires: by family, then by metric, then by time."""

    FAMILIES = (
        ("up", "gauge"),
        ("http_requests", "counter"),
        ("http_request_duration_seconds", "histogram"),
        ("cache_requests", "counter"),
        ("llm_tokens", "counter"),
        ("quality_score", "gauge"),
    )

    def __init__(self) -> None:
        self.metrics: dict[str, dict[Labels, list[str]]] = {family: {} for family, _ in self.FAMILIES}
        self.totals: dict[tuple[str, Labels], Fraction] = {}

    def line(self, family: str, metric: Labels, name: str, labels: Labels, value: Fraction, t: int) -> None:
        self.metrics[family].setdefault(metric, []).append(f"{name}{_labels(labels)} {float(value)!r} {t}")

    def counter_point(
        self, family: str, name: str, labels: Labels, t: int, increment: Fraction, exists_from_start: bool
    ) -> None:
        """The counter's total at `t` (what came before), then `increment` added for the next step.

        Like the client library, a labelled counter exists once it has been
        incremented, unless the app creates it at 0 up front (`exists_from_start`).
        """
        key = (name, labels)
        if key not in self.totals:
            if not (exists_from_start or increment > 0):
                return
            self.totals[key] = Fraction(0)
        self.line(family, labels, name, labels, self.totals[key], t)
        self.totals[key] += increment

    def histogram_point(self, labels: Labels, t: int, count: Fraction, latency_s: float) -> None:
        """Buckets, count and sum of one histogram metric at `t`; `count` requests of `latency_s` follow."""
        family = "http_request_duration_seconds"
        count_key = (f"{family}_count", labels)
        if count_key not in self.totals and count == 0:
            return
        increments: list[tuple[str, Labels, Fraction]] = [
            (f"{family}_bucket", (*labels, ("le", _le(bound))), count if latency_s <= bound else Fraction(0))
            for bound in (*LATENCY_BUCKETS, math.inf)
        ]
        increments += [
            (f"{family}_count", labels, count),
            (f"{family}_sum", labels, count * _exact(latency_s)),
        ]
        for name, sample_labels, increment in increments:
            total = self.totals.setdefault((name, sample_labels), Fraction(0))
            self.line(family, labels, name, sample_labels, total, t)
            self.totals[(name, sample_labels)] = total + increment

    def render(self) -> str:
        out: list[str] = []
        for family, kind in self.FAMILIES:
            if self.metrics[family]:
                out.append(f"# TYPE {family} {kind}")
                for lines in self.metrics[family].values():
                    out.extend(lines)
        out.append("# EOF")
        return "\n".join(out) + "\n"


def _instance_points(text: _Text, target: Labels, traffic: TrackTraffic, t: int, step_s: int) -> None:
    """One up instance's app series at `t`, with its share of the next `step_s` seconds' traffic."""
    share = Fraction(step_s, traffic.instances_up)
    requests = _exact(traffic.rps) * share
    errors = requests * _exact(traffic.error_ratio)
    probes = _exact(traffic.probe_rps) * share
    user, probe = (*target, ("route", USER_ROUTE)), (*target, ("route", PROBE_ROUTE))
    for labels, increment in (
        ((*user, ("code", "200")), requests - errors),
        ((*user, ("code", "500")), errors),
        ((*probe, ("code", "200")), probes),
    ):
        text.counter_point("http_requests", "http_requests_total", labels, t, increment, False)
    text.histogram_point(user, t, requests, traffic.latency_s)
    text.histogram_point(probe, t, probes, PROBE_LATENCY_S)
    if traffic.cache_hit_ratio is not None:
        hits = requests * _exact(traffic.cache_hit_ratio)
        for result, increment in (("hit", hits), ("miss", requests - hits)):
            labels = (*target, ("result", result))
            text.counter_point("cache_requests", "cache_requests_total", labels, t, increment, True)
    if traffic.tokens_per_request is not None:
        half = requests * _exact(traffic.tokens_per_request) / 2
        for direction in ("input", "output"):
            labels = (*target, ("direction", direction))
            text.counter_point("llm_tokens", "llm_tokens_total", labels, t, half, True)
    if traffic.quality is not None:
        labels = (*target, ("intent", QUALITY_INTENT))
        text.line("quality_score", labels, "quality_score", labels, _exact(traffic.quality), t)


def openmetrics(phases: Sequence[Phase], step_s: int = 15) -> str:
    """Every series the phases produce, scraped every `step_s` seconds, as OpenMetrics text.

    Phases must be in time order and must not overlap; gaps between them emit
    nothing. Counters carry on across phases (a real counter never goes back).
    Each scrape time t reports the counts of the requests before t, so within a
    phase every increase between two samples is that phase's traffic.
    """
    if step_s <= 0:
        raise ValueError(f"step_s must be positive, not {step_s}")
    for phase in phases:
        if phase.start >= phase.end:
            raise ValueError(f"phase {phase.start}..{phase.end} is empty")
    for before, after in itertools.pairwise(phases):
        if after.start < before.end:
            raise ValueError(
                f"phase starting at {after.start} begins before the previous ends ({before.end})"
            )
    text = _Text()
    for phase in phases:
        for t in phase.sample_times(step_s):
            for (service, track), traffic in sorted(phase.tracks.items()):
                for index in range(traffic.instances):
                    target: Labels = (
                        ("job", JOB),
                        ("instance", instance_label(service, track, index)),
                        ("service", service),
                        ("track", track),
                    )
                    up = index < traffic.instances_up
                    text.line("up", target, "up", target, Fraction(int(up)), t)
                    if up:
                        _instance_points(text, target, traffic, t, step_s)
    return text.render()
