"""The synthetic series, backfilled into the real Prometheus, give back the traffic they describe.

Every signal of `track_queries` (the PromQL of the recording rules and the
rollout judge) is evaluated at a moment 10 minutes into a phase, so its 5m
window holds that phase only, and must equal what the phase's TrackTraffic
says. One Prometheus serves the whole module: two phases, several services and
tracks, among them a canary that appears in phase 2, a service that leaves
after phase 1 and a canary whose only instance is down.
"""

import math
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from components.prometheus.alerts import AlertsConfig
from components.prometheus.queries import TrackQueries, track_queries
from tests.servers.harness import get_json

from .conftest import data_end
from .synthetic import PROBE_ROUTE, Phase, TrackTraffic, latency_bucket, openmetrics

QUERIES: TrackQueries = track_queries(AlertsConfig(), "5m")
INTO_PHASE_S = 600
"""Where in a phase the queries look: past the 5m window, so no earlier phase shows."""
PHASE_S = 900
STEP_S = 15

Track = tuple[str, str]

API_STABLE_1 = TrackTraffic(
    rps=4,
    error_ratio=0.05,
    latency_s=0.12,
    quality=0.9,
    cache_hit_ratio=0.25,
    tokens_per_request=120,
    instances=2,
    instances_up=2,
)
API_STABLE_2 = TrackTraffic(
    rps=6,
    error_ratio=0.02,
    latency_s=0.2,
    quality=0.85,
    cache_hit_ratio=0.3,
    tokens_per_request=100,
    instances=2,
    instances_up=2,
)
API_CANARY_2 = TrackTraffic(
    rps=1,
    error_ratio=0.2,
    latency_s=1.6,
    quality=0.7,
    cache_hit_ratio=0.5,
    tokens_per_request=250,
    instances=1,
    instances_up=1,
    # Probes outnumber users here: counting them would move every signal.
    probe_rps=2,
)
WORKER_STABLE_1 = TrackTraffic(rps=2, latency_s=0.6, instances=3, instances_up=2, probe_rps=0.5)
WORKER_STABLE_2 = TrackTraffic(rps=3, latency_s=0.6, instances=3, instances_up=3, probe_rps=0.5)
WORKER_CANARY_2 = TrackTraffic(rps=1, instances=1, instances_up=0)  # would serve, were it up
BATCH_STABLE_1 = TrackTraffic(rps=0.5, error_ratio=0.5, latency_s=12.0, instances=1)


def scenario_phases(end: int) -> list[Phase]:
    """Two back-to-back phases of PHASE_S seconds, the second ending at `end`."""
    return [
        Phase(
            end - 2 * PHASE_S,
            end - PHASE_S,
            {
                ("api", "stable"): API_STABLE_1,
                ("worker", "stable"): WORKER_STABLE_1,
                ("batch", "stable"): BATCH_STABLE_1,
            },
        ),
        Phase(
            end - PHASE_S,
            end,
            {
                ("api", "stable"): API_STABLE_2,
                ("api", "canary"): API_CANARY_2,
                ("worker", "stable"): WORKER_STABLE_2,
                ("worker", "canary"): WORKER_CANARY_2,
            },
        ),
    ]


@dataclass(frozen=True)
class Scenario:
    """The phases backfilled into a running Prometheus, and its base URL."""

    phases: list[Phase]
    url: str

    def at(self, phase: int) -> int:
        """The moment the queries of `phase` (0-based) are evaluated at."""
        return self.phases[phase].start + INTO_PHASE_S

    def per_track_at(self, expression: str, moment: int) -> dict[Track, float]:
        """The expression evaluated at `moment` (unix seconds): value per (service, track)."""
        query = urllib.parse.urlencode({"query": expression, "time": moment})
        result = get_json(f"{self.url}/api/v1/query?{query}")["data"]["result"]
        return {(s["metric"]["service"], s["metric"]["track"]): float(s["value"][1]) for s in result}

    def per_track(self, expression: str, phase: int) -> dict[Track, float]:
        """The expression at the query moment of `phase` (0-based): value per (service, track)."""
        return self.per_track_at(expression, self.at(phase))


@pytest.fixture(scope="module")
def scenario(backfilled_prometheus: Callable[[str], str]) -> Scenario:
    phases = scenario_phases(data_end())
    return Scenario(phases, backfilled_prometheus(openmetrics(phases, STEP_S)))


# (phase index, (service, track), traffic) of every track present in a phase; the times of the
# phases do not matter for the parameters, hence any `end`.
PRESENT = [
    (index, track, traffic)
    for index, phase in enumerate(scenario_phases(0))
    for track, traffic in sorted(phase.tracks.items(), key=lambda item: item[0])
]


def _ids(cases: list[tuple[int, Track, TrackTraffic]]) -> list[str]:
    return [f"phase{phase + 1}-{service}-{track}" for phase, (service, track), _ in cases]


