"""Prometheus server settings (`perfstack:prometheus`)."""

from typing import Annotated

from pydantic import Field

from components.platform.images import IMAGES
from components.platform.settings import (
    HttpUrl,
    ImageTag,
    MemoryQuantity,
    PromDuration,
    WorkloadConfig,
    memory_bytes,
)

RETENTION_SHARE_OF_VOLUME = 0.8
"""Share of the TSDB volume the blocks may take before the oldest go."""


class PrometheusConfig(WorkloadConfig):
    """Prometheus (`prom/prometheus`)."""

    version: ImageTag = IMAGES["prometheus"].version
    """Image tag."""
    retention: PromDuration = "15d"
    """How long samples are kept (`--storage.tsdb.retention.time`)."""
    storage_size: MemoryQuantity = "10Gi"
    """Size of the TSDB volume. Prometheus also deletes its oldest blocks once they take
    `RETENTION_SHARE_OF_VOLUME` (80 %) of it (`--storage.tsdb.retention.size`), whichever of that and
    `retention` comes first: the write-ahead log and compaction need the rest, and a full volume
    stops every scrape and every alert."""
    replicas: Annotated[int, Field(ge=1, le=5)] = 1
    """Identical Prometheus servers scraping the same targets (HA on Kubernetes)."""
    scrape_interval: PromDuration = "15s"
    """How often Prometheus scrapes every target (`global.scrape_interval`); Grafana's Prometheus
    datasource gets the same value as its `timeInterval`, so `$__rate_interval` spans enough samples.
    `alerts.rateWindow` must span at least 4 scrapes."""
    evaluation_interval: PromDuration = "15s"
    """How often Prometheus evaluates the recording and alerting rules
    (`global.evaluation_interval`): an alert fires at most this long after its `for` has passed."""

    external_url: HttpUrl | None = None
    """The address people open Prometheus at (`--web.external-url`): alerts link to their source
    graph with it ("Source" in Alertmanager and in notifications). Unset: on Docker
    `http://<docker.uiAddress>:<docker.ports.prometheus>` (with the port unpublished `http://prometheus:<port>`,
    which resolves on the stack's network), on Kubernetes the in-cluster
    Service, `http://prometheus.<namespace>.svc:9090`, which resolves inside the cluster (from a
    laptop: `kubectl port-forward svc/prometheus 9090` and the same path on 127.0.0.1); set the
    public address when an ingress publishes it. A path in it is only used for links: Prometheus
    keeps serving at `/` (`--web.route-prefix=/`), so the proxy in front must strip it."""

    @property
    def retention_size(self) -> str:
        """`--storage.tsdb.retention.size`: RETENTION_SHARE_OF_VOLUME of `storageSize`, in MB (Prometheus
        counts 1024 x 1024 bytes to its MB)."""
        return f"{int(memory_bytes(self.storage_size) * RETENTION_SHARE_OF_VOLUME) // 2**20}MB"
