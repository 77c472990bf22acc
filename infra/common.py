"""Config types shared by several sections of the stack config."""

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from infra.model import ConfigModel

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
