"""The stack's processes on 127.0.0.1, each started from what a mocked run of the stack deploys.

Every file, command line, env and secret comes from the run (`run_stack` +
`infra.render.config_files`, the containers' uploads, commands and envs). What
is rewritten, and only that:

- addresses: a container name or alias and its port becomes 127.0.0.1 and a free port
  (scrape targets, the Redis target URL and the exporter address in the Redis job's relabelling,
  the Alertmanager targets, nginx's upstreams and listener, Jaeger's listeners, the app's
  REDIS_HOST/REDIS_PORT and OTLP endpoint, redis.conf's bind/port, the exporter password file's
  target URL, `--web.external-url`, every `--web.listen-address`);
- paths: where a container mounts a file or keeps data becomes a file or directory in the test's
  temp dir (rule files, secrets, redis.conf's dir and include, nginx's pid and temp paths,
  badger's directories, the sampling strategies file).

The Grafana scrape target keeps a free port that nothing listens on: no Grafana server runs here
(none is packaged for this machine), so Prometheus records it as down, as it would a stopped
Grafana. Prometheus, Alertmanager and Jaeger are the pinned versions (tools/build.py);
redis-server 7.0 and nginx 1.22 are Debian's, as in every other test here; redis_exporter is
Debian's ``prometheus-redis-exporter`` 1.45 instead of the pinned image (no registry serves that),
and it takes the flags the stack gives it unchanged (``--redis.addr=`` empty,
``--redis.password-file`` with a JSON map of target URL to password, the ``/scrape?target=``
endpoint).
"""

import json
import os
import posixpath
import re
import shutil
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from components.jaeger.config import HEALTH_PORT, METRICS_PORT, OTLP_GRPC_PORT, QUERY_HTTP_PORT
from components.traffic.nginx_conf import NGINX_HEALTH_PATH
from infra.mockrun import MockedResource, ProgramRun
from tests.app.test_stack_env import container_env
from tests.observability.tools import tool_path
from tests.servers.harness import (
    LOOPBACK,
    STOP_TIMEOUT_S,
    Server,
    answers_200,
    free_ports,
    get_json,
    loopback_jaeger_config,
    replace_flags,
    workload_args,
)

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
CONTAINER = "docker:index/container:Container"
TRACKS = ("stable", "canary")


def installed(name: str, fallback: str) -> str:
    """A Debian program the e2e tests run; CI installs it (.ci/run), so a missing one is a failure."""
    found = shutil.which(name) or (fallback if os.access(fallback, os.X_OK) else None)
    assert found, f"{name} is not installed (see the apt-get line of .ci/run)"
    return found


def container(run: ProgramRun, name: str) -> MockedResource:
    """The Docker container `name` of the run."""
    return run.get(CONTAINER, name)


def uploads(run: ProgramRun, name: str) -> dict[str, str]:
    """Every file the container gets, secret or not, by its path in the container."""
    return {u["file"]: u["content"] for u in container(run, name).inputs.get("uploads") or []}


