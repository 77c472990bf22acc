"""Validation of `perfstack:services`: every error names the user's camelCase key path."""

import copy
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import Field, ValidationError

from components.app.settings import FeatureFlag, ServiceConfig, Services, effective_weight
from components.platform.settings import ConfigModel


class Stack(ConfigModel):
    """The `services` section as the stack config embeds it."""

    services: Services = Field(default_factory=dict)
    """The services under test."""


API: dict[str, Any] = {
    "image": "ghcr.io/example/api",
    "route": {"pathPrefix": "/"},
    "stable": {"version": "1.4.2", "replicas": 3},
    "canary": {"version": "1.5.0", "replicas": 1, "weight": 10},
    "features": {"apiCaching": {"enabled": True, "rollout": 25}},
}


def validate(change: Callable[[dict[str, Any]], object] | None = None, name: str = "api") -> Stack:
    service = copy.deepcopy(API)
    if change is not None:
        change(service)
    return Stack.model_validate({"services": {name: service}})


def errors_of(
    change: Callable[[dict[str, Any]], object] | None = None, name: str = "api"
) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as caught:
        validate(change, name)
    return caught.value.errors()


def locs(errors: list[dict[str, Any]]) -> list[tuple[str | int, ...]]:
    return [tuple(error["loc"]) for error in errors]


def test_design_example_is_valid() -> None:
    stack = validate()

    assert stack.services["api"].canary is not None
    assert stack.services["api"].canary.weight == 10


@pytest.mark.parametrize("weight", [101, -1, 10.5, "10", True])
def test_weight_that_is_not_a_whole_number_0_to_100_is_refused_at_its_key(weight: object) -> None:
    errors = errors_of(lambda s: s["canary"].update(weight=weight))

    assert locs(errors) == [("services", "api", "canary", "weight")]


def test_canary_without_weight_is_refused_at_weight() -> None:
    errors = errors_of(lambda s: s["canary"].pop("weight"))

    assert [(e["loc"], e["type"]) for e in errors] == [(("services", "api", "canary", "weight"), "missing")]


def test_rollout_above_100_is_refused_at_its_key() -> None:
    errors = errors_of(lambda s: s["features"]["apiCaching"].update(rollout=150))

    assert locs(errors) == [("services", "api", "features", "apiCaching", "rollout")]


@pytest.mark.parametrize("flag", ["api-caching", "1flag", "ApiCaching", "api_caching"])
def test_flag_name_that_is_not_camel_case_is_refused_at_the_flag(flag: str) -> None:
    errors = errors_of(lambda s: s["features"].update({flag: {"enabled": True}}))

    assert locs(errors) == [("services", "api", "features", flag)]
    assert "camelCase" in errors[0]["msg"]


def test_flag_names_that_become_the_same_env_name_are_refused() -> None:
    errors = errors_of(lambda s: s["features"].update({"apiCACHING": {}}))

    assert locs(errors) == [("services", "api", "features", "apiCACHING")]
    assert "FEATURE_API_CACHING" in errors[0]["msg"]


def test_canary_with_the_stable_version_is_refused_at_canary_version() -> None:
    errors = errors_of(lambda s: s["canary"].update(version="1.4.2"))

    assert locs(errors) == [("services", "api", "canary", "version")]
    assert "allowSameVersion" in errors[0]["msg"]


def test_canary_with_the_stable_version_is_accepted_with_allow_same_version() -> None:
    stack = validate(lambda s: s["canary"].update(version="1.4.2", allowSameVersion=True))

    assert stack.services["api"].canary is not None
    assert stack.services["api"].canary.allow_same_version is True


@pytest.mark.parametrize("image", ["ghcr.io/example/api:1.4.2", "ghcr.io/example/api@sha256:" + "a" * 64])
def test_image_with_tag_or_digest_is_refused_at_image(image: str) -> None:
    errors = errors_of(lambda s: s.update(image=image))

    assert locs(errors) == [("services", "api", "image")]
    assert "version" in errors[0]["msg"]


def test_image_on_a_registry_with_a_port_is_not_mistaken_for_a_tag() -> None:
    assert validate(lambda s: s.update(image="localhost:5000/example/api")).services["api"].image == (
        "localhost:5000/example/api"
    )


@pytest.mark.parametrize(("track", "version"), [("stable", "latest"), ("canary", "LATEST"), ("stable", "")])
def test_version_latest_or_empty_is_refused_at_the_track_version(track: str, version: str) -> None:
    errors = errors_of(lambda s: s[track].update(version=version))

    assert locs(errors) == [("services", "api", track, "version")]


