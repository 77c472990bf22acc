"""Jaeger v2 at the pinned version: `jaeger validate` on each stack's config, then a real start with it.

What is rewritten for the start on loopback, and why (everything else is as generated, the
badger backend included, `ephemeral: false`):
- every listener (``endpoint: 0.0.0.0:PORT`` and the metrics reader's host and port): 127.0.0.1
  with a free port, looked up by the port constants of components/jaeger/config.py;
- the badger directories and the sampling strategies path: the temp dir, instead of the volume
  and the mounted file;
- ``--config``: the rewritten file.
`jaeger validate` gets the generated config unchanged: it decodes the config strictly (an
unknown key fails) without listening or opening the storage.
"""

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from components.jaeger.config import (
    HEALTH_PORT,
    METRICS_PORT,
    OTLP_GRPC_PORT,
    OTLP_HTTP_PORT,
    QUERY_HTTP_PORT,
    SAMPLING_HTTP_PORT,
)
from components.prometheus.alerts import AlertsConfig
from components.prometheus.rules import render_rules
from infra.mockrun import stack_file_config
from tests.observability.tools import assert_ok, describe, run_tool, tool_path

from .conftest import Stack
from .harness import (
    LOOPBACK,
    Server,
    get_json,
    http_get,
    loopback_jaeger_config,
    replace_flags,
    running,
    workload_args,
)

CONFIG_KEY = "jaeger/config.yaml"
HEALTH_PATH = "/status"
"""What the Jaeger workload's probe asks (components/jaeger/component.py)."""
EXPORT_TIMEOUT_S = 10


@dataclass(frozen=True)
class RunningJaeger:
    """A ready Jaeger and the loopback port that stands for each generated port."""

    server: Server
    ports: dict[int, int]

    def url(self, generated_port: int) -> str:
        return f"http://{LOOPBACK}:{self.ports[generated_port]}"


@pytest.fixture(scope="module")
def jaeger(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningJaeger]:
    directory = tmp_path_factory.mktemp(f"jaeger-{stack.name}")
    config, ports = loopback_jaeger_config(stack.files[CONFIG_KEY], stack.files, directory)
    config_path = directory / "config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    args = replace_flags(workload_args(stack.run, "jaeger"), {"--config": str(config_path)})
    # Jaeger's query extension traces itself (`enable_tracing` defaults to true in v2) and
    # exports over OTLP gRPC to the SDK default, localhost:4317: in the container that is its own
    # receiver, so here it is the rewritten port (not whatever owns 4317 on this host). On stop
    # the receiver closes first and the last flush fails; a 1 s export timeout instead of the
    # SDK's 10 s keeps every stop from waiting that long.
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{LOOPBACK}:{ports[OTLP_GRPC_PORT]}",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1000",
    }
    with running("jaeger", [tool_path("jaeger"), *args], directory, env) as server:
        running_jaeger = RunningJaeger(server, ports)
        health = f"{running_jaeger.url(HEALTH_PORT)}{HEALTH_PATH}"
        server.wait_until(lambda: get_json(health).get("healthy") is True, f"{HEALTH_PATH} to report healthy")
        yield running_jaeger


def _validate(tmp_path: Path, config: dict[str, Any] | str) -> Any:
    path = tmp_path / "config.yaml"
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False))
    return run_tool("jaeger", "validate", f"--config={path}", timeout=60)


