"""Wires the components of one stack together."""

import pulumi

from components.redis.component import Redis, RedisArgs
from infra.config import StackConfig
from infra.platform import create_platform
from infra.secrets import StackSecrets


def build_stack(config: StackConfig, secrets: StackSecrets) -> None:
    """Declare every resource of the stack and export what operators need."""
    platform = create_platform(config)
    redis = Redis("redis", RedisArgs(config=config.redis, password=secrets.redis_password, platform=platform))
    pulumi.export("platform", config.platform)
    pulumi.export("redisEndpoint", pulumi.Output.concat(redis.host, ":", redis.port.apply(str)))
