"""The plain env of an app track: flags, kill switch, wiring, user env."""

from typing import Any

import pytest

from components.app.env import REDIS_PASSWORD_FILE_ENV, track_env
from components.app.settings import GENERATED_ENV_NAMES, ServiceConfig

SERVICE: dict[str, Any] = {
    "image": "ghcr.io/example/api",
    "route": {"pathPrefix": "/"},
    "stable": {"version": "1.4.2", "replicas": 3, "env": {"LOG_LEVEL": "info"}},
    "canary": {"version": "1.5.0", "weight": 10, "env": {"LOG_LEVEL": "debug"}},
    "features": {
        "apiCaching": {"enabled": True, "rollout": 25},
        "responseCaching": {"enabled": True},
        "advancedCaching": {"enabled": False, "rollout": 50},
        "promptOptimization": {"canary": {"enabled": True, "rollout": 30}},
    },
    "env": {"LOG_LEVEL": "warn", "LOG_FORMAT": "json"},
}


def env_of(track: str = "stable", kill_switch: bool = False, **changes: Any) -> dict[str, str]:
    return track_env(
        service_name="api",
        service=ServiceConfig.model_validate({**SERVICE, **changes}),
        track=track,  # type: ignore[arg-type]
        kill_switch=kill_switch,
        environment="staging",
        redis_env={"REDIS_HOST": "redis", "REDIS_PORT": "6379"},
        redis_password_file="/run/secrets/perfstack/redis-password",
        otlp_endpoint="http://jaeger:4317",
        trace_sampling=0.25,
    )


FLAG_PREFIXES = ("FEATURE_", "ENABLE_", "FF_")


def flag_env(env: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in env.items() if key.startswith(FLAG_PREFIXES)}


def test_enabled_flag_gives_feature_true_and_its_rollout() -> None:
    env = env_of()

    assert (env["FEATURE_API_CACHING"], env["FF_API_CACHING"]) == ("true", "25")


def test_enabled_flag_without_rollout_reaches_100_percent() -> None:
    env = env_of()

    assert (env["FEATURE_RESPONSE_CACHING"], env["FF_RESPONSE_CACHING"]) == ("true", "100")


def test_disabled_flag_gives_feature_false_and_rollout_0() -> None:
    env = env_of()

    assert (env["FEATURE_ADVANCED_CACHING"], env["FF_ADVANCED_CACHING"]) == ("false", "0")


def test_optimizations_are_not_disabled_without_kill_switch() -> None:
    assert env_of()["DISABLE_ALL_OPTIMIZATIONS"] == "false"


@pytest.mark.parametrize("track", ["stable", "canary"])
def test_kill_switch_turns_every_flag_off_and_disables_all_optimizations(track: str) -> None:
    env = env_of(track, kill_switch=True)

    assert {k: v for k, v in flag_env(env).items() if k.startswith("FEATURE_")} == {
        "FEATURE_API_CACHING": "false",
        "FEATURE_RESPONSE_CACHING": "false",
        "FEATURE_ADVANCED_CACHING": "false",
        "FEATURE_PROMPT_OPTIMIZATION": "false",
    }
    assert {v for k, v in flag_env(env).items() if k.startswith("FF_")} == {"0"}
    assert {v for k, v in flag_env(env).items() if k.startswith("ENABLE_")} == {"false"}
    assert env["DISABLE_ALL_OPTIMIZATIONS"] == "true"


def test_enable_family_carries_the_same_switch_as_feature() -> None:
    # The source runbooks switch the app with ENABLE_<FLAG> (000, 002), the design with FEATURE_<FLAG>.
    env = env_of("canary")
    features = {k.removeprefix("FEATURE_"): v for k, v in env.items() if k.startswith("FEATURE_")}

    assert {k.removeprefix("ENABLE_"): v for k, v in env.items() if k.startswith("ENABLE_")} == features


