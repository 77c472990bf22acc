"""Grafana settings (`perfstack:grafana`)."""

from components.platform.settings import ImageTag, WorkloadConfig


class GrafanaConfig(WorkloadConfig):
    """Grafana (`grafana/grafana`)."""

    version: ImageTag = "11.6.0"
    """Image tag."""