@pytest.mark.parametrize("name", ["API", "my_svc", "-api", "api-", "a" * 33])
def test_service_name_that_is_not_a_dns_label_is_refused_at_the_service(name: str) -> None:
    errors = errors_of(name=name)

    assert locs(errors) == [("services", name)]
    assert "DNS label" in errors[0]["msg"]


def test_bad_service_name_and_bad_value_are_reported_together() -> None:
    errors = errors_of(lambda s: s["canary"].update(weight=101), name="API")

    assert sorted(locs(errors)) == [("services", "API"), ("services", "API", "canary", "weight")]


def test_unknown_key_is_refused_at_the_misspelt_key() -> None:
    errors = errors_of(lambda s: s["canary"].update(wieght=10))

    assert [(e["loc"], e["type"]) for e in errors] == [
        (("services", "api", "canary", "wieght"), "extra_forbidden")
    ]


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("FEATURE_X", "features"),
        ("FF_X", "features"),
        ("REDIS_HOST", "perfstack"),
        ("1BAD", "valid env var name"),
    ],
)
def test_env_name_that_is_invalid_or_reserved_is_refused_at_the_name(key: str, problem: str) -> None:
    errors = errors_of(lambda s: s["stable"].update(env={key: "1"}))

    assert locs(errors) == [("services", "api", "stable", "env", key)]
    assert problem in errors[0]["msg"]


def test_service_env_may_not_set_the_redis_password() -> None:
    errors = errors_of(lambda s: s.update(env={"REDIS_PASSWORD": "hunter2"}))

    assert locs(errors) == [("services", "api", "env", "REDIS_PASSWORD")]


@pytest.mark.parametrize("replicas", [0, -1])
def test_stable_needs_at_least_one_replica(replicas: int) -> None:
    errors = errors_of(lambda s: s["stable"].update(replicas=replicas))

    assert locs(errors) == [("services", "api", "stable", "replicas")]


def test_canary_with_zero_replicas_is_accepted_at_weight_0() -> None:
    assert validate(lambda s: s["canary"].update(replicas=0, weight=0)).services["api"].canary is not None


def test_canary_with_zero_replicas_and_traffic_is_refused_at_replicas() -> None:
    errors = errors_of(lambda s: s["canary"].update(replicas=0))

    assert locs(errors) == [("services", "api", "canary", "replicas")]


@pytest.mark.parametrize("port", [0, 65536, "8080"])
def test_port_outside_1_to_65535_is_refused(port: object) -> None:
    errors = errors_of(lambda s: s.update(port=port))

    assert locs(errors) == [("services", "api", "port")]


@pytest.mark.parametrize("prefix", ["api", "/api/", "/a b"])
def test_path_prefix_must_be_a_plain_path_without_trailing_slash(prefix: str) -> None:
    errors = errors_of(lambda s: s["route"].update(pathPrefix=prefix))

    assert locs(errors) == [("services", "api", "route", "pathPrefix")]


def test_two_services_on_one_path_prefix_are_refused_at_the_second() -> None:
    services = {"api": copy.deepcopy(API), "web": copy.deepcopy(API)}

    with pytest.raises(ValidationError) as caught:
        Stack.model_validate({"services": services})

    assert locs(caught.value.errors()) == [("services", "web", "route", "pathPrefix")]


@pytest.mark.parametrize("cookie", ["my-session", "a b", "1sid"])
def test_sticky_cookie_nginx_cannot_read_is_refused(cookie: str) -> None:
    errors = errors_of(lambda s: s["route"].update(stickyCookie=cookie))

    assert locs(errors) == [("services", "api", "route", "stickyCookie")]


def test_defaults_of_a_minimal_service() -> None:
    service = ServiceConfig.model_validate(
        {"image": "ghcr.io/example/worker", "stable": {"version": "2.0.0"}}
    )

    assert (service.port, service.metrics_path, service.health_path) == (8080, "/metrics", "/health")
    assert (service.route, service.canary, service.features, service.env) == (None, None, {}, {})
    assert service.stable.replicas == 1


def test_flag_defaults_to_off_at_full_rollout() -> None:
    flag = FeatureFlag()

    assert (flag.enabled, flag.rollout) == (False, 100)


def test_effective_weight_is_the_canary_weight() -> None:
    assert effective_weight(validate().services["api"], kill_switch=False) == 10


def test_effective_weight_is_0_under_the_kill_switch() -> None:
    assert effective_weight(validate().services["api"], kill_switch=True) == 0


def test_effective_weight_is_0_without_canary() -> None:
    assert effective_weight(validate(lambda s: s.pop("canary")).services["api"], kill_switch=False) == 0
