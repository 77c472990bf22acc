"""Load generator: chat requests at a steady rate from a pool of users, with repeated prompts.

    python -m perfstack_demo.loadgen --target http://127.0.0.1:8080 --rps 5 [--users 50] [--duration 60]

Each request carries ``X-User-Id`` from a fixed pool (``user-0000``...), so the
router's sticky split and the flags' per-user rollouts see the same users
again and again. Most prompts come from a short list of popular questions, so
the response cache gets hits; the rest are one-off questions (misses).

Requests are sent open-loop (a slow server does not slow the sender down)
but at most ``--concurrency`` are in flight: past that a tick is skipped and
counted as ``dropped``. It stops after ``--duration`` seconds, or on SIGTERM
or SIGINT, waits briefly for requests in flight, prints a JSON summary on
stdout and exits 0.
"""

import argparse
import asyncio
import contextlib
import json
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx2

POPULAR_PROMPTS: tuple[str, ...] = (
    "How do I reset my password?",
    "Summarise this chapter",
    "What is a canary release?",
    "Explain the cache policy",
    "Translate hello to French",
    "Define latency budget",
    "Shorten this paragraph",
    "What does p95 mean?",
)
"""Questions many users ask: repeated, so a cache can answer them."""

ONE_OFF_TOPICS: tuple[str, ...] = ("chapter", "invoice", "paragraph", "release", "report", "error")
INTENTS: tuple[tuple[str, float], ...] = (("simple", 0.6), ("enhance", 0.25), ("complex", 0.15))
"""The runbooks' intents and how often each is asked."""

USER_ID_HEADER = "X-User-Id"
SHUTDOWN_GRACE_SECONDS = 5.0
"""How long requests in flight may finish after the generator is told to stop."""


@dataclass
class Options:
    """What to send, how fast, for how long."""

    target: str
    rps: float
    users: int = 50
    duration: float | None = None
    popular_share: float = 0.7
    stream_share: float = 0.1
    concurrency: int = 64
    timeout: float = 10.0
    seed: int | None = None


@dataclass
class Summary:
    """What was sent and how it was answered."""

    sent: int = 0
    dropped: int = 0
    failed: int = 0
    """Requests that got no HTTP answer (connection error, timeout)."""
    codes: Counter[int] = field(default_factory=Counter)

    def as_json(self) -> str:
        """One JSON line for the log."""
        return json.dumps(
            {
                "sent": self.sent,
                "dropped": self.dropped,
                "failed": self.failed,
                "codes": {str(code): n for code, n in sorted(self.codes.items())},
            }
        )


class Workload:
    """Chooses the user, path and body of each request."""

    def __init__(self, options: Options, rng: random.Random) -> None:
        self._options = options
        self._rng = rng
        self.users = [f"user-{index:04d}" for index in range(options.users)]

    def next_request(self) -> tuple[str, str, dict[str, str]]:
        """(user id, path, JSON body) of the next request."""
        rng = self._rng
        if rng.random() < self._options.popular_share:
            prompt = rng.choice(POPULAR_PROMPTS)
        else:
            prompt = f"Check {rng.choice(ONE_OFF_TOPICS)} #{rng.randrange(1_000_000)}"
        intent = rng.choices([name for name, _ in INTENTS], weights=[w for _, w in INTENTS])[0]
        path = "/chat/stream" if rng.random() < self._options.stream_share else "/chat"
        return rng.choice(self.users), path, {"prompt": prompt, "intent": intent}


async def _send(
    client: httpx2.AsyncClient, workload: Workload, summary: Summary, slots: asyncio.Semaphore
) -> None:
    user, path, body = workload.next_request()
    try:
        response = await client.post(path, json=body, headers={USER_ID_HEADER: user})
        await response.aread()  # a stream counts as answered once it is read to the end
        summary.codes[response.status_code] += 1
    except httpx2.HTTPError:
        summary.failed += 1
    finally:
        slots.release()


async def run(options: Options, stop: asyncio.Event | None = None) -> Summary:
    """Send load until `options.duration` passes or `stop` is set; the summary of what happened."""
    stop = asyncio.Event() if stop is None else stop
    rng = random.Random(options.seed)
    workload = Workload(options, rng)
    summary = Summary()
    slots = asyncio.Semaphore(options.concurrency)
    tasks: set[asyncio.Task[None]] = set()
    interval = 1.0 / options.rps
    start = time.monotonic()
    deadline = None if options.duration is None else start + options.duration
    limits = httpx2.Limits(max_connections=options.concurrency, max_keepalive_connections=options.concurrency)
    async with httpx2.AsyncClient(base_url=options.target, timeout=options.timeout, limits=limits) as client:
        tick = 0
        while not stop.is_set():
            # Ticks are scheduled from the start time, so the rate does not drift with the send overhead.
            next_at = start + tick * interval
            if deadline is not None and next_at >= deadline:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, next_at - time.monotonic()))
            if stop.is_set():
                break
            tick += 1
            if slots.locked():
                summary.dropped += 1
                continue
            await slots.acquire()
            summary.sent += 1
            task = asyncio.create_task(_send(client, workload, summary, slots))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            _, pending = await asyncio.wait(set(tasks), timeout=SHUTDOWN_GRACE_SECONDS)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            summary.failed += len(pending)
    return summary


def parse_args(argv: Sequence[str] | None = None) -> Options:
    """Options from the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m perfstack_demo.loadgen", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--target", required=True, help="base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--rps", type=float, required=True, help="requests per second")
    parser.add_argument("--users", type=int, default=50, help="size of the user id pool (default 50)")
    parser.add_argument(
        "--duration", type=float, default=None, help="seconds to run (default: until a signal)"
    )
    parser.add_argument(
        "--popular-share", type=float, default=0.7, help="share of repeated prompts (default 0.7)"
    )
    parser.add_argument(
        "--stream-share", type=float, default=0.1, help="share sent to /chat/stream (default 0.1)"
    )
    parser.add_argument("--concurrency", type=int, default=64, help="most requests in flight (default 64)")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="per-request timeout in seconds (default 10)"
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed, for a repeatable sequence")
    args = parser.parse_args(argv)
    if (
        args.rps <= 0
        or args.users < 1
        or args.concurrency < 1
        or (args.duration is not None and args.duration < 0)
    ):
        parser.error("--rps must be > 0, --users and --concurrency >= 1, --duration >= 0")
    if not (0 <= args.popular_share <= 1 and 0 <= args.stream_share <= 1):
        parser.error("--popular-share and --stream-share must be within 0..1")
    return Options(
        target=args.target,
        rps=args.rps,
        users=args.users,
        duration=args.duration,
        popular_share=args.popular_share,
        stream_share=args.stream_share,
        concurrency=args.concurrency,
        timeout=args.timeout,
        seed=args.seed,
    )


async def _main(options: Options) -> Summary:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return await run(options, stop)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the load generator from the command line."""
    options = parse_args(argv)
    summary = asyncio.run(_main(options))
    print(summary.as_json(), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
