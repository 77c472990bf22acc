"""The Redis cache component: a standalone server or a Sentinel set, plus redis_exporter."""

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pulumi

from components.platform.base import Platform
from components.platform.images import IMAGES
from components.platform.settings import Resources
from components.platform.spec import (
    SECRETS_DIR,
    ConfigFile,
    DataVolume,
    Deployed,
    HealthCheck,
    Metrics,
    Port,
    SecretFile,
    Workload,
)
from components.redis.conf import RedisConfSettings, render_redis_auth_conf, render_redis_conf
from components.redis.sentinel import (
    ReplicationSettings,
    SentinelSettings,
    render_data_node_conf,
    render_sentinel_auth_conf,
    render_sentinel_conf,
)
from components.redis.settings import RedisConfig

CONF_PATH = "/usr/local/etc/redis/redis.conf"
SENTINEL_CONF_PATH = "/usr/local/etc/redis/sentinel.conf"
SENTINEL_AUTH_CONF_PATH = f"{SECRETS_DIR}/sentinel-auth.conf"
BOOTSTRAP_PATH = "/usr/local/bin/perfstack-bootstrap.sh"
BOOTSTRAP_SCRIPT = (Path(__file__).parent / "bootstrap.sh").read_text()
MASTER_NAME = "perfstack"
SENTINEL_WORK_DIR = "/data"
SENTINEL_RESOURCES = Resources(
    cpu_request="20m", cpu_limit="200m", memory_request="32Mi", memory_limit="64Mi"
)
AUTH_CONF_PATH = f"{SECRETS_DIR}/redis-auth.conf"
PASSWORD_PATH = f"{SECRETS_DIR}/redis-password"
EXPORTER_PASSWORDS_PATH = f"{SECRETS_DIR}/redis-exporter-passwords.json"
EXPORTER_PORT = 9121
SENTINEL_PORT = 26379
REDIS_UID = 999  # the official image's `redis` user


@dataclass
class RedisArgs:
    """What the Redis component needs: its settings, the password and where to run."""

    config: RedisConfig
    password: pulumi.Input[str]
    """The password every client, replica and Sentinel presents; Redis and the Sentinels accept it."""
    platform: Platform
    also_accepted_password: pulumi.Input[str] | None = None
    """During a rotation only: a second password Redis and the Sentinels accept; nothing presents it."""


def redis_conf_settings(config: RedisConfig) -> RedisConfSettings:
    """redis.conf settings of a Redis server in a container (auth from the secret include)."""
    return RedisConfSettings(
        maxmemory=config.maxmemory,
        maxmemory_policy=config.maxmemory_policy,
        maxmemory_samples=config.maxmemory_samples,
        appendonly=config.appendonly,
        appendfsync=config.appendfsync,
        rdb_snapshots=config.rdb_snapshots,
        port=config.port,
        auth_include=AUTH_CONF_PATH,
    )


def exporter_passwords(targets: tuple[str, ...], password: str) -> str:
    """redis_exporter's password file: JSON of `redis://host:port` -> password for every target.

    The exporter looks a target's password up by its URL exactly as Prometheus
    passes it in `?target=`; a node missing here is scraped without a password
    and reports `redis_up 0`. Sentinels share the data nodes' password
    (sentinel-auth.conf's `requirepass`).
    """
    return json.dumps({f"redis://{target}": password for target in targets}, indent=1)


def _redis_cli_check(port: int, password_file: str, question: str, answer: str) -> HealthCheck:
    # REDISCLI_AUTH keeps the password off the command line (and out of `ps`).
    cli = f'REDISCLI_AUTH="$(cat {password_file})" redis-cli -p {port}'
    return HealthCheck(command=("sh", "-c", f"{cli} {question} | grep -Eq '{answer}'"))


def ping_check(port: int, password_file: str = PASSWORD_PATH) -> HealthCheck:
    """The server answers PING with the pod's own password (a Sentinel's readiness, every liveness)."""
    return _redis_cli_check(port, password_file, "ping", "^PONG")


def data_node_ready_check(port: int, password_file: str = PASSWORD_PATH) -> HealthCheck:
    """A data node of the Sentinel set is ready: a master, or a replica in sync with its master.

    A replica its master refuses (``WRONGPASS``) or that is still syncing
    answers PING all the same; a readiness that only pinged let the
    StatefulSet roll on until the master had no replica left (``NOREPLICAS``).
    """
    return _redis_cli_check(port, password_file, "info replication", "^(role:master|master_link_status:up)")


