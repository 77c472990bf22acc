"""Reads `perfstack:*` from the Pulumi config and validates it as a whole.

Nothing is declared until this has succeeded: every problem is reported at
once, each naming the key as the user writes it (`perfstack:redis.maxmemory`)
and what is allowed there.
"""

import json
import re
from collections.abc import Mapping
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import pulumi
from pulumi.runtime import config as runtime_config
from pydantic import BaseModel, ValidationError

from infra.config import StackConfig
from infra.secrets import ALL_SECRET_KEYS, SecretKey, StackSecrets, required_secrets, secret_value_problems

PROJECT = "perfstack"


class ConfigError(pulumi.RunError):
    """The stack config is invalid; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid stack config:\n" + "\n".join(f"  - {p}" for p in problems))


def raw_config() -> dict[str, Any]:
    """Every `perfstack:` key the engine passed in, prefix removed, values decoded.

    The engine hands objects over as JSON strings and scalars as plain
    strings; JSON-decoding both gives YAML's own types back ("10" -> 10).
    """
    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{PROJECT}:"
    return {
        key[len(prefix) :]: decode_config_value(value)
        for key, value in merged.items()
        if key.startswith(prefix)
    }


def decode_config_value(value: Any) -> Any:
    """A config value as the program reads it: strings holding JSON decoded, other strings kept."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _describe_loc(loc: tuple[int | str, ...]) -> str:
    return f"{PROJECT}:" + ".".join(str(part) for part in loc) if loc else PROJECT


def _unwrap(annotation: Any) -> Any:
    """``Annotated[X, ...]`` and ``X | None`` to ``X``."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class that a location inside ``model`` points into, where it can be told."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = next((f for name, f in current.model_fields.items() if part in (name, f.alias)), None)
            if field is None:
                return None
            current = field.annotation
        elif get_origin(current) is dict:
            current = get_args(current)[1]  # a map's key: step to its values
        elif get_origin(current) is list and isinstance(part, int):
            current = get_args(current)[0]  # a list's index: step to its items
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def format_validation_error(error: ValidationError, model: type[BaseModel] = StackConfig) -> list[str]:
    """One line per problem: the user's key, then what is wrong and what is allowed."""
    problems = []
    for detail in error.errors(include_url=False):
        loc = tuple(detail["loc"])
        if detail["type"] == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            allowed = sorted(f.alias or n for n, f in parent.model_fields.items()) if parent else []
            problems.append(f"{_describe_loc(loc)}: unknown key; allowed here: {', '.join(allowed)}")
        elif detail["type"] == "missing":
            problems.append(f"{_describe_loc(loc)}: required, but not set")
        else:
            message = detail["msg"].removeprefix("Value error, ")
            # A cross-field check names its own key first ("replicas: ..."): put it in the path.
            subkey = re.match(r"^([a-zA-Z][a-zA-Z0-9]*(?:\.[a-zA-Z][a-zA-Z0-9]*)*): (.*)$", message, re.S)
            if detail["type"] == "value_error" and subkey:
                loc, message = (*loc, *subkey.group(1).split(".")), subkey.group(2)
            problems.append(f"{_describe_loc(loc)}: {message}")
    return problems


def parse_stack_config(raw: Mapping[str, Any]) -> StackConfig:
    """The validated stack config, or a ConfigError naming every bad key."""
    secret_names = {s.key for s in ALL_SECRET_KEYS}
    plain = {k: v for k, v in raw.items() if k not in secret_names}
    try:
        return StackConfig.model_validate(plain)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error)) from None


def _set_command(secret: SecretKey, stack: str) -> str:
    return f"pulumi config set --secret {PROJECT}:{secret.key} <value> --stack {stack}"


def load_secrets(config: StackConfig, stack: str, raw: Mapping[str, Any]) -> StackSecrets:
    """Each secret as a Pulumi secret Output.

    A missing or unencrypted one is an error that says how to set it.
    """
    problems = []
    values: dict[str, pulumi.Output[str]] = {}
    texts: dict[SecretKey, str] = {}
    for secret in ALL_SECRET_KEYS:
        full_key = f"{PROJECT}:{secret.key}"
        value = raw.get(secret.key)
        if value is None:
            if secret in required_secrets(config):
                problems.append(
                    f"{full_key}: required ({secret.purpose}); set it with `{_set_command(secret, stack)}`"
                )
            continue
        if not runtime_config.is_config_secret(full_key):
            problems.append(
                f"{full_key}: stored in plaintext; set it again with `{_set_command(secret, stack)}`"
            )
            continue
        text = str(runtime_config.get_config(full_key))
        if not text.strip() or any(c in text for c in "\r\n\0"):
            problems.append(f"{full_key}: must be non-empty and on one line")
            continue
        values[_field_name(secret)] = pulumi.Output.secret(text)
        texts[secret] = text
    problems += secret_value_problems(texts)
    if problems:
        raise ConfigError(problems)
    return StackSecrets(**values)


def _field_name(secret: SecretKey) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in secret.key)


def load_stack() -> tuple[StackConfig, StackSecrets]:
    """The current stack's validated config and secrets."""
    raw = raw_config()
    config = parse_stack_config(raw)
    return config, load_secrets(config, pulumi.get_stack(), raw)
