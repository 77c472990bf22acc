"""Settings types every component shares: the base model and the value types.

Users write camelCase keys in ``Pulumi.<stack>.yaml``; Python code reads
snake_case attributes. Unknown keys are rejected so a typo is an error, not a
silently ignored setting. Each field's attribute docstring (the string right
below it) is its documentation: `python -m infra.docs` turns them into the
config reference. Each component package builds its own settings models from
these.
"""

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError


class ConfigModel(BaseModel):
    """A frozen, strict, camelCase-aliased section of the stack config."""

    model_config = ConfigDict(
        extra="forbid",
        # Values come from YAML: "10" is not 10, and "yes" is not true.
        strict=True,
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        validate_default=True,
        # Most models are only ever validated inside the stack model, whose
        # validator includes theirs: building one for each at import is wasted.
        # For the same reason a nested section's default is a default_factory,
        # not an instance, which would build its model's validator at import.
        defer_build=True,
    )


def config_error(
    error_type: str, message: str, loc: tuple[str | int, ...], value: object
) -> InitErrorDetails:
    """One line of a ValidationError at `loc`, relative to the value being validated."""
    # The message is the template; passing an empty context keeps braces in
    # user input from being read as placeholders.
    return InitErrorDetails(type=PydanticCustomError(error_type, message, {}), loc=loc, input=value)


def raise_errors(title: str, errors: list[InitErrorDetails]) -> None:
    """Raise every error at once as one ValidationError; nothing when there is none."""
    # A ValidationError raised inside a validator is merged into the outer
    # one with the outer location prefixed: that is how an error lands on a
    # precise key (services.api.canary.version) instead of on the whole model.
    if errors:
        raise ValidationError.from_exception_data(title, errors)


# Service names become container names, Kubernetes object names and label
# values, with suffixes such as "-canary" appended: a DNS label kept to 32
# characters leaves room for those suffixes within Kubernetes' 63.
SERVICE_NAME_PATTERN = re.compile(r"^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$")
# A route prefix: '/'-separated unreserved URL characters without trailing
# slash (or "/" itself), nothing that needs escaping in nginx config or YAML.
PATH_PREFIX_PATTERN = re.compile(r"^/$|^(/[A-Za-z0-9._~-]+)+$")
# nginx reads a cookie through the variable $cookie_<name>, whose name may only
# hold letters, digits and underscores.
COOKIE_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")

_K8S_CPU = re.compile(r"^(\d+(\.\d+)?|\d+m)$")
_K8S_MEMORY = re.compile(r"^\d+(Ki|Mi|Gi|Ti|K|M|G|T)?$")
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def _cpu(value: str) -> str:
    if not _K8S_CPU.match(value):
        raise ValueError(f"{value!r} is not a CPU quantity: use cores ('0.5', '2') or millicores ('250m')")
    return value


def _memory(value: str) -> str:
    if not _K8S_MEMORY.match(value):
        raise ValueError(
            f"{value!r} is not a memory quantity: use a number with Ki, Mi, Gi or Ti ('256Mi', '1Gi')"
        )
    return value


CpuQuantity = Annotated[str, AfterValidator(_cpu)]
"""A Kubernetes CPU quantity: '250m' or '0.5'."""

MemoryQuantity = Annotated[str, AfterValidator(_memory)]
"""A Kubernetes memory quantity: '256Mi' or '1Gi'."""


class Resources(ConfigModel):
    """CPU and memory a container asks for and may not exceed."""

    cpu_request: CpuQuantity = "100m"
    """CPU the scheduler reserves for the container (Kubernetes `requests.cpu`)."""
    cpu_limit: CpuQuantity = "1"
    """CPU the container may use at most (`limits.cpu`; Docker `--cpus`)."""
    memory_request: MemoryQuantity = "128Mi"
    """Memory the scheduler reserves for the container (`requests.memory`)."""
    memory_limit: MemoryQuantity = "512Mi"
    """Memory the container may use before it is killed (`limits.memory`; Docker `--memory`)."""


def _image_tag(value: str) -> str:
    if value.lower() == "latest":
        raise ValueError(
            "'latest' is not a version: pin a tag so that a deploy is repeatable and rollback is possible"
        )
    if not _IMAGE_TAG.match(value):
        raise ValueError(
            f"{value!r} is not an image tag: use 1-128 letters, digits, '_', '.' and '-', "
            "not starting with '.' or '-'"
        )
    return value


ImageTag = Annotated[str, AfterValidator(_image_tag)]
"""An image tag such as '1.4.2' ('latest' is refused)."""


Percent = Annotated[int, Field(ge=0, le=100, strict=True)]
"""A whole number from 0 to 100."""


_UNITS = {
    "": 1,
    "k": 1000,
    "ki": 1024,
    "m": 1000**2,
    "mi": 1024**2,
    "g": 1000**3,
    "gi": 1024**3,
    "t": 1000**4,
    "ti": 1024**4,
}


def memory_bytes(quantity: str) -> int:
    """Bytes in a Kubernetes memory quantity ('512Mi' -> 536870912)."""
    match = re.match(r"^(\d+)([KMGT]i?)?$", quantity)
    if not match:
        raise ValueError(f"not a memory quantity: {quantity!r}")
    return int(match.group(1)) * _UNITS[(match.group(2) or "").lower()]


# Prometheus' own duration grammar (model.ParseDuration): units in descending
# order, each at most once. Validating here means a typo fails `pulumi preview`
# instead of a rule file Prometheus refuses to load.
_PROM_DURATION = re.compile(r"^((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$")
_UNIT_SECONDS = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}


def duration_seconds(duration: str) -> float:
    """Seconds in a Prometheus duration ('1h30m' -> 5400.0); ValueError if it is not one."""
    if not duration or not _PROM_DURATION.match(duration):
        raise ValueError(
            f"{duration!r} is not a Prometheus duration: "
            "use numbers with ms, s, m, h, d, w or y ('5m', '1h30m')"
        )
    return float(sum(int(n) * _UNIT_SECONDS[u] for n, u in re.findall(r"(\d+)(ms|y|w|d|h|m|s)", duration)))


def _positive_duration(value: str) -> str:
    if duration_seconds(value) <= 0:
        raise ValueError(f"{value!r} must be longer than zero")
    return value


PromDuration = Annotated[str, AfterValidator(_positive_duration)]
"""A positive Prometheus duration such as '5m' or '1h30m'."""

Ratio = Annotated[float, Field(ge=0, le=1)]
"""A fraction from 0 to 1 (0.05 = 5 %)."""


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", value):
        raise ValueError(f"{value!r} is not an http(s) URL without query or fragment")
    # Stored without a trailing slash, so that appending a path never gives '//'.
    return value.rstrip("/")


HttpUrl = Annotated[str, AfterValidator(_http_url)]
"""An http(s) URL such as 'https://prometheus.example.com' (a trailing '/' is dropped)."""


class WorkloadConfig(ConfigModel):
    """Image and size of one infrastructure workload."""

    version: ImageTag
    """Image tag."""
    resources: Resources = Field(default_factory=Resources)
    """Container resources."""