class Redis(pulumi.ComponentResource):
    """A password-protected, persistent LRU cache and its metrics exporter.

    `standalone`: one node. `sentinel`: a StatefulSet of data nodes and one
    of Sentinels; every pod starts through bootstrap.sh, which asks the
    Sentinels for the current master instead of assuming pod 0.
    Outputs: ``host`` and ``port`` of the service, and ``client_env``, the env
    clients find Redis with: ``REDIS_HOST``/``REDIS_PORT`` for a standalone
    server; in sentinel mode ``REDIS_SENTINELS``/``REDIS_MASTER_NAME`` only,
    because the data nodes' Service spans master and replicas and a client
    that does not ask Sentinel would write to a replica (``READONLY``).
    For Prometheus: ``exporter``, the redis_exporter's host:port, and
    ``data_nodes`` and ``sentinels``, the host:port of each process, which
    Prometheus scrapes one by one through the exporter's ``/scrape`` endpoint
    (a node behind a Service would be a different one at each scrape).
    """

    host: pulumi.Output[str]
    port: pulumi.Output[int]
    client_env: dict[str, str]
    exporter: str
    data_nodes: tuple[str, ...]
    sentinels: tuple[str, ...]

    def __init__(self, name: str, args: RedisArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("perfstack:cache:Redis", name, None, opts)
        config = args.config
        self._password = pulumi.Output.secret(args.password)
        self._also_accepted = pulumi.Output.secret(args.also_accepted_password)
        if config.mode == "sentinel":
            server = self._sentinel_set(name, args)
            hosts = args.platform.instance_hosts(name, config.replicas)
            self.data_nodes = tuple(f"{host}:{config.port}" for host in hosts)
            sentinel_hosts = args.platform.instance_hosts(f"{name}-sentinel", config.sentinel.sentinels)
            self.sentinels = tuple(f"{host}:{SENTINEL_PORT}" for host in sentinel_hosts)
        else:
            server = args.platform.deploy(self._data_node(name, config), parent=self)
            self.client_env = {"REDIS_HOST": server.host, "REDIS_PORT": str(config.port)}
            self.data_nodes = (f"{server.host}:{config.port}",)
            self.sentinels = ()
        self.exporter = self._exporter(name, args, (*self.data_nodes, *self.sentinels))
        self.host = pulumi.Output.from_input(server.host)
        self.port = pulumi.Output.from_input(config.port)
        self.register_outputs({"host": self.host, "port": self.port, "clientEnv": self.client_env})

    def _auth_file(self, render: Callable[[str, str | None], str]) -> pulumi.Output[str]:
        """A secret include rendered from the password and, during a rotation, the also-accepted one."""
        return pulumi.Output.all(self._password, self._also_accepted).apply(lambda p: render(p[0], p[1]))

    def _secret_files(self, *extra: SecretFile) -> tuple[SecretFile, ...]:
        return (
            SecretFile(AUTH_CONF_PATH, self._auth_file(render_redis_auth_conf)),
            SecretFile(PASSWORD_PATH, self._password),
            *extra,
        )

    def _data_node(
        self, name: str, config: RedisConfig, conf: str | None = None, **overrides: Any
    ) -> Workload:
        workload = Workload(
            name=name,
            app="redis",
            component="cache",
            image=f"{config.image}:{config.version}",
            command=("redis-server", CONF_PATH),
            files=(ConfigFile(CONF_PATH, conf or render_redis_conf(redis_conf_settings(config))),),
            secret_files=self._secret_files(),
            ports=(Port("redis", config.port),),
            volumes=(DataVolume("data", "/data", config.storage_size),),
            health=ping_check(config.port),
            resources=config.container_resources,
            run_as_user=REDIS_UID,
        )
        return replace(workload, **overrides)

    def _sentinel_set(self, name: str, args: RedisArgs) -> Deployed:
        config, platform = args.config, args.platform
        sentinel_name = f"{name}-sentinel"
        sentinel_hosts = " ".join(
            f"{h}:{SENTINEL_PORT}" for h in platform.instance_hosts(sentinel_name, config.sentinel.sentinels)
        )
        pod0 = platform.instance_hosts(name, config.replicas)[0]
        settings = SentinelSettings(
            master_name=MASTER_NAME,
            quorum=config.sentinel.quorum,
            down_after_ms=config.sentinel.down_after_ms,
            failover_timeout_ms=config.sentinel.failover_timeout_ms,
            port=SENTINEL_PORT,
            work_dir=SENTINEL_WORK_DIR,
        )
        common_env = {
            "SENTINEL_HOSTS": sentinel_hosts,
            "SENTINEL_MASTER_NAME": MASTER_NAME,
            "FALLBACK_MASTER_HOST": pod0,
            "FALLBACK_MASTER_PORT": str(config.port),
            "REDIS_PASSWORD_FILE": PASSWORD_PATH,
        }
        bootstrap = ConfigFile(BOOTSTRAP_PATH, BOOTSTRAP_SCRIPT)
        replication = ReplicationSettings(
            min_replicas_to_write=config.sentinel.min_replicas_to_write,
            min_replicas_max_lag=config.sentinel.min_replicas_max_lag,
        )
        data_conf = render_data_node_conf(redis_conf_settings(config), replication)
        server = platform.deploy(
            self._data_node(
                name,
                config,
                data_conf,
                command=("sh", BOOTSTRAP_PATH, "redis"),
                files=(ConfigFile(CONF_PATH, data_conf), bootstrap),
                env={
                    **common_env,
                    "MY_HOST": platform.replica_host(name, "$(POD_NAME)"),
                    "MY_PORT": str(config.port),
                    "CONF_PATH": CONF_PATH,
                },
                pod_name_env="POD_NAME",
                replicas=config.replicas,
                # The StatefulSet rolls the next pod once this one is ready: only once it replicates.
                health=data_node_ready_check(config.port),
                # A replica whose master is gone is not broken: restarting it would not bring the master back.
                liveness=replace(ping_check(config.port), initial_delay_seconds=15, failure_threshold=6),
            ),
            parent=self,
        )
        platform.deploy(
            Workload(
                name=sentinel_name,
                app="redis-sentinel",
                component="cache",
                image=f"{config.image}:{config.version}",
                command=("sh", BOOTSTRAP_PATH, "sentinel"),
                env={
                    **common_env,
                    "MY_HOST": platform.replica_host(sentinel_name, "$(POD_NAME)"),
                    "MY_PORT": str(SENTINEL_PORT),
                    "CONF_PATH": SENTINEL_CONF_PATH,
                    "SENTINEL_CONF": f"{SENTINEL_WORK_DIR}/sentinel.conf",
                },
                pod_name_env="POD_NAME",
                files=(
                    ConfigFile(
                        SENTINEL_CONF_PATH,
                        render_sentinel_conf(
                            settings,
                            master_host=pod0,
                            master_port=config.port,
                            auth_include=SENTINEL_AUTH_CONF_PATH,
                        ),
                    ),
                    bootstrap,
                ),
                secret_files=(
                    SecretFile(
                        SENTINEL_AUTH_CONF_PATH,
                        self._auth_file(
                            lambda password, also: render_sentinel_auth_conf(password, MASTER_NAME, also)
                        ),
                    ),
                    SecretFile(PASSWORD_PATH, self._password),
                ),
                ports=(Port("sentinel", SENTINEL_PORT),),
                # Sentinel rewrites its config at runtime: a private, writable copy per pod.
                writable_dirs=(SENTINEL_WORK_DIR,),
                stable_identity=True,
                # A Sentinel waits for no other to be ready: all start at once and find each other.
                parallel_start=True,
                health=ping_check(SENTINEL_PORT),
                resources=SENTINEL_RESOURCES,
                replicas=config.sentinel.sentinels,
                run_as_user=REDIS_UID,
            ),
            parent=self,
        )
        self.client_env = {
            "REDIS_SENTINELS": sentinel_hosts.replace(" ", ","),
            "REDIS_MASTER_NAME": MASTER_NAME,
        }
        return server

    def _exporter(self, name: str, args: RedisArgs, targets: tuple[str, ...]) -> str:
        """Deploy redis_exporter for `targets` (host:port); its host:port."""
        deployed = args.platform.deploy(
            Workload(
                name=f"{name}-exporter",
                app="redis-exporter",
                component="monitoring",
                image=IMAGES["redis_exporter"].reference(args.config.exporter_version),
                # No --redis.addr: the exporter scrapes only the node each /scrape?target= names.
                args=("--redis.addr=", f"--redis.password-file={EXPORTER_PASSWORDS_PATH}"),
                secret_files=(
                    SecretFile(
                        EXPORTER_PASSWORDS_PATH,
                        self._password.apply(lambda p: exporter_passwords(targets, p)),
                    ),
                ),
                ports=(Port("metrics", EXPORTER_PORT),),
                health=HealthCheck(http_path="/health", port=EXPORTER_PORT),
                metrics=Metrics(EXPORTER_PORT),
                resources=Resources(
                    cpu_request="20m", cpu_limit="200m", memory_request="32Mi", memory_limit="64Mi"
                ),
            ),
            parent=self,
        )
        return f"{deployed.host}:{EXPORTER_PORT}"