def _cases(keep: Callable[[TrackTraffic], bool]) -> pytest.MarkDecorator:
    cases = [case for case in PRESENT if keep(case[2])]
    return pytest.mark.parametrize(("phase", "track", "traffic"), cases, ids=_ids(cases))


SERVING = _cases(lambda traffic: traffic.instances_up > 0)
"""Tracks with at least one instance up, i.e. with app series."""


# --- the text itself (no server) ---


def _series_lines(text: str) -> list[tuple[str, str, float, int]]:
    """(sample name, label text, value, timestamp) of every sample line."""
    pattern = re.compile(r"^([a-z_]+)(\{.*\}) (\S+) (\d+)$")
    found = []
    for line in text.splitlines():
        if not line.startswith("#"):
            match = pattern.match(line)
            assert match, f"not a sample line: {line!r}"
            found.append((match[1], match[2], float(match[3]), int(match[4])))
    return found


def test_openmetrics_text_ends_with_eof_and_types_each_family_once() -> None:
    text = openmetrics(scenario_phases(1_800_000_000), STEP_S)
    assert text.endswith("\n# EOF\n")
    families = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert sorted(families) == sorted(set(families)), families


def test_openmetrics_text_keeps_each_family_and_each_series_together() -> None:
    # OpenMetrics forbids interleaving families or metrics; promtool does not check it, a strict
    # parser would.
    text = openmetrics(scenario_phases(1_800_000_000), STEP_S)
    family = ""
    seen_families: list[str] = []
    seen_metrics: list[tuple[str, str]] = []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            family = line.split()[2]
            seen_families.append(family)
        elif not line.startswith("#"):
            name, labels = line.split(" ")[0].split("{", 1)
            assert name.startswith(family), f"{name} outside its family, under {family}"
            metric = (family, re.sub(r',le="[^"]*"', "", labels))
            if not seen_metrics or seen_metrics[-1] != metric:
                assert metric not in seen_metrics, f"{metric} comes back after another metric"
                seen_metrics.append(metric)
    assert seen_families == [
        "up",
        "http_requests",
        "http_request_duration_seconds",
        "cache_requests",
        "llm_tokens",
        "quality_score",
    ]


def test_counters_never_decrease_and_never_go_back_in_time() -> None:
    last: dict[tuple[str, str], tuple[float, int]] = {}
    for name, labels, value, t in _series_lines(openmetrics(scenario_phases(1_800_000_000), STEP_S)):
        if name.endswith(("_total", "_bucket", "_count", "_sum")):
            before, before_t = last.get((name, labels), (0.0, 0))
            assert value >= before and t > before_t, (name, labels, t)
            last[(name, labels)] = (value, t)


def test_a_counter_starts_a_phase_with_the_count_of_the_phases_before() -> None:
    phases = scenario_phases(1_800_000_000)
    ok_requests = 'instance="api-stable-0:8080",service="api",track="stable",route="/chat",code="200"}'
    first_in_phase_2 = [
        value
        for name, labels, value, t in _series_lines(openmetrics(phases, STEP_S))
        if name == "http_requests_total" and labels.endswith(ok_requests) and t == phases[1].start
    ]
    # The instance's half of phase 1's successful requests.
    traffic = API_STABLE_1
    expected = traffic.rps * (1 - traffic.error_ratio) * PHASE_S / traffic.instances_up
    assert first_in_phase_2 == [pytest.approx(expected)]


def test_latency_bucket_is_the_first_bucket_whose_bound_is_not_below_the_latency() -> None:
    assert latency_bucket(0.01) == (0.0, 0.05)
    assert latency_bucket(0.1) == (0.05, 0.1)
    assert latency_bucket(0.12) == (0.1, 0.15)
    assert latency_bucket(12.0) == (10.0, math.inf)


def test_traffic_with_more_instances_up_than_instances_is_rejected() -> None:
    with pytest.raises(ValueError, match="instances_up <= instances"):
        TrackTraffic(rps=1, instances=1, instances_up=2)


def test_overlapping_phases_are_rejected() -> None:
    with pytest.raises(ValueError, match="begins before the previous ends"):
        openmetrics([Phase(0, 600, {}), Phase(300, 900, {})])


# --- the series as the real Prometheus serves them ---


@SERVING
def test_request_rate_is_the_tracks_user_requests_per_second(
    scenario: Scenario, phase: int, track: Track, traffic: TrackTraffic
) -> None:
    assert scenario.per_track(QUERIES.request_rate, phase)[track] == pytest.approx(traffic.rps)


@SERVING
def test_probe_requests_are_served_beside_the_user_requests(
    scenario: Scenario, phase: int, track: Track, traffic: TrackTraffic
) -> None:
    # Without them, the request rate test above would not show that probes are left out.
    probes = f'sum by (service, track) (rate(http_requests_total{{route="{PROBE_ROUTE}"}}[5m]))'
    assert scenario.per_track(probes, phase)[track] == pytest.approx(traffic.probe_rps)


