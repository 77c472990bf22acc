"""Traffic router settings (`perfstack:router`)."""

from typing import Annotated

from pydantic import Field

from components.platform.images import IMAGES
from components.platform.settings import ImageTag, PromDuration, WorkloadConfig, duration_seconds
from components.traffic.nginx_conf import ProxyOptions


class RouterConfig(WorkloadConfig):
    """The nginx traffic router of the Docker platform (`nginx`, unprivileged port)."""

    version: ImageTag = IMAGES["nginx"].version
    """Image tag."""
    read_timeout: PromDuration = "5m"
    """Longest pause the router waits for the next bytes of an app's response before it gives up
    (nginx `proxy_read_timeout`): a pause between two chunks, not the whole response. Long, because a
    streamed answer (`/chat/stream`) may pause while the model works and nginx's 60 s default cut it
    off; a hung request also waits this long before it fails with 504."""
    upstream_keepalive: Annotated[int, Field(ge=0, le=1024)] = 32
    """Idle connections each nginx worker keeps open to each track for the next requests (`keepalive`):
    without them every request opens a new TCP connection, and the router passed under a third of the
    requests per second it does with them (`bench/router.py`). 0 closes each connection after its
    request, for an app server that cannot hold idle connections."""
    upstream_keepalive_timeout: PromDuration = "4s"
    """How long the router keeps an idle app connection open. Keep it below the app server's own idle
    timeout (uvicorn and Node: 5 s), so the router, not the app, closes an idle connection: otherwise a
    request can be sent just as the app closes it and fail with 502."""

    def proxy_options(self) -> ProxyOptions:
        """These settings as the nginx renderer takes them."""
        return ProxyOptions(
            read_timeout_seconds=duration_seconds(self.read_timeout),
            keepalive=self.upstream_keepalive,
            keepalive_timeout_seconds=duration_seconds(self.upstream_keepalive_timeout),
        )
