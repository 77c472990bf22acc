"""Serve the demo app with uvicorn on ``$HOST:$PORT``, draining for ``DEMO_DRAIN_SECONDS`` on SIGTERM.

A load balancer keeps sending requests for a moment after it is told a pod
is going away. So on the first SIGTERM the app keeps serving but fails
/ready; only after the drain does uvicorn's graceful shutdown begin (stop
accepting, finish open requests, run the lifespan exit). A second SIGTERM or
a SIGINT skips the rest of the drain.
"""

import logging
import signal
import sys
import threading
from types import FrameType

import uvicorn
from pydantic import ValidationError

from perfstack_demo.app import Lifecycle, create_app
from perfstack_demo.settings import Settings

logger = logging.getLogger("perfstack_demo")

GRACEFUL_SHUTDOWN_SECONDS = 10
"""How long uvicorn waits for open requests after the drain (a streamed answer takes well under that)."""


class DrainingServer(uvicorn.Server):
    """uvicorn's server, with a readiness drain between SIGTERM and the shutdown."""

    def __init__(self, config: uvicorn.Config, lifecycle: Lifecycle, drain_seconds: float) -> None:
        super().__init__(config)
        self._lifecycle = lifecycle
        self._drain_seconds = drain_seconds

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Start the drain on the first SIGTERM; exit as uvicorn does on anything else."""
        if sig == signal.SIGTERM and not self._lifecycle.draining and self._drain_seconds > 0:
            self._lifecycle.begin_drain()
            logger.info("SIGTERM: shutting down in %.1f s", self._drain_seconds)
            # A timer thread, because a signal handler must return at once; uvicorn's
            # handle_exit only sets flags that its main loop polls.
            timer = threading.Timer(self._drain_seconds, super().handle_exit, (sig, frame))
            timer.daemon = True
            timer.start()
            return
        super().handle_exit(sig, frame)


def describe(exc: ValidationError) -> str:
    """One line per bad variable, named by its env name, without the values.

    pydantic's own message repeats the input, which for an error about the
    whole model is the whole environment: not something to print.
    """
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "environment"
        lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)


def main() -> None:
    """Validate the env, build the app and serve it until a signal ends the process."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
        app = create_app(settings)
    except ValidationError as exc:
        sys.exit(f"invalid environment:\n{describe(exc)}")
    except OSError as exc:
        sys.exit(f"cannot read REDIS_PASSWORD_FILE: {exc}")
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        # The router in front is the only proxy; client addresses are not used.
        proxy_headers=False,
        server_header=False,
        log_config=None,
    )
    DrainingServer(config, app.state.runtime.lifecycle, settings.drain_seconds).run()


if __name__ == "__main__":
    main()
