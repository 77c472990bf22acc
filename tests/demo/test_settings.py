"""Settings from the env: the stacks' names, empty values as unset, errors that name the variable."""

import pytest
from perfstack_demo.__main__ import describe
from perfstack_demo.settings import Settings
from pydantic import ValidationError


def test_the_stacks_env_names_are_read() -> None:
    settings = Settings.from_env(
        {
            "APP_TRACK": "canary",
            "APP_VERSION": "1.5.0",
            "OTEL_SERVICE_NAME": "api",
            "REDIS_HOST": "redis",
            "REDIS_PORT": "6380",
            "REDIS_PASSWORD_FILE": "/run/secrets/redis-password",
            "PORT": "8081",
        }
    )
    assert (settings.track, settings.version, settings.service_name) == ("canary", "1.5.0", "api")
    assert (settings.redis_host, settings.redis_port, settings.port) == ("redis", 6380, 8081)
    assert str(settings.redis_password_file) == "/run/secrets/redis-password"


def test_defaults_need_no_env() -> None:
    settings = Settings.from_env({})
    assert (settings.track, settings.port, settings.redis_host, settings.redis_sentinels) == (
        "stable",
        8080,
        None,
        (),
    )
    assert settings.redis_password() is None


def test_an_empty_value_means_unset() -> None:
    settings = Settings.from_env({"REDIS_HOST": "", "REDIS_SENTINELS": "", "FEATURE_MODEL_SELECTION": ""})
    assert settings.redis_host is None
    assert settings.redis_sentinels == ()


def test_the_password_env_is_never_read() -> None:
    # Only a file may carry it: a REDIS_PASSWORD variable is ignored, not used.
    assert Settings.from_env({"REDIS_HOST": "r", "REDIS_PASSWORD": "in-env"}).redis_password() is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("APP_TRACK", "blue"),
        ("PORT", "0"),
        ("DEMO_FAULTS", '{"error_ratio": 3}'),
        ("DEMO_LATENCY_SCALE", "-1"),
    ],
)
def test_a_bad_value_is_refused_and_named(name: str, value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings.from_env({name: value})
    assert name in describe(caught.value)


def test_the_start_error_message_does_not_repeat_the_environment() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings.from_env({"REDIS_SENTINELS": "s:26379", "SOME_TOKEN": "token-value-123"})
    assert "token-value-123" not in describe(caught.value)
    assert "REDIS_MASTER_NAME" in describe(caught.value)
