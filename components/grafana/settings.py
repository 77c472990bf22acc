"""Grafana settings (`perfstack:grafana`)."""

from components.platform.images import IMAGES
from components.platform.settings import ImageTag, WorkloadConfig


class GrafanaConfig(WorkloadConfig):
    """Grafana (`grafana/grafana`), stateless by design: dashboards, datasources and the admin
    password come from this repository and the stack's secrets at every start, and its data
    directory is scratch space (tmpfs on Docker, emptyDir on Kubernetes). Anything made in the UI
    (a dashboard saved there, users, preferences, annotations) is gone at the next restart: change
    dashboards in components/grafana/dashboards.py (docs/operations.md, "Grafana")."""

    version: ImageTag = IMAGES["grafana"].version
    """Image tag."""
