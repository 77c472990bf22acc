"""Traffic router settings (`perfstack:router`)."""

from components.platform.images import IMAGES
from components.platform.settings import ImageTag, WorkloadConfig


class RouterConfig(WorkloadConfig):
    """The nginx traffic router of the Docker platform (`nginx`, unprivileged port)."""

    version: ImageTag = IMAGES["nginx"].version
    """Image tag."""
