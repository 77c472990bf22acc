"""Prometheus server settings (`perfstack:prometheus`)."""

from typing import Annotated

from pydantic import Field

from components.platform.images import IMAGES
from components.platform.settings import ImageTag, MemoryQuantity, PromDuration, WorkloadConfig


class PrometheusConfig(WorkloadConfig):
    """Prometheus (`prom/prometheus`)."""

    version: ImageTag = IMAGES["prometheus"].version
    """Image tag."""
    retention: PromDuration = "15d"
    """How long samples are kept (`--storage.tsdb.retention.time`)."""
    storage_size: MemoryQuantity = "10Gi"
    """Size of the TSDB volume."""
    replicas: Annotated[int, Field(ge=1, le=5)] = 1
    """Identical Prometheus servers scraping the same targets (HA on Kubernetes)."""
