"""Feature flags from the environment: which optimisations apply to which user.

Three env families name the same flag, e.g. for ``responseCaching``:

- ``FEATURE_RESPONSE_CACHING=true|false``: the switch perfstack sets;
- ``ENABLE_RESPONSE_CACHING=true|false``: the switch the source runbooks use;
  when both switches are present the flag is on only if neither says false;
- ``FF_RESPONSE_CACHING=<0..100>``: the rollout percent. A user gets the
  feature when a stable hash of (flag, user id) falls in the first N of 100
  buckets, so the answer is the same for a user on every request and every
  instance, and N percent of users get it.

A flag with no switch but a rollout is on for that rollout; a flag with a
switch but no rollout is on for everybody; a flag with neither is off.
``DISABLE_ALL_OPTIMIZATIONS=true`` turns every optimisation off whatever the
flags say. ``FEATURE_*`` names the demo does not know are ignored.
"""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

SWITCH_PREFIXES: tuple[str, ...] = ("FEATURE_", "ENABLE_")
"""Env prefixes of a flag's on/off switch (perfstack's family, then the runbooks')."""

ROLLOUT_PREFIX = "FF_"
"""Env prefix of a flag's rollout percent."""

DISABLE_ALL_ENV = "DISABLE_ALL_OPTIMIZATIONS"
"""The kill switch: true turns every optimisation off."""

BUCKETS = 100


class Optimization(StrEnum):
    """The optimisations the demo simulates, named by their env suffix."""

    RESPONSE_CACHING = "RESPONSE_CACHING"
    PROMPT_OPTIMIZATION = "PROMPT_OPTIMIZATION"
    CONTEXT_PRUNING = "CONTEXT_PRUNING"
    MODEL_SELECTION = "MODEL_SELECTION"


def parse_bool(name: str, value: str) -> bool:
    """``true``/``false`` (any case, surrounding blanks ignored); anything else is a configuration error."""
    normalised = value.strip().lower()
    if normalised in ("true", "false"):
        return normalised == "true"
    raise ValueError(f"{name}={value!r}: expected true or false")


def parse_percent(name: str, value: str) -> int:
    """An integer percent 0..100; anything else is a configuration error."""
    try:
        percent = int(value.strip())
    except ValueError:
        raise ValueError(f"{name}={value!r}: expected an integer percent 0..100") from None
    if not 0 <= percent <= 100:
        raise ValueError(f"{name}={value!r}: expected an integer percent 0..100")
    return percent


def rollout_bucket(flag: str, user_id: str) -> int:
    """The user's bucket 0..99 for `flag`.

    The flag name is part of the hashed key so that the 10 % of users who get
    one flag are not always the same 10 % who get every other flag.
    """
    digest = hashlib.sha256(f"{flag}\x00{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


@dataclass(frozen=True)
class Flag:
    """One flag resolved from the env: its switch and its rollout percent."""

    name: str
    enabled: bool
    rollout: int

    def applies_to(self, user_id: str) -> bool:
        """Whether this flag is on for `user_id`."""
        return self.enabled and rollout_bucket(self.name, user_id) < self.rollout

    @classmethod
    def from_env(cls, name: str, environ: Mapping[str, str]) -> "Flag":
        """Resolve flag `name` (an env suffix such as ``RESPONSE_CACHING``) from the three families."""
        switches = [
            parse_bool(prefix + name, environ[prefix + name])
            for prefix in SWITCH_PREFIXES
            if prefix + name in environ
        ]
        rollout_env = ROLLOUT_PREFIX + name
        rollout = parse_percent(rollout_env, environ[rollout_env]) if rollout_env in environ else None
        if not switches and rollout is None:
            return cls(name, enabled=False, rollout=0)
        return cls(name, enabled=all(switches), rollout=BUCKETS if rollout is None else rollout)


@dataclass(frozen=True)
class FeatureFlags:
    """The optimisation flags of this instance and the kill switch."""

    flags: Mapping[Optimization, Flag]
    disable_all: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "FeatureFlags":
        """The known optimisation flags and ``DISABLE_ALL_OPTIMIZATIONS``; ValueError on bad values."""
        disable_all = (
            parse_bool(DISABLE_ALL_ENV, environ[DISABLE_ALL_ENV]) if DISABLE_ALL_ENV in environ else False
        )
        return cls(
            flags={opt: Flag.from_env(opt.value, environ) for opt in Optimization},
            disable_all=disable_all,
        )

    def active_for(self, user_id: str) -> frozenset[Optimization]:
        """The optimisations that apply to `user_id`'s requests."""
        if self.disable_all:
            return frozenset()
        return frozenset(opt for opt, flag in self.flags.items() if flag.applies_to(user_id))
