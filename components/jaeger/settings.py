"""Jaeger settings: the workload (`perfstack:jaeger`) and tracing (`perfstack:tracing`):
sampling and where Jaeger keeps traces.

Staging samples everything (1.0), production 10 % (0.1); both are set in the
stack files, the default here is 1.0. The apps get the rate as the standard
OpenTelemetry env (`OTEL_TRACES_SAMPLER=parentbased_traceidratio`,
`OTEL_TRACES_SAMPLER_ARG`), which every OpenTelemetry SDK reads, so a rate
change rolls the app tracks' env. Jaeger also serves the same rates on its
remote-sampling endpoint (strategies rendered by components/jaeger/config.py)
for clients that use Jaeger's remote sampler instead.
"""

import re
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, model_validator

from components.platform.images import IMAGES
from components.platform.settings import ConfigModel, ImageTag, MemoryQuantity, WorkloadConfig


class JaegerConfig(WorkloadConfig):
    """Jaeger v2 (`jaegertracing/jaeger`)."""

    version: ImageTag = IMAGES["jaeger"].version
    """Image tag."""
    storage_size: MemoryQuantity = "5Gi"
    """Size of the badger volume (when storage is badger)."""


Probability = Annotated[float, Field(ge=0, le=1)]
"""A sampling probability from 0 (none) to 1 (every trace)."""

# Go's time.ParseDuration, which Jaeger uses for its TTL: no days, so '168h' for a week.
_GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")


def _go_duration(value: str) -> str:
    if not _GO_DURATION.match(value) or not re.search(r"[1-9]", value):
        raise ValueError(f"{value!r} is not a positive Go duration: use h, m or s ('72h', '168h'; no 'd')")
    return value


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


def _service_name(value: str) -> str:
    if not value.strip() or value != value.strip():
        raise ValueError(f"{value!r} is not a service name")
    return value


GoDuration = Annotated[str, AfterValidator(_go_duration)]
"""A positive Go duration such as '72h'."""


class TraceStorage(ConfigModel):
    """Where Jaeger keeps traces: Badger on a local volume, or an external Elasticsearch.

    One flat model rather than a tagged union, so an error names the key the
    user wrote (`tracing.storage.retention`), not an internal variant name.
    """

    type: Literal["badger", "elasticsearch"] = "badger"
    """`badger`: embedded store on a volume (one Jaeger instance); `elasticsearch`: external cluster."""
    badger_directory: str = Field(default="/badger", pattern=r"^/\S*$")
    """Badger only: absolute path of the volume mount; data goes to `keys/` and `values/` below it."""
    retention: GoDuration = "72h"
    """Badger only: how long spans are kept (`ttl.spans`). Elasticsearch retention is the cluster's
    index lifecycle."""
    urls: list[Annotated[str, AfterValidator(_http_url)]] = Field(default_factory=list)
    """Elasticsearch only (required there): server URLs, e.g. ['http://elasticsearch:9200']."""
    index_prefix: str = Field(default="perfstack", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    """Elasticsearch only: prefix of the Jaeger indices (`<prefix>-jaeger-span-*`)."""

    @model_validator(mode="after")
    def _urls_match_type(self) -> Self:
        if self.type == "elasticsearch" and not self.urls:
            raise ValueError("urls: required when type is elasticsearch")
        if self.type == "badger" and self.urls:
            raise ValueError(
                "urls: only used when type is elasticsearch; remove it or set type: elasticsearch"
            )
        return self


class TracingConfig(ConfigModel):
    """Trace sampling and storage."""

    sampling_probability: Probability = 1.0
    """Share of traces kept for services without an override (staging 1.0, production 0.1)."""
    per_service: dict[Annotated[str, AfterValidator(_service_name)], Probability] = Field(
        default_factory=dict
    )
    """Sampling probability per service name, overriding `samplingProbability`."""
    storage: TraceStorage = Field(default_factory=TraceStorage)
    """Where traces are stored: `{type: badger}` (default) or `{type: elasticsearch, urls: [...]}`."""

    def probability_for(self, service: str) -> float:
        """The sampling probability of ``service``: its `perService` override, else `samplingProbability`."""
        return self.per_service.get(service, self.sampling_probability)
