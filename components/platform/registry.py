"""A private container registry's login, for both platforms.

The server and user name are stack config (`perfstack:registry`), the
password is the secret `perfstack:registryPassword`. Kubernetes gets it as a
`kubernetes.io/dockerconfigjson` Secret that every pod names in
`imagePullSecrets`; Docker as the provider's `registryAuth`.
"""

import base64
import json
import re
from dataclasses import dataclass
from typing import Annotated

import pulumi
from pydantic import AfterValidator

from components.platform.settings import ConfigModel

_SERVER = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:[0-9]{1,5})?$")


def _server(value: str) -> str:
    if not _SERVER.match(value):
        raise ValueError(
            f"{value!r} is not a registry server: a host name with an optional port, as the first "
            "part of an image reference names it (e.g. registry.example.internal:5000), "
            "without a scheme or path"
        )
    return value


def _username(value: str) -> str:
    # The registry's Basic auth joins user and password with ":".
    if ":" in value or not value.strip():
        raise ValueError(f"{value!r} is not a registry user name: non-empty and without ':'")
    return value


class RegistryConfig(ConfigModel):
    """A private registry the stack pulls images from; its password is the secret
    `perfstack:registryPassword`."""

    server: Annotated[str, AfterValidator(_server)]
    """The registry as image references name it: a host name and optional port, e.g.
    `registry.example.internal:5000`. The login is sent only to this server."""
    username: Annotated[str, AfterValidator(_username)]
    """The user (or token name) that logs in; a pull-only account is enough."""


@dataclass(frozen=True)
class RegistryLogin:
    """What a platform needs to pull from a private registry."""

    server: str
    username: str
    password: pulumi.Output[str]
    """A Pulumi secret."""

    def docker_config_json(self) -> pulumi.Output[str]:
        """The `.dockerconfigjson` of a Kubernetes pull secret (a secret: it derives from the password)."""
        return self.password.apply(lambda password: docker_config_json(self.server, self.username, password))


def docker_config_json(server: str, username: str, password: str) -> str:
    """A Docker config file's `auths` for one server: the content of a dockerconfigjson Secret."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {server: {"username": username, "password": password, "auth": auth}}})
