"""Router benchmark: the staging nginx router against a direct backend, same machine, same run.

Run on demand (not part of the test suite):

    python3 bench/router.py [--duration 5] [--connections 32] [--threads 2] [--rounds 3] [--access-log]

It starts a backend that answers 200 (nginx itself, ``return 200``, so the
backend is not the bottleneck) on 127.0.0.2, renders the router config the
staging stack deploys (``Pulumi.staging.yaml``: its routes, split, sticky
cookie and ``perfstack:router`` settings) with every track pointed at that
backend and one nginx worker, and runs wrk against the backend directly and
through the router, ``--rounds`` times in turn. It prints requests per
second, p50 latency, the ratio, and TIME_WAIT sockets after each run: those
on the bench's two ports, and the host's total (``ss -tan state time-wait |
wc -l``, which other programs add to). Exit status 1 when the median ratio
is below ``--min-ratio`` or a router run leaves more than one TIME_WAIT
socket on the bench's ports per ``--max-timewait-per`` requests.
"""

import argparse
import http.client
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from components.traffic.nginx_conf import NGINX_HEALTH_PATH, render_nginx_conf  # noqa: E402
from infra.loader import decode_config_value, parse_stack_config  # noqa: E402
from infra.mockrun import stack_file_config  # noqa: E402
from infra.wiring import route_target  # noqa: E402

BACKEND_HOST = "127.0.0.2"
"""A loopback address of its own, as an app container has (Linux routes 127.0.0.0/8 to lo)."""
ROUTER_HOST = "127.0.0.1"


@dataclass(frozen=True)
class Result:
    """One wrk run."""

    requests: int
    requests_per_second: float
    p50: str
    errors: str
    timewait_before: int
    timewait_after: int
    """TIME_WAIT sockets on the bench's ports, before and after the run."""
    host_timewait_after: int

    @property
    def timewait_added(self) -> int:
        return self.timewait_after - self.timewait_before


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not found:
        sys.exit("nginx is not installed (apt-get install -y nginx)")
    return found


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def timewait_sockets(ports: tuple[int, ...] = ()) -> int:
    """TIME_WAIT TCP sockets (`ss -tan state time-wait`, less its header), only on ``ports`` if given."""
    match = [f"sport = :{port} or dport = :{port}" for port in ports]
    command = ["ss", "-tan", "state", "time-wait", *(["( " + " or ".join(match) + " )"] if match else [])]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return max(len(output.splitlines()) - 1, 0)


def backend_conf(prefix: Path, port: int) -> str:
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp = {name: prefix / f"backend_{name}_temp" for name in kinds}
    return f"""worker_processes 1;
pid "{prefix / "backend.pid"}";
error_log "{prefix / "backend-error.log"}" warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    # The backend never closes a connection itself, so every TIME_WAIT socket
    # of the run comes from the side under test.
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path "{temp["client_body"]}";
    proxy_temp_path "{temp["proxy"]}";
    fastcgi_temp_path "{temp["fastcgi"]}";
    uwsgi_temp_path "{temp["uwsgi"]}";
    scgi_temp_path "{temp["scgi"]}";
    server {{
        listen {BACKEND_HOST}:{port};
        location / {{ default_type text/plain; return 200 "ok\\n"; }}
    }}
}}
"""


def router_conf(prefix: Path, port: int, backend: str, access_log: bool) -> str:
    """The staging router config with every track pointed at ``backend``, one worker, files in ``prefix``."""
    config = parse_stack_config(
        {key: decode_config_value(value) for key, value in stack_file_config("staging").items()}
    )
    targets = [
        target
        for name, service in config.services.items()
        if (
            target := route_target(
                name,
                service,
                kill_switch=config.kill_switch,
                stable_upstream=backend,
                canary_upstream=backend if service.canary is not None else None,
            )
        )
        is not None
    ]
    return render_nginx_conf(
        targets,
        listen_address=ROUTER_HOST,
        listen_port=port,
        pid_path=str(prefix / "router.pid"),
        error_log=str(prefix / "router-error.log"),
        access_log=str(prefix / "router-access.log") if access_log else "off",
        temp_dir=str(prefix),
        worker_processes=1,
        proxy=config.router.proxy_options(),
    )


