"""The app's spans in the e2e run's Jaeger: named by service and track, sampled at production's rate.

The app samples new traces with the SDK's parent-based trace-id-ratio sampler
from the env the stack gives it (`tracing.samplingProbability`, production's
0.1 here). Each request the app counts in `http_requests_total` starts one
root span, kept or not; so over a burst of requests with no other traffic the
number of traces Jaeger holds is binomial(requests, probability).
"""

import math
import time
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from components.jaeger.config import QUERY_HTTP_PORT
from tests.servers.harness import get_json, http_get

from .conftest import REPORT, AlertRun, E2eSession
from .stack import LoadGenerator, jaeger_traces

pytestmark = pytest.mark.e2e

SERVICE = "api"
TRACK_ATTRIBUTE = "perfstack.track"
"""Resource and span attribute naming the track (the demo app's, and what OTEL_RESOURCE_ATTRIBUTES sets)."""
BURST_RPS = 150
BURST_S = 16
"""2,400 requests: at probability 0.1, 240 kept traces expected, 4 standard deviations = 59."""
MIN_REQUESTS = 2000
EXPORT_DELAY_S = 5.0
"""The SDK's BatchSpanProcessor exports at least this often (OTEL_BSP_SCHEDULE_DELAY, unset: 5000 ms)."""
FLUSH_TIMEOUT_S = 30.0
SIGMAS = 4


@dataclass(frozen=True)
class Burst:
    """A burst of requests through the router, what the app counted and what Jaeger kept."""

    requests: int
    """Requests the two instances counted during the burst (each started one root span)."""
    sent: dict[str, Any]
    """The load generator's summary."""
    traces: list[dict[str, Any]]
    """Jaeger's traces of the service that began during the burst."""
    probability: float


def _served(e2e: E2eSession) -> int:
    """Requests both instances have counted so far (all routes, all codes), from their /metrics."""
    total = 0.0
    for app in e2e.stack.apps.values():
        status, body = http_get(f"{app.url}/metrics")
        assert status == 200
        for family in text_string_to_metric_families(body.decode()):
            if family.name == "http_requests":
                total += sum(s.value for s in family.samples if s.name == "http_requests_total")
    return round(total)


def _traces_once_flushed(e2e: E2eSession, start_us: int, end_us: int) -> list[dict[str, Any]]:
    """The burst's traces once every span has been exported: the count held still past an export delay."""
    deadline = time.monotonic() + FLUSH_TIMEOUT_S
    count, changed_at = -1, time.monotonic()
    while True:
        traces = jaeger_traces(e2e.stack, SERVICE, start_us, end_us, limit=100_000)
        now = time.monotonic()
        if len(traces) != count:
            count, changed_at = len(traces), now
        elif now - changed_at > EXPORT_DELAY_S + 1:
            return traces
        assert now < deadline, f"Jaeger's count of traces kept changing for {FLUSH_TIMEOUT_S} s"
        time.sleep(0.5)


@pytest.fixture(scope="package")
def burst(e2e: E2eSession, alert_run: AlertRun) -> Burst:
    """After the alert scenarios: background load off, a burst alone, and the traces it left."""
    e2e.load.stop()  # in-flight requests finish before it exits: nothing else is in the window
    before = _served(e2e)
    start_us = time.time_ns() // 1000
    load = LoadGenerator.start(e2e.stack, "burst", BURST_RPS, "--duration", str(BURST_S), "--seed", "7")
    sent = load.wait(BURST_S + 30)
    end_us = time.time_ns() // 1000
    requests = _served(e2e) - before
    traces = _traces_once_flushed(e2e, start_us, end_us)
    probability = float(e2e.config["tracing"]["samplingProbability"])
    kept = len([t for t in traces if _roots(t)])
    REPORT.append(
        f"sampling: {kept} traces kept of {requests} requests at probability {probability} "
        f"(expected {requests * probability:.0f} +/- {_bound(requests, probability):.0f})"
    )
    return Burst(requests, sent, traces, probability)


def _bound(n: int, p: float) -> float:
    """SIGMAS standard deviations of binomial(n, p)."""
    return SIGMAS * math.sqrt(n * p * (1 - p))


def _roots(trace: dict[str, Any]) -> list[dict[str, Any]]:
    return [span for span in trace["spans"] if not span.get("references")]


def _tag(tags: list[dict[str, Any]], key: str) -> Any:
    return next((t["value"] for t in tags if t["key"] == key), None)


def test_burst_sends_at_least_2000_requests_that_the_app_serves(burst: Burst) -> None:
    assert burst.requests >= MIN_REQUESTS, burst.sent
    assert burst.requests == sum(burst.sent["codes"].values()), burst.sent


def test_kept_fraction_of_traces_is_the_sampling_probability(burst: Burst) -> None:
    n, p = burst.requests, burst.probability
    kept = len([t for t in burst.traces if _roots(t)])
    bound = _bound(n, p)
    assert abs(kept - n * p) <= bound, f"{kept} of {n} requests kept, expected {n * p:.0f} +/- {bound:.0f}"


def test_every_kept_trace_has_one_root_span_from_the_app(burst: Burst) -> None:
    roots = [[span["operationName"] for span in _roots(t)] for t in burst.traces]
    assert roots and all(len(names) == 1 for names in roots), roots[:5]


@pytest.mark.parametrize("track", ["stable", "canary"])
def test_spans_reach_jaeger_with_the_service_name_and_the_track(e2e: E2eSession, track: str) -> None:
    start_us = int(e2e.started_at * 1_000_000)
    traces = jaeger_traces(e2e.stack, SERVICE, start_us, time.time_ns() // 1000, limit=200)
    of_track = [
        trace
        for trace in traces
        if any(_tag(p["tags"], TRACK_ATTRIBUTE) == track for p in trace["processes"].values())
    ]
    assert of_track, f"no trace of {SERVICE} from the {track} track among {len(traces)}"
    for trace in of_track:
        for span in _roots(trace):
            process = trace["processes"][span["processID"]]
            assert process["serviceName"] == SERVICE
            assert _tag(span["tags"], TRACK_ATTRIBUTE) == track


def test_jaeger_lists_the_app_service(e2e: E2eSession) -> None:
    services = get_json(f"{e2e.stack.jaeger_url(QUERY_HTTP_PORT)}/api/services")["data"]
    assert SERVICE in services
