"""The canary rollback (weight 0) applied with `nginx -s reload` under live traffic."""

import http.client
import threading
import time
from dataclasses import dataclass

from components.traffic.nginx_conf import TRACK_HEADER, RouteTarget, render_nginx_conf


@dataclass(frozen=True)
class Outcome:
    started: float
    track: str | None
    error: str | None


def route(backends: dict[str, str], weight: int) -> RouteTarget:
    return RouteTarget("api", "/", backends["stable"], backends["canary"], canary_weight=weight)


def send_until(stop: threading.Event, port: int, client: int, outcomes: list[Outcome]) -> None:
    """One client: a new connection per request, a new user id per request, until `stop`."""
    number = 0
    while not stop.is_set():
        number += 1
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", "/orders", headers={"X-User-Id": f"client{client}-{number}"})
            response = conn.getresponse()
            body = response.read().decode()
            ok = response.status == 200 and response.getheader(TRACK_HEADER) == body
            outcomes.append(Outcome(started, body, None if ok else f"{response.status} {body!r}"))
        except OSError as exc:
            outcomes.append(Outcome(started, None, repr(exc)))
        finally:
            conn.close()


def test_reload_to_weight_0_fails_no_request_and_then_sends_everyone_to_stable(nginx, backends) -> None:
    nginx.write(render_nginx_conf([route(backends, 50)], **nginx.conf_kwargs))
    nginx.start()
    old_workers = nginx.worker_pids()
    stop = threading.Event()
    outcomes: list[Outcome] = []
    clients = [threading.Thread(target=send_until, args=(stop, nginx.port, n, outcomes)) for n in range(4)]
    for client in clients:
        client.start()
    try:
        time.sleep(0.5)
        nginx.write(render_nginx_conf([route(backends, 0)], **nginx.conf_kwargs))
        nginx.reload()
        # Once the old workers have exited, every request is served by the new config.
        deadline = time.monotonic() + 10
        while nginx.worker_pids() & old_workers and time.monotonic() < deadline:
            time.sleep(0.02)
        switched = time.monotonic()
        assert not nginx.worker_pids() & old_workers, "old workers still running 10s after reload"
        time.sleep(0.5)
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=15)

    before = [o for o in outcomes if o.started < switched]
    after = [o for o in outcomes if o.started > switched]
    assert [o.error for o in outcomes if o.error] == []
    assert {o.track for o in before} == {"stable", "canary"}  # the split was live before the reload
    assert len(after) > 100
    assert {o.track for o in after} == {"stable"}