def _send_span(exporter: SpanExporter, service: str) -> str:
    """Export one span of ``service`` with ``exporter``; the trace id as the query API writes it."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("perfstack-tests").start_as_current_span(f"{service} request"):
        pass
    provider.shutdown()
    spans = memory.get_finished_spans()
    try:
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    return format(spans[0].context.trace_id, "032x")


def _queried_trace_ids(jaeger: RunningJaeger, service: str, trace_id: str) -> set[str]:
    """The trace ids the query API returns for ``service``, once ``trace_id`` is among them."""

    def found() -> set[str] | None:
        data = get_json(f"{jaeger.url(QUERY_HTTP_PORT)}/api/traces?service={service}&limit=20")["data"]
        ids = {trace["traceID"] for trace in data or []}
        return ids if trace_id in ids else None

    return jaeger.server.wait_until(found, f"trace {trace_id} of {service} in the query API")


def test_jaeger_validate_accepts_the_generated_config(stack: Stack, tmp_path: Path) -> None:
    assert_ok(_validate(tmp_path, stack.files[CONFIG_KEY]))


def test_jaeger_validate_refuses_an_unknown_key_in_the_sampling_file_section(
    stack: Stack, tmp_path: Path
) -> None:
    config = yaml.safe_load(stack.files[CONFIG_KEY])
    config["extensions"]["remote_sampling"]["file"]["bogus_key"] = "1m"
    result = _validate(tmp_path, config)
    assert result.returncode != 0, describe(result)
    assert "'file' has invalid keys: bogus_key" in result.stdout + result.stderr, describe(result)


def test_jaeger_validate_accepts_reload_interval_in_the_sampling_file_section(
    stack: Stack, tmp_path: Path
) -> None:
    # reload_interval came with Jaeger 2.2; 2.1 has only `path` and would refuse it like bogus_key.
    config = yaml.safe_load(stack.files[CONFIG_KEY])
    assert "reload_interval" in config["extensions"]["remote_sampling"]["file"]
    assert_ok(_validate(tmp_path, config))


def test_health_check_reports_ready(jaeger: RunningJaeger) -> None:
    health = get_json(f"{jaeger.url(HEALTH_PORT)}{HEALTH_PATH}")
    assert (health["healthy"], health["status"]) == (True, "StatusOK"), jaeger.server.describe()


def test_span_sent_over_otlp_grpc_comes_back_from_the_query_api(jaeger: RunningJaeger) -> None:
    exporter = GrpcSpanExporter(
        endpoint=f"{LOOPBACK}:{jaeger.ports[OTLP_GRPC_PORT]}", insecure=True, timeout=EXPORT_TIMEOUT_S
    )
    trace_id = _send_span(exporter, "otlp-grpc-client")
    assert trace_id in _queried_trace_ids(jaeger, "otlp-grpc-client", trace_id)


def test_span_sent_over_otlp_http_comes_back_from_the_query_api(jaeger: RunningJaeger) -> None:
    exporter = HttpSpanExporter(endpoint=f"{jaeger.url(OTLP_HTTP_PORT)}/v1/traces", timeout=EXPORT_TIMEOUT_S)
    trace_id = _send_span(exporter, "otlp-http-client")
    assert trace_id in _queried_trace_ids(jaeger, "otlp-http-client", trace_id)


def test_remote_sampling_serves_the_stack_sampling_probability(stack: Stack, jaeger: RunningJaeger) -> None:
    configured = float(stack_file_config(stack.name)["tracing"]["samplingProbability"])
    assert configured == {"staging": 1.0, "production": 0.1}[stack.name]
    strategy = get_json(f"{jaeger.url(SAMPLING_HTTP_PORT)}/api/sampling?service=api")
    assert strategy["probabilisticSampling"] == {"samplingRate": configured}, json.dumps(strategy)
    assert "rateLimitingSampling" not in strategy


def test_own_metrics_are_served_for_prometheus(jaeger: RunningJaeger) -> None:
    status, body = http_get(f"{jaeger.url(METRICS_PORT)}/metrics")
    assert status == 200 and b"otelcol_" in body, jaeger.server.describe()


def test_the_store_failure_series_jaeger_spans_not_stored_reads_is_exported(jaeger: RunningJaeger) -> None:
    # The counter appears once a span has gone through the pipeline; the rule selects it by exporter.
    _send_span(HttpSpanExporter(endpoint=f"{jaeger.url(OTLP_HTTP_PORT)}/v1/traces"), "failed-spans-client")
    groups = yaml.safe_load(render_rules(AlertsConfig()))["groups"]
    (expr,) = [r["expr"] for g in groups for r in g["rules"] if r.get("alert") == "JaegerSpansNotStored"]
    (selector,) = re.findall(r'(otelcol_exporter_send_failed_spans_total)\{(exporter="[^"]+")\}', expr)
    name, matcher = selector
    deadline = time.monotonic() + EXPORT_TIMEOUT_S
    found: list[str] = []
    while not found and time.monotonic() < deadline:
        _, body = http_get(f"{jaeger.url(METRICS_PORT)}/metrics")
        found = [
            line for line in body.decode().splitlines() if line.startswith(f"{name}{{") and matcher in line
        ]
        time.sleep(0.2)
    assert found, jaeger.server.describe()
