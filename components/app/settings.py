"""``perfstack:services``: the app services, their stable/canary tracks and feature flags.

One entry per app service (``api``, ``worker``, ...). Each service runs a stable
track and optionally a canary track; the traffic split sends ``canary.weight``
percent of users to the canary. Feature flags become container env
(``FEATURE_<NAME>``/``ENABLE_<NAME>``/``FF_<NAME>``, see ``components/app/env.py``).

Every rollback is one line of stack config:

- canary rollback: ``services.<name>.canary.weight: 0``;
- version rollback: set ``services.<name>.stable.version`` back;
- feature rollback: ``features.<flag>.enabled: false`` or ``rollout: 0``;
- emergency: ``perfstack:killSwitch: true`` (see ``effective_weight``).

Validation errors carry a pydantic ``loc`` of camelCase config keys, e.g.
``('services', 'api', 'canary', 'weight')``, so the stack loader can print
``perfstack:services.api.canary.weight``.
"""

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import AfterValidator, Field, ValidationError, WrapValidator, model_validator
from pydantic_core import InitErrorDetails

from components.app.rollout import RolloutConfig
from components.platform.settings import (
    COOKIE_NAME_PATTERN,
    SERVICE_NAME_PATTERN,
    ConfigModel,
    ImageTag,
    Percent,
    Resources,
    config_error,
    raise_errors,
)
from components.platform.slo import SloConfig
from components.platform.spec import ImageBuild

Track = Literal["stable", "canary"]
"""The two tracks a service can run."""

# Flag names are camelCase so that they convert unambiguously to the
# UPPER_SNAKE env suffix (apiCaching -> API_CACHING).
FLAG_NAME_PATTERN = re.compile(r"^[a-z][a-zA-Z0-9]*$")
# POSIX portable env names (letters, digits, underscore; not starting with a digit).
ENV_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Docker's repository grammar: optional registry host[:port], then
# lowercase path components separated by "/".
_IMAGE_REPOSITORY = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
# Path segments of unreserved URL characters: nothing that needs escaping in
# nginx config or YAML, no "//", no query string.
_URL_PATH = re.compile(r"^(/[A-Za-z0-9._~-]+)*/?$")
# RFC 1123 hostname, optionally with the leading wildcard label Gateway API allows.
_HOSTNAME = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

GENERATED_ENV_NAMES: frozenset[str] = frozenset(
    {
        "APP_TRACK",
        "APP_VERSION",
        "DISABLE_ALL_OPTIMIZATIONS",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_SERVICE_NAME",
        "OTEL_TRACES_SAMPLER",
        "OTEL_TRACES_SAMPLER_ARG",
        "REDIS_HOST",
        "REDIS_MASTER_NAME",
        "REDIS_SENTINELS",
        "REDIS_PASSWORD",
        "REDIS_PASSWORD_FILE",
        "REDIS_PORT",
    }
)
"""Env names perfstack sets itself (the Redis password only ever as a file); user env may not set them."""

RESERVED_ENV_PREFIXES: tuple[str, ...] = ("FEATURE_", "FF_", "ENABLE_")
"""Flag env families. Only `features` may produce them, so the kill switch really turns every one off."""


def upper_snake(flag_name: str) -> str:
    """The env suffix of a camelCase flag name: apiCaching -> API_CACHING, useHTTPCache -> USE_HTTP_CACHE."""
    words = re.sub(r"([a-z0-9])([A-Z])|([A-Z])([A-Z][a-z])", r"\1\3_\2\4", flag_name)
    return words.upper()


def _reraised(exc: ValidationError) -> list[InitErrorDetails]:
    """The errors of `exc` as InitErrorDetails, so they can be raised together with new ones."""
    return [
        config_error(err["type"], err["msg"], tuple(err["loc"]), err.get("input"))
        for err in exc.errors(include_url=False)
    ]