def test_canary_only_flag_is_on_in_the_canary_env() -> None:
    env = env_of("canary")

    assert (env["FEATURE_PROMPT_OPTIMIZATION"], env["FF_PROMPT_OPTIMIZATION"]) == ("true", "30")


def test_canary_only_flag_stays_off_in_the_stable_env() -> None:
    env = env_of("stable")

    assert (env["FEATURE_PROMPT_OPTIMIZATION"], env["FF_PROMPT_OPTIMIZATION"]) == ("false", "0")


def test_flags_without_override_are_the_same_on_both_tracks() -> None:
    stable, canary = flag_env(env_of("stable")), flag_env(env_of("canary"))

    assert {k: v for k, v in canary.items() if "PROMPT" not in k} == {
        k: v for k, v in stable.items() if "PROMPT" not in k
    }


def test_otel_env_names_service_endpoint_and_track_resource_attributes() -> None:
    env = env_of("canary")

    assert env["OTEL_SERVICE_NAME"] == "api"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4317"
    assert env["OTEL_RESOURCE_ATTRIBUTES"] == (
        "deployment.environment.name=staging,service.version=1.5.0,perfstack.track=canary"
    )


def test_app_version_and_track_are_those_of_the_track() -> None:
    assert (env_of("stable")["APP_VERSION"], env_of("stable")["APP_TRACK"]) == ("1.4.2", "stable")
    assert (env_of("canary")["APP_VERSION"], env_of("canary")["APP_TRACK"]) == ("1.5.0", "canary")


def test_redis_env_of_the_redis_component_is_passed_on() -> None:
    env = env_of()

    assert (env["REDIS_HOST"], env["REDIS_PORT"]) == ("redis", "6379")


def test_otel_env_exports_over_grpc_with_a_parent_based_ratio_sampler() -> None:
    env = env_of()

    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc"
    assert (env["OTEL_TRACES_SAMPLER"], env["OTEL_TRACES_SAMPLER_ARG"]) == (
        "parentbased_traceidratio",
        "0.25",
    )


def test_redis_password_is_only_a_file_path_in_the_plain_env() -> None:
    env = env_of()

    assert env[REDIS_PASSWORD_FILE_ENV] == "/run/secrets/perfstack/redis-password"
    assert [key for key in env if "PASSWORD" in key] == [REDIS_PASSWORD_FILE_ENV]


def test_track_env_wins_over_service_env() -> None:
    assert env_of("stable")["LOG_LEVEL"] == "info"
    assert env_of("canary")["LOG_LEVEL"] == "debug"


def test_service_env_reaches_both_tracks() -> None:
    assert env_of("stable")["LOG_FORMAT"] == env_of("canary")["LOG_FORMAT"] == "json"


def test_keys_are_sorted() -> None:
    env = env_of()

    assert list(env) == sorted(env)


def test_every_generated_name_is_reserved_against_user_env() -> None:
    # If a generated name were not reserved, user env could silently replace it.
    generated = {
        key for key in env_of(env={}, stable={"version": "1.4.2"}) if not key.startswith(FLAG_PREFIXES)
    }

    assert generated <= GENERATED_ENV_NAMES


def test_resource_attribute_values_are_percent_encoded() -> None:
    env = track_env(
        service_name="api",
        service=ServiceConfig.model_validate(SERVICE),
        track="stable",
        kill_switch=False,
        environment="eu west,1",
        redis_env={"REDIS_HOST": "redis", "REDIS_PORT": "6379"},
        redis_password_file="/run/secrets/perfstack/redis-password",
        otlp_endpoint="http://jaeger:4317",
        trace_sampling=0.25,
    )

    assert env["OTEL_RESOURCE_ATTRIBUTES"].startswith("deployment.environment.name=eu%20west%2C1,")


def test_canary_env_of_a_service_without_canary_is_refused() -> None:
    with pytest.raises(ValueError, match="no canary"):
        env_of("canary", canary=None)
