"""The metrics contract (DESIGN.md): exact names, types and label sets; probes never counted."""

from starlette.testclient import TestClient

from components.platform.slo import LATENCY_BUCKET_BOUNDS_MS
from tests.demo.helpers import chat, make_app, sample, scrape, service_env


def _label_names(family_samples: list, suffix: str) -> set[frozenset[str]]:
    return {frozenset(s.labels) for s in family_samples if s.name.endswith(suffix)}


def _exercised_client_app() -> TestClient:
    return TestClient(make_app(service_env(FEATURE_RESPONSE_CACHING="true", APP_TRACK="canary")))


def test_contract_metrics_have_exact_types_and_label_sets() -> None:
    with _exercised_client_app() as client:
        chat(client, intent="complex")
        families = scrape(client)

    assert families["http_request_duration_seconds"].type == "histogram"
    assert _label_names(families["http_request_duration_seconds"].samples, "_bucket") == {
        frozenset({"track", "route", "le"})
    }
    assert _label_names(families["http_request_duration_seconds"].samples, "_count") == {
        frozenset({"track", "route"})
    }
    # The parser names counter families without _total; the samples keep it.
    expected_counters = {
        "http_requests": ("http_requests_total", {"track", "route", "code"}),
        "cache_requests": ("cache_requests_total", {"result"}),
        "llm_tokens": ("llm_tokens_total", {"direction", "track"}),
    }
    for family_name, (sample_name, labels) in expected_counters.items():
        family = families[family_name]
        assert family.type == "counter", family_name
        assert {s.name for s in family.samples} == {sample_name}, family_name
        assert {frozenset(s.labels) for s in family.samples} == {frozenset(labels)}, family_name
    assert families["quality_score"].type == "gauge"
    assert {frozenset(s.labels) for s in families["quality_score"].samples} == {frozenset({"intent"})}


def test_label_values_are_the_contract_ones() -> None:
    with _exercised_client_app() as client:
        chat(client, intent="complex")
        families = scrape(client)

    assert {s.labels["result"] for s in families["cache_requests"].samples} == {"hit", "miss"}
    assert {s.labels["direction"] for s in families["llm_tokens"].samples} == {"input", "output"}
    assert {s.labels["track"] for s in families["llm_tokens"].samples} == {"canary"}
    assert {s.labels["track"] for s in families["http_requests"].samples} == {"canary"}
    assert {s.labels["code"] for s in families["http_requests"].samples} == {"200"}
    assert {s.labels["intent"] for s in families["quality_score"].samples} == {"complex"}
    assert 0 <= families["quality_score"].samples[0].value <= 1


def test_no_created_series_beside_the_contract_metrics() -> None:
    with _exercised_client_app() as client:
        chat(client)
        names = {s.name for family in scrape(client).values() for s in family.samples}
    assert not {name for name in names if name.endswith("_created")}


def test_route_label_is_the_route_template_not_the_raw_path() -> None:
    with TestClient(make_app(service_env())) as client:
        client.put("/admin/faults/canary", json={})
        client.get("/no/such/page/12345")
        routes = {s.labels["route"] for s in scrape(client)["http_requests"].samples}
    assert routes == {"/admin/faults/{track}", "unmatched"}


def test_probes_and_scrapes_are_not_counted_or_timed() -> None:
    with TestClient(make_app(service_env())) as client:
        for _ in range(3):
            assert client.get("/health").status_code == 200
            assert client.get("/ready").status_code == 200
            assert client.get("/metrics").status_code == 200
        families = scrape(client)
    assert families["http_requests"].samples == []
    assert [s for s in families["http_request_duration_seconds"].samples] == []


def test_latency_buckets_resolve_the_alert_thresholds() -> None:
    with TestClient(make_app(service_env())) as client:
        chat(client)
        bounds = {
            s.labels["le"]
            for s in scrape(client)["http_request_duration_seconds"].samples
            if s.name.endswith("_bucket")
        }
    for required in ("0.05", "1.5", "2.0", "2.5", "10.0", "+Inf"):
        assert required in bounds


def test_latency_buckets_are_the_slo_default_bucket_bounds() -> None:
    # `slo.latency.bucketBoundsMs` defaults to the contract's bounds: the demo app must expose exactly
    # those, or a threshold the config accepts would have no bucket to count.
    with TestClient(make_app(service_env())) as client:
        chat(client)
        bounds = {
            float(s.labels["le"])
            for s in scrape(client)["http_request_duration_seconds"].samples
            if s.name.endswith("_bucket") and s.labels["le"] != "+Inf"
        }
    assert sorted(bounds) == [ms / 1000 for ms in LATENCY_BUCKET_BOUNDS_MS]


def test_a_streamed_answer_counts_once_under_its_route() -> None:
    with TestClient(make_app(service_env())) as client:
        response = client.post("/chat/stream", json={"prompt": "hello"}, headers={"X-User-Id": "u"})
        assert response.status_code == 200
        assert "event: done" in response.text
        assert sample(client, "http_requests_total", track="stable", route="/chat/stream", code="200") == 1
        assert sample(client, "llm_tokens_total", direction="output", track="stable") > 0