def _checked_keys(check: Callable[[str], str | None], what: str) -> WrapValidator:
    """A validator for a config map whose keys `check` (returning a message or None) must accept.

    A bad key is reported at the key itself (``services.API``), rather than at
    pydantic's ``services.API.[key]``, together with any errors in the values,
    so one run shows everything the user must fix.
    """

    def validate(value: Any, handler: Callable[[Any], Any]) -> Any:
        errors: list[InitErrorDetails] = []
        if isinstance(value, Mapping):
            for key in value:
                message = check(key) if isinstance(key, str) else f"{what} must be a string"
                if message:
                    errors.append(
                        config_error(f"invalid_{what.replace(' ', '_')}", message, (str(key),), key)
                    )
        try:
            result = handler(value)
        except ValidationError as exc:
            if not errors:
                raise
            raise ValidationError.from_exception_data(what, [*errors, *_reraised(exc)]) from None
        raise_errors(what, errors)
        return result

    return WrapValidator(validate)


def _check_env_name(name: str) -> str | None:
    if not ENV_NAME_PATTERN.match(name):
        return f"{name!r} is not a valid env var name: use letters, digits and '_', not starting with a digit"
    upper = name.upper()
    if upper in GENERATED_ENV_NAMES:
        return f"{name!r} is set by perfstack itself and cannot be overridden"
    if upper.startswith(RESERVED_ENV_PREFIXES):
        return (
            f"{name!r} is a feature-flag variable: declare the flag under `features` instead, "
            "so that the kill switch can turn it off"
        )
    return None


def _check_flag_name(name: str) -> str | None:
    if not FLAG_NAME_PATTERN.match(name):
        return (
            f"{name!r} is not a valid flag name: use camelCase letters and digits starting with a "
            "lowercase letter (apiCaching -> FEATURE_API_CACHING)"
        )
    return None


def _check_service_name(name: str) -> str | None:
    if not SERVICE_NAME_PATTERN.match(name):
        return (
            f"{name!r} is not a valid service name: use a DNS label of at most 32 lowercase letters, "
            "digits and '-', starting with a letter and not ending with '-' (it names containers "
            "and Kubernetes objects)"
        )
    return None


def _image_repository(value: str) -> str:
    if "@" in value:
        raise ValueError(
            f"{value!r} has a digest: give the repository only; the version goes in stable/canary.version"
        )
    if ":" in value.rsplit("/", 1)[-1]:
        raise ValueError(
            f"{value!r} has a tag: give the repository only; the version goes in stable/canary.version"
        )
    if not _IMAGE_REPOSITORY.match(value):
        raise ValueError(f"{value!r} is not an image repository such as 'ghcr.io/example/api'")
    return value


def _url_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"{value!r} must start with '/'")
    if not _URL_PATH.match(value):
        raise ValueError(
            f"{value!r} is not a plain URL path: use '/'-separated letters, digits, '.', '_', '~', '-'"
        )
    return value


def _path_prefix(value: str) -> str:
    _url_path(value)
    # Prefixes match whole path segments (Gateway API PathPrefix, and the
    # nginx locations generated from it), so a trailing slash is meaningless
    # and would make "/api/" differ from "/api" between the two platforms.
    if value != "/" and value.endswith("/"):
        raise ValueError(
            f"{value!r} ends with '/': write {value.rstrip('/')!r} (it matches whole path segments)"
        )
    return value


def _cookie_name(value: str) -> str:
    if not COOKIE_NAME_PATTERN.match(value):
        raise ValueError(
            f"{value!r} is not a usable cookie name: use letters, digits and '_' "
            "(nginx reads it as $cookie_<name>)"
        )
    return value


def _hostname(value: str) -> str:
    if len(value) > 253 or not _HOSTNAME.match(value):
        raise ValueError(
            f"{value!r} is not a lowercase hostname such as 'api.example.com' or '*.example.com'"
        )
    return value


ImageRepository = Annotated[str, AfterValidator(_image_repository)]
"""An image repository without tag or digest, such as 'ghcr.io/example/api'."""

UrlPath = Annotated[str, AfterValidator(_url_path)]
"""An absolute URL path such as '/metrics'."""

PathPrefix = Annotated[str, AfterValidator(_path_prefix)]
"""A URL path prefix matched segment by segment: '/' or '/api' (no trailing slash)."""

