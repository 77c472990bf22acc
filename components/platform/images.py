"""The default image of every workload, read from images.toml beside this module."""

import tomllib
from dataclasses import dataclass
from pathlib import Path

IMAGES_FILE = Path(__file__).with_name("images.toml")


@dataclass(frozen=True)
class Image:
    """An image repository and the tag the stacks run unless a stack file overrides it."""

    repository: str
    version: str

    def reference(self, version: str | None = None) -> str:
        """`repository:tag`, with ``version`` instead of the pinned tag when given."""
        return f"{self.repository}:{version or self.version}"


def _load() -> dict[str, Image]:
    with IMAGES_FILE.open("rb") as file:
        return {name: Image(**entry) for name, entry in tomllib.load(file).items()}


IMAGES: dict[str, Image] = _load()
"""Image name (`prometheus`, `redis`, ...) to its pinned image."""
