"""ASGI middleware: one server span and the request metrics for every HTTP request but the probes.

Requests are labelled by route *template* (``/admin/faults/{track}``, not
``/admin/faults/canary``), and requests matching no route by ``unmatched``,
so label cardinality stays bounded whatever clients send. ``/metrics``,
``/health`` and ``/ready`` are neither counted nor traced: scrapes and probes
arrive every few seconds and would dilute the error and latency ratios the
alerts compute.
"""

import time
from collections.abc import Sequence

from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from perfstack_demo.metrics import AppMetrics
from perfstack_demo.tracing import TRACK_ATTRIBUTE

UNOBSERVED_ROUTES: frozenset[str] = frozenset({"/metrics", "/health", "/ready"})
"""Route templates left out of the request metrics and traces."""

UNMATCHED_ROUTE = "unmatched"
"""The route label of requests that match no route (404s of scanners and typos)."""


def route_template(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The path template of the route that will handle `scope` (a method mismatch still names the route)."""
    partial: str | None = None
    for route in routes:
        match, _ = route.matches(scope)
        path = getattr(route, "path", None)
        if match is Match.FULL and path is not None:
            return str(path)
        if match is Match.PARTIAL and partial is None and path is not None:
            partial = str(path)
    return partial if partial is not None else UNMATCHED_ROUTE


class ObservabilityMiddleware:
    """Times, counts and traces each HTTP request handled by `app`, whose routes are `routes`."""

    def __init__(
        self, app: ASGIApp, *, routes: Sequence[BaseRoute], metrics: AppMetrics, tracer: Tracer, track: str
    ) -> None:
        self.app = app
        self._routes = routes
        self._metrics = metrics
        self._tracer = tracer
        self._track = track

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = route_template(self._routes, scope)
        if route in UNOBSERVED_ROUTES:
            await self.app(scope, receive, send)
            return

        method: str = scope["method"]
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        status = 500  # what the client gets if the app raises before answering
        start = time.perf_counter()
        with self._tracer.start_as_current_span(
            f"{method} {route}",
            context=propagate.extract(headers),
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "http.route": route,
                "url.path": scope["path"],
                TRACK_ATTRIBUTE: self._track,
            },
            # The span's status is set below from the HTTP status; an exception
            # still ends the span and is recorded.
            set_status_on_exception=False,
        ) as span:

            async def send_and_capture(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                await send(message)

            try:
                await self.app(scope, receive, send_and_capture)
            finally:
                # Observed once the body is sent, so a stream counts its whole duration.
                self._metrics.observe_request(route, status, time.perf_counter() - start)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