@SERVING
def test_error_ratio_is_the_share_of_requests_answered_500(
    scenario: Scenario, phase: int, track: Track, traffic: TrackTraffic
) -> None:
    assert scenario.per_track(QUERIES.error_ratio, phase)[track] == pytest.approx(traffic.error_ratio)


def test_error_ratio_is_zero_for_a_track_that_never_answered_500(scenario: Scenario) -> None:
    # worker stable has no code="500" series at all, as an app that never failed.
    assert WORKER_STABLE_1.error_ratio == 0
    assert scenario.per_track(QUERIES.error_ratio, 0)[("worker", "stable")] == 0


@SERVING
def test_p95_latency_is_interpolated_in_the_bucket_of_the_tracks_latency(
    scenario: Scenario, phase: int, track: Track, traffic: TrackTraffic
) -> None:
    lower, upper = latency_bucket(traffic.latency_s)
    p95 = scenario.per_track(QUERIES.p95_latency, phase)[track]
    if math.isinf(upper):
        # histogram_quantile cannot interpolate in the +Inf bucket: it answers the highest finite bound.
        assert p95 == lower
    else:
        assert lower < p95 <= upper
        # Every user request is in that one bucket, so histogram_quantile puts p95 at 95 % of it;
        # probes counted too (far faster, in the first bucket) would move it.
        assert p95 == pytest.approx(lower + 0.95 * (upper - lower))


@_cases(lambda traffic: True)
def test_instances_up_counts_the_instances_whose_scrape_succeeded(
    scenario: Scenario, phase: int, track: Track, traffic: TrackTraffic
) -> None:
    assert scenario.per_track(QUERIES.instances_up, phase)[track] == traffic.instances_up


def test_a_track_with_every_instance_down_has_no_request_rate(scenario: Scenario) -> None:
    assert WORKER_CANARY_2.instances_up == 0
    assert ("worker", "canary") not in scenario.per_track(QUERIES.request_rate, 1)


@pytest.mark.parametrize(
    ("phase", "track"),
    [(0, ("api", "canary")), (0, ("worker", "canary")), (1, ("batch", "stable"))],
    ids=["canary-not-yet-started", "down-canary-not-yet-started", "service-gone-after-phase-1"],
)
def test_a_track_absent_from_the_phase_has_no_request_rate(
    scenario: Scenario, phase: int, track: Track
) -> None:
    assert track not in scenario.per_track(QUERIES.request_rate, phase)


def test_a_track_absent_from_the_phase_has_no_instances(scenario: Scenario) -> None:
    assert ("batch", "stable") not in scenario.per_track(QUERIES.instances_up, 1)


@_cases(lambda traffic: traffic.quality is not None)
def test_quality_is_the_tracks_quality_score(
    scenario: Scenario, phase: int, track: Track, traffic: TrackTraffic
) -> None:
    assert scenario.per_track(QUERIES.quality, phase)[track] == pytest.approx(traffic.quality)


@_cases(lambda traffic: traffic.cache_hit_ratio is not None)
def test_cache_hit_ratio_is_the_tracks_share_of_hits(
    scenario: Scenario, phase: int, track: Track, traffic: TrackTraffic
) -> None:
    assert scenario.per_track(QUERIES.cache_hit_ratio, phase)[track] == pytest.approx(traffic.cache_hit_ratio)


@_cases(lambda traffic: traffic.tokens_per_request is not None)
def test_tokens_per_request_is_the_tracks_tokens_per_user_request(
    scenario: Scenario, phase: int, track: Track, traffic: TrackTraffic
) -> None:
    assert scenario.per_track(QUERIES.tokens_per_request, phase)[track] == pytest.approx(
        traffic.tokens_per_request
    )


@pytest.mark.parametrize("signal", ["quality", "cache_hit_ratio", "token_rate", "tokens_per_request"])
def test_a_track_without_quality_cache_or_tokens_has_no_such_samples(scenario: Scenario, signal: str) -> None:
    traffic = WORKER_STABLE_1
    assert (traffic.quality, traffic.cache_hit_ratio, traffic.tokens_per_request) == (None, None, None)
    assert ("worker", "stable") not in scenario.per_track(getattr(QUERIES, signal), 0)


COUNTERS = (
    "http_requests_total",
    "http_request_duration_seconds_bucket",
    "http_request_duration_seconds_count",
    "http_request_duration_seconds_sum",
    "cache_requests_total",
    "llm_tokens_total",
)


@pytest.mark.parametrize("counter", COUNTERS)
def test_prometheus_sees_no_counter_reset_over_the_whole_scenario(scenario: Scenario, counter: str) -> None:
    resets = scenario.per_track_at(
        f"sum by (service, track) (resets({counter}[{2 * PHASE_S}s]))", scenario.phases[-1].end
    )
    assert resets, f"no {counter} series at all"
    assert set(resets.values()) == {0}, resets
