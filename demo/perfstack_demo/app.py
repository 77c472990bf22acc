"""The demo app: a chat API implementing perfstack's app contract (metrics, probes, flags, tracing).

Routes:

- ``GET /health``: liveness, the process answers; never looks at dependencies;
- ``GET /ready``: readiness, 200 once started and until a SIGTERM starts the
  drain, then 503; Redis is a cache, so its state is reported, never failed on;
- ``GET /metrics``: the metrics contract (see metrics.py);
- ``POST /chat``, ``POST /chat/stream``: the API, user from ``X-User-Id``;
- ``GET /admin/faults``, ``PUT``/``DELETE /admin/faults/{track}``: fault
  injection, a demo feature (see faults.py).

`create_app` builds everything that does no I/O; the lifespan connects Redis,
reads the shared faults and starts their refresher, and on the way out closes
Redis and flushes the spans.
"""

import asyncio
import contextlib
import json
import logging
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from opentelemetry.sdk.trace.export import SpanExporter
from pydantic import TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from perfstack_demo.cache import ResponseCache
from perfstack_demo.chat import Answer, ChatRequest, ChatService, InjectedError
from perfstack_demo.faults import TRACKS, Faults, FaultStore, Track
from perfstack_demo.metrics import CONTENT_TYPE, AppMetrics
from perfstack_demo.model import SimulatedModel
from perfstack_demo.observability import ObservabilityMiddleware
from perfstack_demo.redis_link import RedisLink, RedisUnavailable, connect
from perfstack_demo.settings import Settings
from perfstack_demo.tracing import Tracing, configure_tracing

logger = logging.getLogger(__name__)

USER_ID_HEADER = "x-user-id"
"""The header naming the user (the router's split key too); without it each request is a new user."""

_TRACK = TypeAdapter(Track)


class Lifecycle:
    """Started and draining: what /ready answers from."""

    def __init__(self) -> None:
        self.started = False
        self.draining = False

    @property
    def ready(self) -> bool:
        """Whether the instance should get traffic."""
        return self.started and not self.draining

    def begin_drain(self) -> None:
        """Fail readiness from now on, so load balancers stop sending new requests before the exit."""
        if not self.draining:
            logger.info("draining: /ready answers 503 from now on")
        self.draining = True


@dataclass
class Runtime:
    """One app instance's parts; those that need the event loop are made by the lifespan."""

    settings: Settings
    metrics: AppMetrics
    tracing: Tracing
    lifecycle: Lifecycle
    rng: random.Random
    redis: RedisLink = field(default_factory=lambda: RedisLink(None))
    faults: FaultStore | None = None
    chat: ChatService | None = None

    def services(self) -> tuple[FaultStore, ChatService]:
        """The fault store and chat service; only requests after startup reach the handlers that ask."""
        if self.faults is None or self.chat is None:
            raise RuntimeError("the app has not started")
        return self.faults, self.chat


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _validation_error(exc: ValidationError) -> JSONResponse:
    return JSONResponse({"detail": json.loads(exc.json(include_url=False))}, status_code=422)


async def _chat_request(request: Request) -> ChatRequest | JSONResponse:
    try:
        return ChatRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        return _validation_error(exc)


def _user_id(request: Request) -> str:
    return request.headers.get(USER_ID_HEADER) or f"anonymous-{uuid.uuid4().hex}"


async def health(request: Request) -> Response:
    """Liveness: answering at all is the whole check."""
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> Response:
    """Readiness: 200 while started and not draining; Redis is reported, not required."""
    runtime = _runtime(request)
    lifecycle = runtime.lifecycle
    state = "ready" if lifecycle.ready else ("draining" if lifecycle.draining else "starting")
    return JSONResponse(
        {
            "status": state,
            "track": runtime.settings.track,
            "version": runtime.settings.version,
            "redis": runtime.redis.status,
        },
        status_code=200 if lifecycle.ready else 503,
    )


async def metrics(request: Request) -> Response:
    """The Prometheus exposition of this instance's registry."""
    return Response(_runtime(request).metrics.exposition(), media_type=CONTENT_TYPE)


async def _prepared(request: Request) -> tuple[ChatService, ChatRequest, Answer] | JSONResponse:
    """The chat request, its planned answer and the service to finish it; or the error response."""
    _, service = _runtime(request).services()
    body = await _chat_request(request)
    if isinstance(body, JSONResponse):
        return body
    try:
        return service, body, await service.prepare(body, _user_id(request))
    except InjectedError as exc:
        return JSONResponse({"error": str(exc)}, status_code=500)


async def chat(request: Request) -> Response:
    """Answer a prompt with a fake completion."""
    prepared = await _prepared(request)
    if isinstance(prepared, JSONResponse):
        return prepared
    service, body, answer = prepared
    await service.generate(body, answer)
    settings = _runtime(request).settings
    return JSONResponse(answer.body(track=settings.track, version=settings.version))


async def chat_stream(request: Request) -> Response:
    """Answer a prompt as server-sent events: ``data`` chunks of text, then a ``done`` event with usage."""
    prepared = await _prepared(request)
    if isinstance(prepared, JSONResponse):
        return prepared
    service, body, answer = prepared
    settings = _runtime(request).settings

    async def events() -> AsyncIterator[str]:
        async for chunk in service.stream(body, answer):
            yield f"data: {json.dumps({'delta': chunk})}\n\n"
        done = answer.body(track=settings.track, version=settings.version)
        yield f"event: done\ndata: {json.dumps(done)}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _track_param(request: Request) -> Track | JSONResponse:
    try:
        return _TRACK.validate_python(request.path_params["track"])
    except ValidationError as exc:
        return _validation_error(exc)