Port = Annotated[int, Field(ge=1, le=65535, strict=True)]
"""A TCP port number."""

EnvMap = Annotated[dict[str, str], _checked_keys(_check_env_name, "env name")]
"""Extra free-form env; names perfstack generates or reserves are refused."""


class FlagOverride(ConfigModel):
    """Per-track values of a flag; a field left out keeps the flag's own value."""

    enabled: bool | None = None
    """Whether the flag is on for this track (default: the flag's `enabled`)."""
    rollout: Percent | None = None
    """Percent of users that get the feature on this track (default: the flag's `rollout`)."""


class ResolvedFlag(NamedTuple):
    """A flag as one track sees it."""

    enabled: bool
    """Whether the flag is on."""
    rollout: int
    """Percent of users that get the feature: the configured rollout, 0 when the flag is off."""


class FeatureFlag(ConfigModel):
    """A feature flag, handed to the app as FEATURE_<NAME>=true|false (and the same as ENABLE_<NAME>, the
    name the source runbooks switch the app with) and FF_<NAME>=<rollout percent>."""

    enabled: bool = False
    """Whether the feature is on at all. `false` is the feature rollback."""
    rollout: Percent = 100
    """Percent of users that get the feature when it is enabled (the app buckets users by id)."""
    canary: FlagOverride | None = None
    """Values for the canary track only, e.g. `{enabled: true}` to try a flag on the canary first.
    Ignored while the service has no canary."""

    def for_track(self, track: Track) -> ResolvedFlag:
        """The flag's value on `track`: the canary override applies to the canary track only."""
        enabled, rollout = self.enabled, self.rollout
        if track == "canary" and self.canary is not None:
            if self.canary.enabled is not None:
                enabled = self.canary.enabled
            if self.canary.rollout is not None:
                rollout = self.canary.rollout
        return ResolvedFlag(enabled=enabled, rollout=rollout if enabled else 0)


FeatureMap = Annotated[dict[str, FeatureFlag], _checked_keys(_check_flag_name, "flag name")]
"""Feature flags by camelCase name."""


class TrackConfig(ConfigModel):
    """One track (stable or canary) of a service: which build runs and how much of it."""

    version: ImageTag
    """Image tag to run, e.g. '1.4.2'. Setting it back is the version rollback."""
    replicas: Annotated[int, Field(ge=1, strict=True)] = 1
    """Number of containers / pods."""
    resources: Resources = Field(default_factory=Resources)
    """CPU and memory per container."""
    env: EnvMap = Field(default_factory=dict)
    """Extra env for this track only; wins over the service's `env`."""


class CanaryConfig(TrackConfig):
    """The canary track: a second build that receives `weight` percent of users."""

    replicas: Annotated[int, Field(ge=0, strict=True)] = 1
    """Number of containers / pods; 0 parks the canary, which needs `weight: 0`."""
    weight: Percent
    """Percent of users routed to the canary (Docker: sticky per user id; Kubernetes: percent of requests).
    `0` is the canary rollback."""
    allow_same_version: bool = False
    """Allow `version` equal to the stable version, to canary a flag or env change on the same build."""

    @model_validator(mode="after")
    def _traffic_needs_replicas(self) -> "CanaryConfig":
        if self.replicas == 0 and self.weight > 0:
            raise_errors(
                "canary",
                [
                    config_error(
                        "canary_without_replicas",
                        f"replicas is 0 but weight is {self.weight}: traffic would go to no container; "
                        "set weight to 0 or replicas to at least 1",
                        ("replicas",),
                        self.replicas,
                    )
                ],
            )
        return self


class RouteConfig(ConfigModel):
    """How user traffic reaches a service; services without a route get no traffic split."""

    path_prefix: PathPrefix
    """URL path prefix served by this service, matched segment by segment: '/' or '/api'."""
    sticky_cookie: Annotated[str, AfterValidator(_cookie_name)] | None = None
    """Docker only: cookie whose value keeps a user on one track when the request has no X-User-Id
    header (X-User-Id is always used when present; with neither, each request is split at random).
    Refused on platform kubernetes, whose Gateway API HTTPRoute splits each request at random and
    honours neither the cookie nor X-User-Id."""
    hostnames: list[Annotated[str, AfterValidator(_hostname)]] = Field(default_factory=list)
    """Hostnames this route answers on (Kubernetes HTTPRoute); empty means those of the gateway."""


