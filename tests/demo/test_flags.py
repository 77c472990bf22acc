"""Flag resolution: three env families, deterministic proportional rollouts, the kill switch."""

import pytest
from perfstack_demo.flags import FeatureFlags, Flag, Optimization, rollout_bucket
from perfstack_demo.settings import Settings
from pydantic import ValidationError

USERS = [f"user-{i}" for i in range(10_000)]
CACHING = Optimization.RESPONSE_CACHING


def _on(env: dict[str, str], user: str = "anyone") -> bool:
    return CACHING in FeatureFlags.from_env(env).active_for(user)


def test_a_flag_with_no_env_is_off() -> None:
    assert not _on({})


@pytest.mark.parametrize("name", ["FEATURE_RESPONSE_CACHING", "ENABLE_RESPONSE_CACHING"])
def test_either_switch_family_turns_a_flag_on_for_everyone(name: str) -> None:
    assert _on({name: "true"})
    assert not _on({name: "false"})


@pytest.mark.parametrize(
    ("feature", "enable", "expected"),
    [("true", "true", True), ("true", "false", False), ("false", "true", False), ("false", "false", False)],
)
def test_with_both_switches_a_flag_is_on_only_if_neither_says_false(
    feature: str, enable: str, expected: bool
) -> None:
    assert _on({"FEATURE_RESPONSE_CACHING": feature, "ENABLE_RESPONSE_CACHING": enable}) is expected


def test_switch_values_are_case_insensitive() -> None:
    assert _on({"FEATURE_RESPONSE_CACHING": "TRUE"})


def test_a_rollout_alone_is_a_flag_on_for_that_share() -> None:
    assert _on({"FF_RESPONSE_CACHING": "100"})
    assert not _on({"FF_RESPONSE_CACHING": "0"})


def test_rollout_zero_turns_a_switched_on_flag_off() -> None:
    env = {"FEATURE_RESPONSE_CACHING": "true", "FF_RESPONSE_CACHING": "0"}
    assert not any(_on(env, u) for u in USERS[:500])


def test_a_switched_off_flag_stays_off_at_full_rollout() -> None:
    assert not _on({"FEATURE_RESPONSE_CACHING": "false", "FF_RESPONSE_CACHING": "100"})


def test_rollout_is_deterministic_per_user() -> None:
    env = {"FEATURE_RESPONSE_CACHING": "true", "FF_RESPONSE_CACHING": "30"}
    first = [_on(env, u) for u in USERS[:1000]]
    # A new instance (another replica) decides the same for every user.
    assert [_on(dict(env), u) for u in USERS[:1000]] == first


@pytest.mark.parametrize("percent", [1, 10, 25, 50, 90])
def test_rollout_reaches_its_share_of_users(percent: int) -> None:
    env = {"FEATURE_RESPONSE_CACHING": "true", "FF_RESPONSE_CACHING": str(percent)}
    share = sum(_on(env, u) for u in USERS) / len(USERS)
    assert abs(share - percent / 100) < 0.015


def test_raising_a_rollout_keeps_the_users_who_had_it() -> None:
    at_10 = {u for u in USERS if _on({"FF_RESPONSE_CACHING": "10"}, u)}
    at_25 = {u for u in USERS if _on({"FF_RESPONSE_CACHING": "25"}, u)}
    assert at_10 < at_25


def test_each_flag_rolls_out_to_a_different_cohort() -> None:
    assert [rollout_bucket("RESPONSE_CACHING", u) for u in USERS[:50]] != [
        rollout_bucket("MODEL_SELECTION", u) for u in USERS[:50]
    ]


def test_disable_all_optimizations_wins_over_every_flag() -> None:
    env = {f"FEATURE_{opt.value}": "true" for opt in Optimization} | {
        f"FF_{opt.value}": "100" for opt in Optimization
    }
    assert FeatureFlags.from_env(env).active_for("u") == frozenset(Optimization)
    assert FeatureFlags.from_env(env | {"DISABLE_ALL_OPTIMIZATIONS": "true"}).active_for("u") == frozenset()
    assert FeatureFlags.from_env(env | {"DISABLE_ALL_OPTIMIZATIONS": "false"}).active_for("u") == frozenset(
        Optimization
    )


def test_unknown_feature_flags_are_ignored() -> None:
    flags = FeatureFlags.from_env({"FEATURE_API_CACHING": "not-a-bool", "FF_PROMPT_COMPRESSION": "250"})
    assert flags.active_for("u") == frozenset()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FEATURE_MODEL_SELECTION", "yes please"),
        ("ENABLE_CONTEXT_PRUNING", "1"),
        ("FF_PROMPT_OPTIMIZATION", "101"),
        ("FF_PROMPT_OPTIMIZATION", "ten"),
        ("DISABLE_ALL_OPTIMIZATIONS", "maybe"),
    ],
)
def test_a_bad_value_of_a_known_flag_fails_the_settings_and_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ValidationError, match=name):
        Settings.from_env({name: value})


def test_flags_reach_the_settings() -> None:
    settings = Settings.from_env({"FEATURE_MODEL_SELECTION": "true", "FF_MODEL_SELECTION": "40"})
    expected = Flag("MODEL_SELECTION", enabled=True, rollout=40)
    assert settings.flags.flags[Optimization.MODEL_SELECTION] == expected
