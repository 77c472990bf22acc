"""Tracing honours the standard OTEL_* env; one server span per request with cache and model children."""

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio
from opentelemetry.trace import SpanKind, StatusCode
from perfstack_demo.app import create_app
from perfstack_demo.settings import Settings
from perfstack_demo.tracing import configure_tracing, exporter_from_env
from starlette.testclient import TestClient

from tests.demo.helpers import chat, service_env

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def otel_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tracing enabled (the suite disables it elsewhere)."""
    monkeypatch.delenv("OTEL_SDK_DISABLED")


def _traced_run(env: dict[str, str], **requests: bool) -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    app = create_app(Settings.from_env(env), span_exporter=exporter)
    with TestClient(app) as client:
        chat(client, "What is a canary release?", intent="simple")
        if requests.get("probes"):
            client.get("/health")
            client.get("/ready")
            client.get("/metrics")
        if requests.get("traceparent"):
            client.post("/chat", json={"prompt": "hi"}, headers={"traceparent": TRACEPARENT})
        if requests.get("error"):
            client.put("/admin/faults/stable", json={"error_ratio": 1})
            client.post("/chat", json={"prompt": "hi"})
    # No flush here: leaving the app's lifespan must have shut the batch processor down, exporting all.
    return list(exporter.get_finished_spans())


def test_sampler_comes_from_the_standard_env(monkeypatch: pytest.MonkeyPatch, otel_on: None) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.1")
    exporter = InMemorySpanExporter()
    tracing = configure_tracing(service_name="api", version="1", track="stable", exporter=exporter)
    sampler = tracing.provider.sampler
    assert isinstance(sampler, ParentBasedTraceIdRatio)
    assert "TraceIdRatioBased{0.1}" in sampler.get_description()
    tracing.shutdown()


def test_resource_comes_from_the_standard_env(monkeypatch: pytest.MonkeyPatch, otel_on: None) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "api")
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES",
        "deployment.environment.name=staging,service.version=1.5.0,perfstack.track=canary",
    )
    tracing = configure_tracing(service_name="fallback", version="dev", track="stable", exporter=None)
    attributes = tracing.provider.resource.attributes
    assert attributes["service.name"] == "api"
    assert attributes["service.version"] == "1.5.0"
    assert attributes["perfstack.track"] == "canary"
    assert attributes["deployment.environment.name"] == "staging"
    tracing.shutdown()


def test_resource_falls_back_to_the_apps_settings(otel_on: None) -> None:
    tracing = configure_tracing(service_name="perfstack-demo", version="1.4.2", track="stable", exporter=None)
    attributes = tracing.provider.resource.attributes
    assert (attributes["service.name"], attributes["service.version"]) == ("perfstack-demo", "1.4.2")
    tracing.shutdown()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, GrpcExporter),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, GrpcExporter),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, HttpExporter),
        # The signal-specific variable wins over the general one.
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"},
            HttpExporter,
        ),
    ],
)
def test_the_otlp_protocol_picks_the_exporter(env: dict[str, str], expected: type) -> None:
    exporter = exporter_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", **env})
    assert type(exporter) is expected
    assert exporter is not None
    exporter.shutdown()


def test_unsupported_exporter_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="http/json"):
        exporter_from_env({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})
    with pytest.raises(ValueError, match="zipkin"):
        exporter_from_env({"OTEL_TRACES_EXPORTER": "zipkin"})
    assert exporter_from_env({"OTEL_TRACES_EXPORTER": "none"}) is None


def test_one_server_span_per_request_with_cache_and_model_children(
    redis_env: dict[str, str], otel_on: None
) -> None:
    spans = _traced_run(service_env(**redis_env, APP_TRACK="canary", FEATURE_RESPONSE_CACHING="true"))
    servers = [s for s in spans if s.kind is SpanKind.SERVER]
    assert len(servers) == 1
    server = servers[0]
    assert server.name == "POST /chat"
    assert server.attributes is not None
    assert server.attributes["perfstack.track"] == "canary"
    assert server.attributes["http.route"] == "/chat"
    assert server.attributes["http.response.status_code"] == 200
    children = {s.name: s for s in spans if s.parent and s.parent.span_id == server.context.span_id}
    assert set(children) == {"cache.lookup", "llm.generate"}
    assert all(child.context.trace_id == server.context.trace_id for child in children.values())


def test_a_streamed_answer_traces_its_model_call_under_the_request(otel_on: None) -> None:
    exporter = InMemorySpanExporter()
    with TestClient(create_app(Settings.from_env(service_env()), span_exporter=exporter)) as client:
        assert client.post("/chat/stream", json={"prompt": "hello"}).status_code == 200
    spans = {s.name: s for s in exporter.get_finished_spans()}
    server, model = spans["POST /chat/stream"], spans["llm.generate"]
    assert model.parent is not None
    assert model.parent.span_id == server.context.span_id


def test_probes_are_not_traced(otel_on: None) -> None:
    spans = _traced_run(service_env(), probes=True)
    assert [s.name for s in spans if s.kind is SpanKind.SERVER] == ["POST /chat"]


def test_an_incoming_traceparent_continues_the_callers_trace(otel_on: None) -> None:
    spans = _traced_run(service_env(), traceparent=True)
    continued = [s for s in spans if s.kind is SpanKind.SERVER and s.parent is not None]
    assert len(continued) == 1
    assert continued[0].context.trace_id == int(TRACEPARENT.split("-")[1], 16)
    assert continued[0].parent is not None
    assert continued[0].parent.span_id == int(TRACEPARENT.split("-")[2], 16)


def test_a_5xx_answer_marks_the_server_span_as_an_error(otel_on: None) -> None:
    spans = _traced_run(service_env(), error=True)
    failed = [s for s in spans if s.kind is SpanKind.SERVER and s.status.status_code is StatusCode.ERROR]
    assert [s.attributes["http.response.status_code"] for s in failed if s.attributes] == [500]


def test_otel_sdk_disabled_records_no_spans() -> None:
    # The suite's autouse fixture sets OTEL_SDK_DISABLED=true.
    assert _traced_run(service_env()) == []