def _build_context(value: str) -> str:
    if value.startswith("/") or ".." in value.split("/"):
        raise ValueError(f"{value!r} must be a path inside the project, relative to it (e.g. 'demo')")
    if not (Path(value) / "Dockerfile").is_file():
        raise ValueError(f"{value!r} has no Dockerfile (paths are relative to the project directory)")
    return value


class BuildConfig(ConfigModel):
    """Build the service's image on the Docker host from source in this repository (no registry)."""

    context: Annotated[str, AfterValidator(_build_context)]
    """Build context relative to the project directory, holding a `Dockerfile` (e.g. `demo`)."""

    def image_build(self) -> ImageBuild:
        """The platform's build instruction."""
        return ImageBuild(self.context)


class ServiceConfig(ConfigModel):
    """One app service: image, ports, probes, route, stable and canary tracks, flags and env."""

    image: ImageRepository
    """Image repository without tag, e.g. 'ghcr.io/example/api'; each track sets its version."""
    build: BuildConfig | None = None
    """Platform docker only: build `image:<version>` of each track locally from this source instead
    of pulling it (the `dev` stack builds the demo app this way). Unset: the image is pulled."""
    port: Port = 8080
    """Port the app listens on for HTTP, metrics and probes."""
    metrics_path: UrlPath = "/metrics"
    """Path Prometheus scrapes."""
    health_path: UrlPath = "/health"
    """Path of the liveness (and start-up) probe: 200 whenever the process can serve at all. It must
    not check Redis, Jaeger or any other dependency: when one is down every pod would fail it and be
    restarted at once, which fixes nothing and drops the requests in flight."""
    ready_path: UrlPath = "/ready"
    """Path of the readiness probe: 200 while the pod should get traffic, 503 while it starts or drains."""
    startup_seconds: Annotated[int, Field(ge=5, le=3600, strict=True)] = 120
    """How long a new pod may take until `healthPath` first answers before it is restarted; the
    liveness and readiness probes wait until then, so a slow start is not killed (Kubernetes)."""
    drain_seconds: Annotated[int, Field(ge=0, le=300, strict=True)] = 10
    """Seconds a stopping pod keeps serving before the app gets SIGTERM (Kubernetes preStop sleep).
    Kubernetes removes a terminating pod from its Service and the Gateway's backends at once, but
    kube-proxy and the Gateway's proxies learn of it a few seconds later and route requests to it
    until then; without this wait a rollout or scale-down fails those requests. 0 turns it off. The
    pod's termination grace period is this plus 30 s for the app's own shutdown."""
    route: RouteConfig | None = None
    """Traffic routing; without it the service gets no traffic split (e.g. a worker)."""
    stable: TrackConfig
    """The stable track, serving everyone not sent to the canary."""
    canary: CanaryConfig | None = None
    """The canary track; remove it after promotion (set stable.version to the canary's)."""
    features: FeatureMap = Field(default_factory=dict)
    """Feature flags by camelCase name, e.g. `apiCaching: {enabled: true, rollout: 25}`."""
    env: EnvMap = Field(default_factory=dict)
    """Extra env for both tracks."""
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    """How `python -m rollout` promotes, holds and rolls back the canary (docs/rollout.md). Read by
    the rollout judge only: changing it changes no deployed resource."""
    slo: SloConfig | None = None
    """The service level objectives (docs/slo.md): availability and latency over a window, with
    burn-rate alerts and an error budget that gates the rollout's promotions. `slo: {}` gives the
    runbooks' targets (99.9 % of requests without 5xx, 95 % within 1500 ms, over 30 days); unset: no
    objectives, only the alert catalog's thresholds."""

    @model_validator(mode="after")
    def _check_service(self) -> "ServiceConfig":
        errors: list[InitErrorDetails] = []
        if (
            self.canary is not None
            and self.canary.version == self.stable.version
            and not self.canary.allow_same_version
        ):
            errors.append(
                config_error(
                    "canary_same_version",
                    f"canary.version {self.canary.version!r} is the stable version: a canary of the "
                    "same build compares nothing; set a new version, or canary.allowSameVersion: true "
                    "to canary a flag/env change",
                    ("canary", "version"),
                    self.canary.version,
                )
            )
        flag = self.rollout.flag
        if flag is not None and flag not in self.features:
            known = ", ".join(self.features) or "none"
            errors.append(
                config_error(
                    "unknown_rollout_flag",
                    f"{flag!r} is not a flag of this service (features: {known})",
                    ("rollout", "flag"),
                    flag,
                )
            )
        if flag is not None and self.canary is None:
            errors.append(
                config_error(
                    "flag_rollout_without_canary",
                    f"flag {flag!r} rolls out on the canary track, and this service has none",
                    ("rollout", "flag"),
                    flag,
                )
            )
        seen: dict[str, str] = {}
        for name in self.features:
            suffix = upper_snake(name)
            if suffix in seen:
                errors.append(
                    config_error(
                        "flag_name_clash",
                        f"{name!r} and {seen[suffix]!r} both become FEATURE_{suffix}: rename one",
                        ("features", name),
                        name,
                    )
                )
            seen[suffix] = name
        raise_errors("service", errors)
        return self

    def track(self, track: Track) -> TrackConfig:
        """The config of `track`; ValueError for the canary of a service that has none."""
        if track == "stable":
            return self.stable
        if self.canary is None:
            raise ValueError("this service has no canary track")
        return self.canary