async def get_faults(request: Request) -> Response:
    """This instance's faults now, and the shared faults of each track (null: none, or Redis unreachable)."""
    runtime = _runtime(request)
    store, _ = runtime.services()
    shared: dict[str, object] = {}
    for track in TRACKS:
        try:
            faults = await store.read(track)
        except RedisUnavailable:
            faults = None
        shared[track] = None if faults is None else faults.model_dump()
    return JSONResponse(
        {
            "service": runtime.settings.service_name,
            "track": runtime.settings.track,
            "active": store.current.model_dump(),
            "shared": shared,
            "redis": runtime.redis.status,
        }
    )


async def put_faults(request: Request) -> Response:
    """Set a track's faults (the body replaces them whole) for every instance of the track."""
    store, _ = _runtime(request).services()
    track = _track_param(request)
    if isinstance(track, JSONResponse):
        return track
    try:
        faults = Faults.model_validate_json(await request.body())
    except ValidationError as exc:
        return _validation_error(exc)
    try:
        shared = await store.put(track, faults)
    except RedisUnavailable:
        return JSONResponse(
            {"error": "Redis is unreachable: faults of another track cannot be set"}, status_code=503
        )
    return JSONResponse({"track": track, "faults": faults.model_dump(), "shared": shared})


async def delete_faults(request: Request) -> Response:
    """Clear a track's shared faults; its instances return to their DEMO_FAULTS baseline."""
    store, _ = _runtime(request).services()
    track = _track_param(request)
    if isinstance(track, JSONResponse):
        return track
    try:
        shared = await store.delete(track)
    except RedisUnavailable:
        return JSONResponse(
            {"error": "Redis is unreachable: faults of another track cannot be cleared"}, status_code=503
        )
    return JSONResponse({"track": track, "shared": shared})


ROUTES = [
    Route("/health", health, methods=["GET"]),
    Route("/ready", ready, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/chat", chat, methods=["POST"]),
    Route("/chat/stream", chat_stream, methods=["POST"]),
    Route("/admin/faults", get_faults, methods=["GET"]),
    Route("/admin/faults/{track}", put_faults, methods=["PUT"]),
    Route("/admin/faults/{track}", delete_faults, methods=["DELETE"]),
]


async def cancel_until_done(task: asyncio.Task[None]) -> None:
    """Cancel `task` until it has ended.

    One cancel is not always enough: on Python 3.11 a cancellation that lands as a Redis command's
    `asyncio.timeout` expires comes out as TimeoutError, which the fault refresher takes for Redis
    being down and carries on, and the app's shutdown then waited for it for ever.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(settings: Settings | None = None, *, span_exporter: SpanExporter | None = None) -> Starlette:
    """The app for `settings` (from the process env by default).

    `span_exporter` replaces the exporter the OTEL_* env would choose (tests use an in-memory one).
    Raises when the settings are invalid or the Redis password file is unreadable.
    """
    settings = Settings.from_env() if settings is None else settings
    password = settings.redis_password()  # read now: a missing secret file fails the start, not a request
    metrics_ = AppMetrics(settings.track)
    tracing = configure_tracing(
        service_name=settings.service_name,
        version=settings.version,
        track=settings.track,
        exporter=span_exporter,
    )
    runtime = Runtime(
        settings=settings,
        metrics=metrics_,
        tracing=tracing,
        lifecycle=Lifecycle(),
        rng=random.Random(settings.seed),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime.redis = connect(
            host=settings.redis_host,
            port=settings.redis_port,
            password=None if password is None else password.get_secret_value(),
            sentinels=settings.redis_sentinels,
            master_name=settings.redis_master_name,
            timeout_seconds=settings.redis_timeout_seconds,
        )
        store = FaultStore(
            runtime.redis, service=settings.service_name, track=settings.track, baseline=settings.faults
        )
        runtime.faults = store
        runtime.chat = ChatService(
            flags=settings.flags,
            faults=store,
            cache=ResponseCache(
                runtime.redis,
                metrics_,
                service=settings.service_name,
                version=settings.version,
                ttl_seconds=settings.cache_ttl_seconds,
            ),
            model=SimulatedModel(runtime.rng, settings.latency_scale),
            metrics=metrics_,
            tracer=tracing.tracer,
            rng=runtime.rng,
            track=settings.track,
        )
        await store.refresh()
        refresher = asyncio.create_task(store.run(settings.faults_refresh_seconds))
        runtime.lifecycle.started = True
        logger.info(
            "started: track %s, version %s, redis %s, optimisation flags %s",
            settings.track,
            settings.version,
            "disabled" if not runtime.redis.enabled else "configured",
            "disabled"
            if settings.flags.disable_all
            else {k.value: v for k, v in settings.flags.flags.items()},
        )
        try:
            yield
        finally:
            await cancel_until_done(refresher)
            await runtime.redis.aclose()
            tracing.shutdown()

    app = Starlette(
        routes=ROUTES,
        middleware=[
            Middleware(
                ObservabilityMiddleware,
                routes=ROUTES,
                metrics=metrics_,
                tracer=tracing.tracer,
                track=settings.track,
            )
        ],
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app