class Process(Server):
    """A server process whose env is exactly the one given (nothing inherited but PATH, HOME, LANG).

    The app's settings come from its env: an OTEL_* or REDIS_* variable of the
    shell running pytest must not change what is tested.
    """

    def __init__(
        self, name: str, argv: list[str], directory: Path, env: Mapping[str, str], stop_signal: int
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = directory / f"{name}.log"
        self.stop_signal = stop_signal
        base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=directory,
                env={**base, **env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        """Send the stop signal, then kill if it does not exit within STOP_TIMEOUT_S."""
        if self.process.poll() is None:
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)

    def kill(self) -> None:
        """SIGKILL: the process dies as a crashed container does, without draining or flushing."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)


@dataclass
class Restartable:
    """A process that a scenario stops and starts again with the same command line and env."""

    name: str
    argv: list[str]
    directory: Path
    env: dict[str, str]
    stop_signal: int = signal.SIGTERM
    starts: int = 0
    current: Process | None = None

    def start(self) -> Process:
        self.starts += 1
        suffix = "" if self.starts == 1 else f"-{self.starts}"
        self.current = Process(f"{self.name}{suffix}", self.argv, self.directory, self.env, self.stop_signal)
        return self.current

    @property
    def server(self) -> Process:
        assert self.current is not None, f"{self.name} was never started"
        return self.current

    def kill(self) -> None:
        self.server.kill()

    def stop(self) -> None:
        if self.current is not None:
            self.current.stop()


@dataclass
class AppInstance:
    """One track of the demo app: `python -m perfstack_demo` with the env the stack gives the container."""

    track: str
    address: str
    process: Restartable

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def wait_ready(self) -> None:
        self.process.server.wait_until(answers_200(f"{self.url}/ready"), f"{self.process.name} /ready")

    def start(self) -> None:
        self.process.start()
        self.wait_ready()


@dataclass
class RedisNode:
    """redis-server with the generated redis.conf, and its password (from the stack's secret)."""

    address: str
    password: str
    process: Restartable

    def ping(self) -> bool:
        import redis

        host, port = self.address.rsplit(":", 1)
        client = redis.Redis(host=host, port=int(port), password=self.password, socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.exceptions.BusyLoadingError:
            return False  # still loading the AOF after a restart
        except redis.exceptions.ConnectionError as error:
            raise OSError(str(error)) from error  # "not yet" for Server.wait_until
        finally:
            client.close()

    def start(self) -> None:
        self.process.start()
        self.process.server.wait_until(self.ping, "redis-server to answer PING")


@dataclass
class E2eStack:
    """Every process of the stack, running, and where each listens."""

    run: ProgramRun
    files: dict[str, str]
    directory: Path
    redis: RedisNode
    exporter: Process
    jaeger: Process
    jaeger_ports: dict[int, int]
    apps: dict[str, AppInstance]
    nginx: Process
    router_url: str
    alertmanager: Process
    alertmanager_url: str
    prometheus_url: str
    local_addresses: dict[str, str]
    """The local address standing for each scrape job's targets (see loopback_prometheus_config)."""
    prometheus: Process | None = None
    """Started last, by start_prometheus."""

    def jaeger_url(self, generated_port: int) -> str:
        return f"http://{LOOPBACK}:{self.jaeger_ports[generated_port]}"

    def describe(self) -> str:
        """Every process's state and log tail, for a failure message."""
        processes = [
            self.redis.process.server,
            self.exporter,
            self.jaeger,
            *(app.process.server for app in self.apps.values()),
            self.nginx,
            self.alertmanager,
            *([self.prometheus] if self.prometheus else []),
        ]
        return "\n\n".join(p.describe() for p in processes)


# --- rewriting the generated files ------------------------------------------------------------


def loopback_redis_conf(generated: str, port: int, directory: Path, auth_include: Path) -> str:
    """redis.conf with its listener on loopback, its dir and its secret include in `directory`."""
    replacements = {
        r"^bind .*$": f"bind {LOOPBACK}",
        r"^port \d+$": f"port {port}",
        r"^dir .*$": f"dir {directory}",
        r"^include .*$": f"include {auth_include}",
    }
    text = generated
    for pattern, line in replacements.items():
        text, count = re.subn(pattern, line, text, flags=re.MULTILINE)
        assert count == 1, f"{pattern!r} matches {count} lines of the generated redis.conf"
    return text


def loopback_prometheus_config(
    generated: str, rule_files: Mapping[str, Path], local: Mapping[str, str]
) -> dict[str, Any]:
    """prometheus.yml with rule files in the temp dir and every target on loopback.

    `local` maps each scrape job name (and "redis" for the Redis nodes, "alertmanager" for the
    alerting targets) to the local address standing for its generated targets. A job this
    function does not know fails: a new target in the generated config needs a decision here.
    """
    config = yaml.safe_load(generated)
    config["rule_files"] = [str(rule_files[PurePosixPath(path).name]) for path in config["rule_files"]]
    replace: dict[str, str] = {}
    for job in config["scrape_configs"]:
        name = job["job_name"]
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                if name == "app":
                    replace[target] = local[f"app/{static['labels']['track']}"]
                elif target.startswith("redis://"):
                    replace[target] = f"redis://{local['redis']}"
                else:
                    assert name in local, f"no local stand-in for the scrape job {name!r}"
                    replace[target] = local[name]
        for relabel in job.get("relabel_configs", []):
            # The Redis job sends every request to the exporter (`__address__` replacement).
            if relabel.get("target_label") == "__address__" and "replacement" in relabel:
                replace[relabel["replacement"]] = local["redis-exporter"]
    for group in config["alerting"]["alertmanagers"]:
        for static in group["static_configs"]:
            for target in static["targets"]:
                replace[target] = local["alertmanager"]
    rewritten = _replace_strings(config, replace)
    leftovers = [t for t in _targets(rewritten) if not t.removeprefix("redis://").startswith(f"{LOOPBACK}:")]
    assert leftovers == [], f"targets not rewritten to loopback: {leftovers}"
    return dict(rewritten)


def _replace_strings(node: Any, replace: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        return {key: _replace_strings(value, replace) for key, value in node.items()}
    if isinstance(node, list):
        return [_replace_strings(item, replace) for item in node]
    if isinstance(node, str):
        return replace.get(node, node)
    return node


def _targets(config: dict[str, Any]) -> list[str]:
    jobs = [static["targets"] for job in config["scrape_configs"] for static in job.get("static_configs", [])]
    alerting = [s["targets"] for g in config["alerting"]["alertmanagers"] for s in g["static_configs"]]
    return [target for targets in jobs + alerting for target in targets]


def loopback_nginx_conf(generated: str, upstreams: Mapping[str, str], listen: str, directory: Path) -> str:
    """The router's nginx.conf with each upstream server, the listener, pid and temp paths local.

    `upstreams` maps every host the generated upstreams may name (a container's name or alias) to
    the local app instance standing for it.
    """

    def server(match: re.Match[str]) -> str:
        host = match.group(2).rsplit(":", 1)[0]
        assert host in upstreams, f"upstream server {match.group(2)} is none of the app containers"
        return f"{match.group(1)}{upstreams[host]}{match.group(3)}"

    def upstream(match: re.Match[str]) -> str:
        return re.sub(r"(\bserver\s+)([^\s;]+)([\s;])", server, match.group(0))

    text, count = re.subn(r"upstream\s+\S+\s*\{[^}]*\}", upstream, generated)
    assert count > 0, "the generated nginx.conf has no upstream"
    text, count = re.subn(r"(\n\s*listen\s+)[^;]+;", rf"\g<1>{listen};", text)
    assert count == 1, f"{count} listen directives in the generated nginx.conf"
    text, count = re.subn(r'\bpid\s+"?[^";]+"?;', f'pid "{directory / "nginx.pid"}";', text)
    assert count == 1, f"{count} pid directives in the generated nginx.conf"
    temp_paths = len(re.findall(r"_temp_path\s", text))
    text, count = re.subn(r'(_temp_path\s+)"?/tmp/([^";]+)"?;', rf'\g<1>"{directory}/\g<2>";', text)
    assert count == temp_paths, "a temp path of the generated nginx.conf is not under /tmp"
    return text


def loopback_exporter_passwords(generated: str, local: Mapping[str, str]) -> str:
    """The exporter's password file with each `redis://host:port` key turned into its local target."""
    passwords = json.loads(generated)
    unknown = [url for url in passwords if url.removeprefix("redis://") not in local]
    assert unknown == [], f"the exporter's password file names unknown targets {unknown}"
    return json.dumps({f"redis://{local[url.removeprefix('redis://')]}": pw for url, pw in passwords.items()})


# --- starting everything ----------------------------------------------------------------------


def _secret_file(directory: Path, content: str, name: str) -> Path:
    path = directory / "secrets" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(content)
    path.chmod(0o400)
    return path


def _app_env(
    run: ProgramRun, workload: str, address: str, redis: str, otlp: str, password_file: Path
) -> dict[str, str]:
    """The container's env with its addresses and the secret's path local, plus where to listen."""
    env = container_env(run, workload)
    host, port = address.rsplit(":", 1)
    redis_host, redis_port = redis.rsplit(":", 1)
    rewritten = {
        "REDIS_HOST": redis_host,
        "REDIS_PORT": redis_port,
        "REDIS_PASSWORD_FILE": str(password_file),
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{otlp}",
    }
    missing = sorted(set(rewritten) - set(env))
    assert missing == [], f"{workload}'s env has no {missing}: the e2e stack cannot point it at loopback"
    # HOST and PORT are the container's defaults (0.0.0.0:<service port>) made local.
    return {**env, **rewritten, "HOST": host, "PORT": port, "PYTHONPATH": str(DEMO_DIR)}


def app_upstreams(run: ProgramRun, apps: Mapping[str, AppInstance]) -> dict[str, str]:
    """Every host the generated nginx upstreams may name for an app container -> its local instance."""
    upstreams: dict[str, str] = {}
    for track, app in apps.items():
        resource = container(run, f"api-{track}")
        # The router names each container by its generated name; others use the aliases.
        hosts = {resource.state["name"]}
        for network in resource.inputs.get("networksAdvanced") or []:
            hosts |= set(network.get("aliases") or [])
        upstreams |= dict.fromkeys(hosts, app.address)
    return upstreams


@contextmanager
def running_stack(run: ProgramRun, files: dict[str, str], directory: Path) -> Iterator[E2eStack]:
    """Start every process of the stack from `run` and `files`; stop them all however the block ends."""
    with ExitStack() as stack:
        ports = iter(free_ports(12))
        address = {name: f"{LOOPBACK}:{next(ports)}" for name in (
            "redis", "redis-exporter", "app/stable", "app/canary", "router", "alertmanager",
            "prometheus", "grafana",
        )}  # fmt: skip

        # Redis with the generated redis.conf and its secret include.
        redis_files = uploads(run, "redis")
        conf_path = next(p for p in redis_files if p.endswith(".conf") and "/secrets/" not in p)
        include = re.search(r"^include (\S+)$", redis_files[conf_path], re.MULTILINE)
        assert include, "the generated redis.conf includes no auth file"
        auth = _secret_file(directory, redis_files[include.group(1)], "redis-auth.conf")
        (directory / "redis-data").mkdir()
        redis_conf = directory / "redis.conf"
        redis_conf.write_text(
            loopback_redis_conf(
                redis_files[conf_path],
                int(address["redis"].rsplit(":", 1)[1]),
                directory / "redis-data",
                auth,
            )
        )
        (password_path,) = [p for p in redis_files if p.endswith("/redis-password")]
        redis = RedisNode(
            address["redis"],
            redis_files[password_path],
            Restartable(
                "redis", [installed("redis-server", "/usr/bin/redis-server"), str(redis_conf)], directory, {}
            ),
        )
        stack.callback(redis.process.stop)
        redis.start()

        # redis_exporter: the generated flags, its password file keyed by the local target.
        exporter_args = workload_args(run, "redis-exporter")
        (password_flag,) = [a for a in exporter_args if a.startswith("--redis.password-file=")]
        generated_passwords = uploads(run, "redis-exporter")[password_flag.split("=", 1)[1]]
        generated_redis = container_env(run, "api-stable")
        passwords = _secret_file(
            directory,
            loopback_exporter_passwords(
                generated_passwords,
                {f"{generated_redis['REDIS_HOST']}:{generated_redis['REDIS_PORT']}": address["redis"]},
            ),
            "redis-exporter-passwords.json",
        )
        exporter = Process(
            "redis-exporter",
            [
                installed("prometheus-redis-exporter", "/usr/bin/prometheus-redis-exporter"),
                *replace_flags(exporter_args, {"--redis.password-file": str(passwords)}),
                f"--web.listen-address={address['redis-exporter']}",
            ],
            directory,
            {},
            signal.SIGTERM,
        )
        stack.callback(exporter.stop)
        exporter.wait_until(
            answers_200(f"http://{address['redis-exporter']}/health"), "redis_exporter /health"
        )

        # Jaeger with the generated config.
        jaeger_config, jaeger_ports = loopback_jaeger_config(files["jaeger/config.yaml"], files, directory)
        (directory / "jaeger.yaml").write_text(yaml.safe_dump(jaeger_config, sort_keys=False))
        jaeger = Process(
            "jaeger",
            [
                tool_path("jaeger"),
                *replace_flags(workload_args(run, "jaeger"), {"--config": str(directory / "jaeger.yaml")}),
            ],
            directory,
            {},
            signal.SIGTERM,
        )
        stack.callback(jaeger.stop)
        health = f"http://{LOOPBACK}:{jaeger_ports[HEALTH_PORT]}/status"
        jaeger.wait_until(lambda: get_json(health).get("healthy") is True, "Jaeger to report healthy")

        # The app, one process per track, with the env the stack gives each container.
        apps: dict[str, AppInstance] = {}
        otlp = f"{LOOPBACK}:{jaeger_ports[OTLP_GRPC_PORT]}"
        for track in TRACKS:
            workload = f"api-{track}"
            secret = uploads(run, workload)
            (password_path,) = [p for p in secret if p.endswith("redis-password")]
            password_file = _secret_file(directory, secret[password_path], f"{workload}-redis-password")
            env = _app_env(run, workload, address[f"app/{track}"], address["redis"], otlp, password_file)
            assert env["APP_TRACK"] == track
            process = Restartable(
                workload, [sys.executable, "-m", "perfstack_demo"], directory, env, signal.SIGINT
            )
            apps[track] = AppInstance(track, address[f"app/{track}"], process)
            stack.callback(process.stop)
            process.start()
        for app in apps.values():
            app.wait_ready()

        # nginx with the generated router config in front of the two instances.
        upstreams = app_upstreams(run, apps)
        (directory / "nginx").mkdir()
        nginx_conf = directory / "nginx" / "nginx.conf"
        nginx_conf.write_text(
            loopback_nginx_conf(files["router/nginx.conf"], upstreams, address["router"], directory / "nginx")
        )
        nginx = Process(
            "nginx",
            [installed("nginx", "/usr/sbin/nginx"), "-c", str(nginx_conf), "-p", str(directory / "nginx"),
             "-e", "stderr", "-g", "daemon off;"],
            directory,
            {},
            signal.SIGTERM,
        )  # fmt: skip
        stack.callback(nginx.stop)
        router_url = f"http://{address['router']}"
        nginx.wait_until(answers_200(f"{router_url}{NGINX_HEALTH_PATH}"), "nginx health")

        # Alertmanager with the generated config and the stack's credential files.
        am_files = uploads(run, "alertmanager")
        am_args = workload_args(run, "alertmanager")
        (config_flag,) = [a for a in am_args if a.startswith("--config.file=")]
        am_config_path = config_flag.split("=", 1)[1]
        secrets_dir = directory / "alertmanager-secrets"
        secrets_dir.mkdir()
        generated_dirs = set()
        for path, content in am_files.items():
            if path != am_config_path:
                generated_dirs.add(posixpath.dirname(path))
                (secrets_dir / posixpath.basename(path)).write_text(content)
        (generated_secrets_dir,) = generated_dirs
        alertmanager_yml = directory / "alertmanager.yml"
        alertmanager_yml.write_text(
            am_files[am_config_path].replace(f"{generated_secrets_dir}/", f"{secrets_dir}/")
        )
        alertmanager_url = f"http://{address['alertmanager']}"
        alertmanager = Process(
            "alertmanager",
            [
                tool_path("alertmanager"),
                *replace_flags(
                    am_args,
                    {
                        "--config.file": str(alertmanager_yml),
                        "--storage.path": str(directory / "alertmanager-data"),
                        "--web.external-url": alertmanager_url,
                    },
                ),
                f"--web.listen-address={address['alertmanager']}",
            ],
            directory,
            {},
            signal.SIGTERM,
        )
        stack.callback(alertmanager.stop)
        alertmanager.wait_until(answers_200(f"{alertmanager_url}/-/ready"), "Alertmanager /-/ready")

        running = E2eStack(
            run=run,
            files=files,
            directory=directory,
            redis=redis,
            exporter=exporter,
            jaeger=jaeger,
            jaeger_ports=jaeger_ports,
            apps=apps,
            nginx=nginx,
            router_url=router_url,
            alertmanager=alertmanager,
            alertmanager_url=alertmanager_url,
            prometheus_url=f"http://{address['prometheus']}",
            local_addresses={
                "app/stable": address["app/stable"],
                "app/canary": address["app/canary"],
                "redis": address["redis"],
                "redis-exporter": address["redis-exporter"],
                "jaeger": f"{LOOPBACK}:{jaeger_ports[METRICS_PORT]}",
                "alertmanager": address["alertmanager"],
                "grafana": address["grafana"],  # nothing listens there: no Grafana server runs here
                "prometheus": address["prometheus"],
            },
        )
        stack.callback(lambda: running.prometheus.stop() if running.prometheus else None)
        yield running


def start_prometheus(stack: E2eStack) -> None:
    """Prometheus with the generated prometheus.yml (targets on loopback) and rule file.

    Started last, once the app has served a while (the caller's warm-up), so that its first
    rate windows see a warm cache, as a Prometheus that has been running for long would.
    """
    directory = stack.directory
    rule_files: dict[str, Path] = {}
    for key, text in stack.files.items():
        if key.startswith("prometheus/") and key != "prometheus/prometheus.yml":
            rule_files[posixpath.basename(key)] = directory / posixpath.basename(key)
            rule_files[posixpath.basename(key)].write_text(text)
    local = stack.local_addresses
    config = loopback_prometheus_config(stack.files["prometheus/prometheus.yml"], rule_files, local)
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    args = replace_flags(
        workload_args(stack.run, "prometheus"),
        {
            "--config.file": str(directory / "prometheus.yml"),
            "--storage.tsdb.path": str(directory / "prometheus-data"),
            "--web.external-url": stack.prometheus_url,
        },
    )
    stack.prometheus = Process(
        "prometheus",
        [tool_path("prometheus"), *args, f"--web.listen-address={local['prometheus']}"],
        directory,
        {},
        signal.SIGTERM,
    )
    stack.prometheus.wait_until(answers_200(f"{stack.prometheus_url}/-/ready"), "Prometheus /-/ready")


def set_faults(stack: E2eStack, track: str, faults: dict[str, Any] | None) -> None:
    """PUT (or with None, DELETE) a track's faults through the router, as an operator would."""
    body = None if faults is None else json.dumps(faults).encode()
    request = urllib.request.Request(
        f"{stack.router_url}/admin/faults/{track}",
        data=body,
        method="DELETE" if faults is None else "PUT",
        headers={"Content-Type": "application/json", "X-User-Id": "e2e-operator"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        answer = json.loads(response.read())
    # Shared through Redis: every instance of the track picks it up within a second.
    assert answer["shared"] is True, answer


def query(stack: E2eStack, promql: str) -> list[dict[str, Any]]:
    """An instant query's result vector."""
    url = f"{stack.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    return list(get_json(url)["data"]["result"])


@dataclass
class LoadGenerator:
    """The demo's load generator through the router until stopped; its JSON summary at the end."""

    process: Process

    @classmethod
    def start(cls, stack: E2eStack, name: str, rps: float, *extra: str) -> "LoadGenerator":
        argv = [
            sys.executable, "-m", "perfstack_demo.loadgen", "--target", stack.router_url,
            "--rps", str(rps), "--users", "200", *extra,
        ]  # fmt: skip
        env = {"PYTHONPATH": str(DEMO_DIR)}
        return cls(Process(name, argv, stack.directory, env, signal.SIGTERM))

    def stop(self) -> dict[str, Any]:
        """Stop it (requests in flight may finish) and return its summary."""
        self.process.stop()
        return self.summary()

    def wait(self, timeout: float) -> dict[str, Any]:
        """Wait for a generator with --duration to finish; its summary."""
        self.process.process.wait(timeout=timeout)
        return self.summary()

    def summary(self) -> dict[str, Any]:
        lines = [line for line in self.process.log.read_text().splitlines() if line.startswith("{")]
        assert lines, self.process.describe()
        return dict(json.loads(lines[-1]))


def jaeger_traces(
    stack: E2eStack, service: str, start_us: int, end_us: int, limit: int
) -> list[dict[str, Any]]:
    """The traces of `service` with spans starting in [start_us, end_us] from Jaeger's query API."""
    params = urllib.parse.urlencode({"service": service, "start": start_us, "end": end_us, "limit": limit})
    data = get_json(f"{stack.jaeger_url(QUERY_HTTP_PORT)}/api/traces?{params}", timeout=30)["data"]
    return list(data or [])
