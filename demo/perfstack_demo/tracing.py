"""OpenTelemetry tracing configured from the standard ``OTEL_*`` environment.

What the SDK reads itself is left to it: ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES`` (resource), ``OTEL_TRACES_SAMPLER`` and
``OTEL_TRACES_SAMPLER_ARG`` (sampler), ``OTEL_SDK_DISABLED``,
``OTEL_EXPORTER_OTLP_*`` (endpoint, headers, timeout) and ``OTEL_BSP_*``
(batching). This module only picks the exporter the SDK cannot pick for a
manually built provider: ``OTEL_TRACES_EXPORTER`` (otlp, console or none)
and the OTLP protocol (``grpc`` or ``http/protobuf``).

The provider is the app's own, not the global one, so that several app
instances (tests) do not share one, and it is shut down (flushing the batch)
when the app stops.
"""

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Tracer

logger = logging.getLogger(__name__)

TRACK_ATTRIBUTE = "perfstack.track"
"""Resource and span attribute naming the track (also what perfstack puts in OTEL_RESOURCE_ATTRIBUTES)."""

DEFAULT_PROTOCOL = "grpc"
"""The stacks point OTEL_EXPORTER_OTLP_ENDPOINT at Jaeger's OTLP gRPC port (4317), naming no protocol."""


def sdk_disabled(environ: Mapping[str, str]) -> bool:
    """Whether ``OTEL_SDK_DISABLED`` turns tracing off (the SDK's rule: the value ``true``, any case)."""
    return environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def exporter_from_env(environ: Mapping[str, str]) -> SpanExporter | None:
    """The span exporter the env asks for, None for ``OTEL_TRACES_EXPORTER=none``.

    Raises ValueError for an exporter or protocol this app does not ship.
    """
    kind = environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() or "otlp"
    if kind == "none":
        return None
    if kind == "console":
        return ConsoleSpanExporter()
    if kind != "otlp":
        raise ValueError(f"OTEL_TRACES_EXPORTER={kind!r}: expected otlp, console or none")
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or DEFAULT_PROTOCOL
    ).strip()
    # Imported on demand: each exporter pulls in its transport (grpcio or requests).
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter()
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        return HttpExporter()
    raise ValueError(f"OTLP protocol {protocol!r}: expected grpc or http/protobuf")


def resource_for(*, service_name: str, version: str, track: str) -> Resource:
    """The SDK's resource from the env, with this app's name, version and track where the env has none."""
    detected = Resource.create()
    attributes = dict(detected.attributes)
    if str(attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        # The SDK's placeholder for "no name given": the app's own default is better.
        del attributes[SERVICE_NAME]
    defaults = Resource({SERVICE_NAME: service_name, SERVICE_VERSION: version, TRACK_ATTRIBUTE: track})
    return defaults.merge(Resource(attributes, detected.schema_url))


@dataclass
class Tracing:
    """The app's tracer provider and the tracer its spans come from."""

    provider: TracerProvider
    tracer: Tracer

    def shutdown(self) -> None:
        """Export what is still batched and stop the exporter."""
        self.provider.shutdown()


def configure_tracing(
    *,
    service_name: str,
    version: str,
    track: str,
    exporter: SpanExporter | None = None,
    environ: Mapping[str, str] | None = None,
) -> Tracing:
    """A tracer provider with a BatchSpanProcessor; `exporter` replaces the one the env asks for (tests).

    The sampler is the SDK's own choice from ``OTEL_TRACES_SAMPLER``/``_ARG``
    (parent-based always-on when unset).
    """
    env = os.environ if environ is None else environ
    provider = TracerProvider(resource=resource_for(service_name=service_name, version=version, track=track))
    if not sdk_disabled(env):
        span_exporter = exporter if exporter is not None else exporter_from_env(env)
        if span_exporter is not None:
            provider.add_span_processor(BatchSpanProcessor(span_exporter))
    else:
        logger.info("tracing disabled by OTEL_SDK_DISABLED")
    return Tracing(provider=provider, tracer=provider.get_tracer("perfstack_demo"))
