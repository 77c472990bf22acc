"""The demo app's settings, validated from the environment the perfstack stacks set.

Env names are the contract with ``components/app/env.py``. The Redis password
is only ever read from the file named by ``REDIS_PASSWORD_FILE`` (a mounted
secret): no env variable carries it, and it is held as a SecretStr so that no
repr or log line shows it.
"""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, model_validator

from perfstack_demo.faults import Faults, Track
from perfstack_demo.flags import FeatureFlags

DEFAULT_SERVICE_NAME = "perfstack-demo"
DEFAULT_SENTINEL_PORT = 26379


def parse_host_port(item: str, default_port: int) -> tuple[str, int]:
    """``host:port``, ``host`` or ``[v6-address]:port`` as a (host, port) pair."""
    item = item.strip()
    if item.startswith("["):
        host, _, rest = item[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif item.count(":") == 1:
        host, port_text = item.split(":")
    else:
        host, port_text = item, ""
    if not host:
        raise ValueError(f"{item!r}: missing host")
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        raise ValueError(f"{item!r}: port must be an integer") from None
    if not 0 < port < 65536:
        raise ValueError(f"{item!r}: port must be 1..65535")
    return host, port


def _parse_sentinels(value: Any) -> Any:
    # The stacks write a comma-separated host:port list; blanks around items are tolerated.
    if isinstance(value, str):
        return tuple(
            parse_host_port(item, DEFAULT_SENTINEL_PORT) for item in value.split(",") if item.strip()
        )
    return value


def _parse_faults(value: Any) -> Any:
    if isinstance(value, str):
        return Faults.model_validate_json(value)
    return value


class Settings(BaseModel):
    """Everything the app reads from its environment; build it with `from_env`."""

    model_config = ConfigDict(frozen=True, extra="ignore", arbitrary_types_allowed=True)

    port: int = Field(default=8080, ge=1, le=65535, alias="PORT")
    host: str = Field(default="0.0.0.0", alias="HOST")  # a container serves every interface
    track: Track = Field(default="stable", alias="APP_TRACK")
    version: str = Field(default="dev", min_length=1, alias="APP_VERSION")
    service_name: str = Field(default=DEFAULT_SERVICE_NAME, min_length=1, alias="OTEL_SERVICE_NAME")

    redis_host: str | None = Field(default=None, alias="REDIS_HOST")
    redis_port: int = Field(default=6379, ge=1, le=65535, alias="REDIS_PORT")
    redis_password_file: Path | None = Field(default=None, alias="REDIS_PASSWORD_FILE")
    redis_sentinels: Annotated[tuple[tuple[str, int], ...], BeforeValidator(_parse_sentinels)] = Field(
        default=(), alias="REDIS_SENTINELS"
    )
    redis_master_name: str | None = Field(default=None, alias="REDIS_MASTER_NAME")
    redis_timeout_seconds: float = Field(default=0.5, gt=0, alias="REDIS_TIMEOUT_SECONDS")
    cache_ttl_minutes: float = Field(default=15, gt=0, alias="CACHE_TTL_MINUTES")

    faults: Annotated[Faults, BeforeValidator(_parse_faults)] = Field(default=Faults(), alias="DEMO_FAULTS")
    latency_scale: float = Field(default=1.0, ge=0, alias="DEMO_LATENCY_SCALE")
    drain_seconds: float = Field(default=5.0, ge=0, alias="DEMO_DRAIN_SECONDS")
    faults_refresh_seconds: float = Field(default=1.0, gt=0, alias="DEMO_FAULTS_REFRESH_SECONDS")
    seed: int | None = Field(default=None, alias="DEMO_SEED")

    flags: FeatureFlags = Field(alias="_flags")

    @model_validator(mode="before")
    @classmethod
    def _from_env_mapping(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        # An env variable set to "" means "not set" (manifests write that for optional values).
        values = {key: value for key, value in data.items() if value != ""}
        values["_flags"] = FeatureFlags.from_env(values)
        return values

    @model_validator(mode="after")
    def _sentinels_need_a_master_name(self) -> "Settings":
        if self.redis_sentinels and not self.redis_master_name:
            raise ValueError("REDIS_SENTINELS is set: REDIS_MASTER_NAME must name the master")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """The settings from `environ` (the process env by default); raises pydantic's ValidationError."""
        return cls.model_validate(dict(os.environ if environ is None else environ))

    @property
    def cache_ttl_seconds(self) -> int:
        """How long a cached answer lives."""
        return max(1, round(self.cache_ttl_minutes * 60))

    def redis_password(self) -> SecretStr | None:
        """The password in ``REDIS_PASSWORD_FILE`` (trailing newline dropped); None when that is unset.

        Raises OSError when the file is configured but unreadable: that is a
        deployment error worth failing the start for.
        """
        if self.redis_password_file is None:
            return None
        return SecretStr(self.redis_password_file.read_text().rstrip("\r\n"))