def _unique_path_prefixes(services: dict[str, ServiceConfig]) -> dict[str, ServiceConfig]:
    # Two services on one prefix cannot both be routed: nginx refuses
    # duplicate locations and an HTTPRoute pair would be ambiguous.
    owner: dict[str, str] = {}
    errors: list[InitErrorDetails] = []
    for name, service in services.items():
        if service.route is None:
            continue
        prefix = service.route.path_prefix
        if prefix in owner:
            errors.append(
                config_error(
                    "duplicate_path_prefix",
                    f"pathPrefix {prefix!r} is already routed to service {owner[prefix]!r}",
                    (name, "route", "pathPrefix"),
                    prefix,
                )
            )
        else:
            owner[prefix] = name
    raise_errors("services", errors)
    return services


Services = Annotated[
    dict[str, ServiceConfig],
    _checked_keys(_check_service_name, "service name"),
    AfterValidator(_unique_path_prefixes),
]
"""The type of `perfstack:services`: service name (a DNS label) -> ServiceConfig."""


def effective_weight(service: ServiceConfig, kill_switch: bool) -> int:
    """Percent of users the traffic split sends to the canary: 0 without a canary or under the kill switch."""
    if kill_switch or service.canary is None:
        return 0
    return service.canary.weight


def track_workload_name(service_name: str, track: Track) -> str:
    """The workload (and host) name of a service's track: `api-stable`, `api-canary`."""
    return f"{service_name}-{track}"


def running_tracks(service: ServiceConfig) -> list[Track]:
    """The tracks that run containers: stable, and the canary when it has one with replicas."""
    tracks: list[Track] = ["stable", "canary"] if service.canary is not None else ["stable"]
    return [track for track in tracks if service.track(track).replicas > 0]


class LoadGeneratorConfig(ConfigModel):
    """Steady traffic through the router so the dashboards have data (platform docker).

    It runs the demo app's `perfstack_demo.loadgen` from the image of `service`, so that
    service's image must be the demo app's (the `dev` stack builds it from `demo/`).
    """

    service: str = "api"
    """The routed service whose image runs the load generator."""
    requests_per_second: float = Field(default=5, gt=0, le=200)
    """Requests per second sent through the router."""
    users: int = Field(default=50, ge=1, le=100000, strict=True)
    """Size of the pool of user ids the requests carry (X-User-Id), so sticky splits and rollouts apply."""