class Nginx:
    """One nginx master in the foreground, stopped on exit."""

    def __init__(self, binary: str, prefix: Path, name: str, conf: str) -> None:
        self.conf = prefix / f"{name}.conf"
        self.conf.write_text(conf)
        args = [binary, "-c", str(self.conf), "-p", str(prefix), "-e", "stderr"]
        check = subprocess.run([*args, "-t"], capture_output=True, text=True, check=False)
        if check.returncode != 0:
            sys.exit(f"nginx -t refused {self.conf}:\n{check.stderr}")
        self.process = subprocess.Popen([*args, "-g", "daemon off;"])

    def wait_until_listening(self, host: str, port: int) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection((host, port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        sys.exit(f"nginx ({self.conf}) did not listen on {host}:{port}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)


def wrk(url: str, args: argparse.Namespace, ports: tuple[int, ...]) -> Result:
    before = timewait_sockets(ports)
    output = subprocess.run(
        [
            "wrk",
            f"-t{args.threads}",
            f"-c{args.connections}",
            f"-d{args.duration}s",
            "--latency",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    after = timewait_sockets(ports)
    host_after = timewait_sockets()
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    if not (rps and total and p50):
        sys.exit(f"unexpected wrk output:\n{output}")
    errors = re.search(r"Socket errors:.*|Non-2xx or 3xx responses: \d+", output)
    return Result(
        requests=int(total.group(1)),
        requests_per_second=float(rps.group(1)),
        p50=p50.group(1),
        errors=errors.group(0) if errors else "",
        timewait_before=before,
        timewait_after=after,
        host_timewait_after=host_after,
    )


def report(label: str, result: Result) -> None:
    print(
        f"{label:<8} {result.requests_per_second:>10.0f} req/s   p50 {result.p50:>8}   "
        f"{result.requests:>8} requests   TIME_WAIT on bench ports {result.timewait_before} -> "
        f"{result.timewait_after}, host total {result.host_timewait_after}"
        + (f"   {result.errors}" if result.errors else "")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="direct and router runs in turn; goals use the median (3)"
    )
    parser.add_argument("--access-log", action="store_true", help="router writes its access log to a file")
    parser.add_argument("--min-ratio", type=float, default=0.35, help="goal: router/direct throughput (0.35)")
    parser.add_argument(
        "--max-timewait-per", type=int, default=100, help="goal: <= 1 TIME_WAIT per N router requests (100)"
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install -y wrk)")
    binary = nginx_binary()
    with tempfile.TemporaryDirectory(prefix="perfstack-bench-") as directory:
        prefix = Path(directory)
        backend_port, router_port = free_port(BACKEND_HOST), free_port(ROUTER_HOST)
        routing = router_conf(prefix, router_port, f"{BACKEND_HOST}:{backend_port}", args.access_log)
        started: list[Nginx] = []
        try:
            backend = Nginx(binary, prefix, "backend", backend_conf(prefix, backend_port))
            started.append(backend)
            router = Nginx(binary, prefix, "router", routing)
            started.append(router)
            backend.wait_until_listening(BACKEND_HOST, backend_port)
            router.wait_until_listening(ROUTER_HOST, router_port)
            print(
                f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s; backend nginx "
                f"{BACKEND_HOST}:{backend_port} (return 200, 1 worker); staging router "
                f"{ROUTER_HOST}:{router_port} (1 worker, access log {'on' if args.access_log else 'off'})"
            )
            ports = (backend_port, router_port)
            ratios: list[float] = []
            timewait_ok = True
            for _ in range(args.rounds):
                # In turn, so that a busy neighbour on the machine slows both alike.
                direct = wrk(f"http://{BACKEND_HOST}:{backend_port}/", args, ports)
                report("direct", direct)
                time.sleep(1)
                routed = wrk(f"http://{ROUTER_HOST}:{router_port}/", args, ports)
                report("router", routed)
                ratio = routed.requests_per_second / direct.requests_per_second
                limit = routed.requests // args.max_timewait_per
                timewait_ok &= routed.timewait_added <= limit and not routed.errors
                ratios.append(ratio)
                print(
                    f"ratio    {ratio:.2f}   TIME_WAIT on bench ports +{routed.timewait_added} during the "
                    f"router run (limit {limit}: one per {args.max_timewait_per} requests)\n"
                )
                time.sleep(1)
            health = http.client.HTTPConnection(ROUTER_HOST, router_port, timeout=5)
            health.request("GET", NGINX_HEALTH_PATH)
            if health.getresponse().status != 200:
                sys.exit("the router's health check failed after the run")
            health.close()
        finally:
            for server in reversed(started):
                server.stop()
    median = statistics.median(ratios)
    print(f"median ratio {median:.2f} of direct throughput (goal >= {args.min_ratio})")
    print(f"TIME_WAIT and errors: {'within the limit' if timewait_ok else 'OVER the limit'} in every round")
    ok = median >= args.min_ratio and timewait_ok
    print("goals met" if ok else "goals NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
