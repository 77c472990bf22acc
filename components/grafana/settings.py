"""Grafana settings (`perfstack:grafana`)."""

from components.platform.images import IMAGES
from components.platform.settings import ImageTag, WorkloadConfig


class GrafanaConfig(WorkloadConfig):
    """Grafana (`grafana/grafana`)."""

    version: ImageTag = IMAGES["grafana"].version
    """Image tag."""
