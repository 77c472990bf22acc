"""The Redis cache component: one Redis server plus redis_exporter."""

import json
from dataclasses import dataclass

import pulumi

from components.platform.base import Platform
from components.platform.spec import (
    SECRETS_DIR,
    ConfigFile,
    DataVolume,
    HealthCheck,
    Metrics,
    Port,
    SecretFile,
    Workload,
)
from components.redis.conf import RedisConfSettings, render_redis_auth_conf, render_redis_conf
from infra.common import Resources
from infra.workloads import RedisConfig

CONF_PATH = "/usr/local/etc/redis/redis.conf"
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
    platform: Platform


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


def _ping(port: int) -> str:
    # REDISCLI_AUTH keeps the password off the command line (and out of `ps`).
    return f'REDISCLI_AUTH="$(cat {PASSWORD_PATH})" redis-cli -p {port} ping | grep -q PONG'


class Redis(pulumi.ComponentResource):
    """A password-protected, persistent LRU cache and its metrics exporter.

    Outputs: ``host`` and ``port`` that clients connect to.
    """

    host: pulumi.Output[str]
    port: pulumi.Output[int]

    def __init__(self, name: str, args: RedisArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("perfstack:cache:Redis", name, None, opts)
        config = args.config
        password = pulumi.Output.secret(args.password)
        server = args.platform.deploy(
            Workload(
                name=name,
                app="redis",
                component="cache",
                image=f"{config.image}:{config.version}",
                command=("redis-server", CONF_PATH),
                files=(ConfigFile(CONF_PATH, render_redis_conf(redis_conf_settings(config))),),
                secret_files=(
                    SecretFile(AUTH_CONF_PATH, password.apply(render_redis_auth_conf)),
                    SecretFile(PASSWORD_PATH, password),
                ),
                ports=(Port("redis", config.port),),
                volumes=(DataVolume("data", "/data", config.storage_size),),
                health=HealthCheck(command=("sh", "-c", _ping(config.port))),
                resources=config.resources,
                run_as_user=REDIS_UID,
            ),
            parent=self,
        )
        address = f"redis://{server.host}:{config.port}"
        args.platform.deploy(
            Workload(
                name=f"{name}-exporter",
                app="redis-exporter",
                component="monitoring",
                image=f"oliver006/redis_exporter:{config.exporter_version}",
                args=(f"--redis.addr={address}", f"--redis.password-file={EXPORTER_PASSWORDS_PATH}"),
                secret_files=(
                    SecretFile(EXPORTER_PASSWORDS_PATH, password.apply(lambda p: json.dumps({address: p}))),
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
        self.host = pulumi.Output.from_input(server.host)
        self.port = pulumi.Output.from_input(config.port)
        self.register_outputs({"host": self.host, "port": self.port})
