"""``services.<name>.rollout``: how the canary's traffic weight is walked up, held and rolled back.

The settings of the rollout judge (``python -m rollout``, docs/rollout.md).
Nothing here changes a deployed resource: the judge reads them, and its only
output is a one-line change of ``services.<name>.canary.weight``.

Thresholds left unset are the alert catalog's (``perfstack:alerts``), so the
judge, the alert rules and the dashboards share one definition.
"""

import re
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from components.platform.settings import ConfigModel, PromDuration, Ratio, duration_seconds

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
"""A day of the week, as `freeze[].days` names it."""

WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Monday first, as `datetime.weekday()` counts."""

_TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


def _time_of_day(value: str) -> str:
    if not _TIME_OF_DAY.match(value):
        raise ValueError(f"{value!r} is not a time of day in UTC such as '16:00' ('00:00' to '24:00')")
    return value


def _timestamp_text(value: Any) -> Any:
    # YAML reads an unquoted 2026-12-24T00:00:00Z as a timestamp: take it as the text it was.
    return value.isoformat() if isinstance(value, datetime) else value


def _timestamp(value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ValueError(f"{value!r} is not an RFC 3339 time with a zone such as '2026-12-24T00:00:00Z'")
    return value


TimeOfDay = Annotated[str, AfterValidator(_time_of_day)]
"""'HH:MM' in UTC; '24:00' is the end of the day."""

Timestamp = Annotated[str, BeforeValidator(_timestamp_text), AfterValidator(_timestamp)]
"""An RFC 3339 time with a zone, e.g. '2026-12-24T00:00:00Z'."""


def parse_timestamp(value: str) -> datetime:
    """A validated `Timestamp` as an aware datetime in UTC."""
    return datetime.fromisoformat(value).astimezone(UTC)


def minutes_of_day(value: str) -> int:
    """Minutes since midnight of a validated `TimeOfDay` ('24:00' is 1440)."""
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


class FreezeWindow(ConfigModel):
    """A time in which promotion waits: weekly (`days`, `start`, `end`) or once (`since`, `until`).

    Rolling back and stepping back are never frozen: a failing canary is taken
    out whatever the calendar says.
    """

    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS))
    """Weekly window: the days (UTC) it applies on, e.g. `[fri, sat, sun]`; default every day."""
    start: TimeOfDay | None = None
    """Weekly window: when it starts on each of `days`, 'HH:MM' UTC."""
    end: TimeOfDay | None = None
    """Weekly window: when it ends on the same day, 'HH:MM' UTC after `start` ('24:00': midnight)."""
    since: Timestamp | None = None
    """One-off window: its first moment, RFC 3339 (e.g. '2026-12-24T00:00:00Z'; quote it in YAML)."""
    until: Timestamp | None = None
    """One-off window: its end, RFC 3339, after `since`."""
    reason: str = ""
    """Why promotion waits; the judge's verdict quotes it."""

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        weekly = self.start is not None or self.end is not None
        once = self.since is not None or self.until is not None
        if weekly == once:
            raise ValueError(
                "start: give either `start` and `end` (a weekly window, 'HH:MM' UTC on `days`) "
                "or `since` and `until` (a one-off window, RFC 3339)"
            )
        if weekly:
            if self.start is None or self.end is None:
                raise ValueError("end: a weekly window needs both `start` and `end`")
            if minutes_of_day(self.start) >= minutes_of_day(self.end):
                raise ValueError(
                    f"end: {self.end!r} is not after start {self.start!r}; a window over midnight "
                    "is two windows (… to '24:00' and '00:00' to …)"
                )
            if not self.days:
                raise ValueError("days: name at least one day")
        else:
            if self.since is None or self.until is None:
                raise ValueError("until: a one-off window needs both `since` and `until`")
            if parse_timestamp(self.since) >= parse_timestamp(self.until):
                raise ValueError(f"until: {self.until!r} is not after since {self.since!r}")
        return self

    def contains(self, moment: datetime) -> bool:
        """Whether `moment` (aware) falls in this window (start included, end excluded)."""
        moment = moment.astimezone(UTC)
        if self.since is not None and self.until is not None:
            return parse_timestamp(self.since) <= moment < parse_timestamp(self.until)
        assert self.start is not None and self.end is not None
        minute = moment.hour * 60 + moment.minute
        return WEEKDAYS[moment.weekday()] in self.days and minutes_of_day(
            self.start
        ) <= minute < minutes_of_day(self.end)

    def ends_after(self, moment: datetime) -> datetime:
        """When this window, which contains `moment`, ends."""
        moment = moment.astimezone(UTC)
        if self.until is not None:
            return parse_timestamp(self.until)
        assert self.end is not None
        midnight = datetime.combine(moment.date(), time(0), UTC)
        return midnight + timedelta(minutes=minutes_of_day(self.end))


class RolloutStep(ConfigModel):
    """One step of the rollout: the canary's weight, and how long it must stay healthy there."""

    weight: Annotated[int, Field(ge=1, le=100, strict=True)]
    """Percent of users on the canary at this step (with `flag`: percent of the canary's users that
    get the flag)."""
    soak: PromDuration
    """How long the canary must have been at this weight, with every check passing, before the
    judge promotes it (or, at 100, completes the rollout). At least `interval`, so that the
    analysis window holds only this step's traffic."""


def _default_steps() -> list[RolloutStep]:
    # Deployment guide, phase 3: 10 % for 5 minutes, 50 % for 10 minutes, then 100 %;
    # at 100 % one more analysis window before the rollout counts as complete.
    return [
        RolloutStep(weight=10, soak="5m"),
        RolloutStep(weight=50, soak="10m"),
        RolloutStep(weight=100, soak="5m"),
    ]


class TierThresholds(ConfigModel):
    """The absolute checks of one tier on the canary; a threshold left unset is the alert catalog's."""

    error_rate: Ratio | None = None
    """Share of 5xx responses above which the check fails (default: `alerts.errorRateCritical` for
    the critical tier, `alerts.errorRateWarning` for the warning tier)."""
    p95_ms: float | None = Field(default=None, gt=0)
    """P95 latency (ms) above which the check fails (default: `alerts.p95CriticalMs` /
    `alerts.p95WarningMs`)."""
    quality: Ratio | None = None
    """Average quality score below which the check fails (default: `alerts.qualityCritical` /
    `alerts.qualityWarning`)."""
    cache_hit_ratio: Ratio | None = None
    """Cache hit ratio below which the check fails (default: critical tier `alerts.cacheHitRateLow`,
    the runbook's "cache hit ratio drops below 20 %" rollback trigger; none in the warning tier)."""
    tokens_per_request: float | None = Field(default=None, gt=0)
    """LLM tokens per request above which the check fails (default: warning tier
    `alerts.tokenBaselinePerRequest` x `alerts.tokenIncreaseFactor`; none in the critical tier)."""


class Comparison(ConfigModel):
    """Canary against stable in the same window: fails when the canary is worse by more than a margin,
    with the confidence of a one-sided statistical test (critical tier, as the catalog's
    `CanaryErrorRateAboveStable` and `CanaryLatencyAboveStable`)."""

    error_rate_margin: Ratio | None = None
    """Percentage points (0.02 = 2) the canary's 5xx share may exceed stable's (default
    `alerts.canaryErrorRateMargin`). Tested with a one-sided two-proportion z-test."""
    latency_margin: float | None = Field(default=None, gt=0)
    """Fraction (0.20 = 20 %) the canary's P95 may exceed stable's (default
    `alerts.canaryLatencyMargin`). The P95s are compared, and a one-sided Mann-Whitney U test on the
    latency histograms' buckets must show the canary slower."""
    confidence: float = Field(default=0.99, ge=0.5, lt=1)
    """Confidence a comparison needs before it fails the canary: the test's p-value must be below
    1 - confidence. 0.99 rather than the textbook 0.95 because the judge tests again at every run,
    and requests of one user are not independent (sticky routing, per-user flags): on the e2e
    harness 13 % of healthy analyses had p < 0.05. Set `--type float` with `pulumi config set`."""


class RolloutChecks(ConfigModel):
    """The checks of every analysis, in two tiers (deployment guide's automated rollback triggers):
    a critical failure rolls back to weight 0 at once, a warning steps back by 25 points and holds."""

    critical: TierThresholds = Field(default_factory=TierThresholds)
    """Thresholds whose breach rolls the canary back to weight 0."""
    warning: TierThresholds = Field(default_factory=TierThresholds)
    """Thresholds whose breach steps the canary's weight down by 25 points and holds it there."""
    compare: Comparison = Field(default_factory=Comparison)
    """Canary against stable (critical tier)."""


class RolloutConfig(ConfigModel):
    """How `python -m rollout` walks this service's canary through its steps (docs/rollout.md).

    At the last step (100 %), once soaked and healthy, the judge answers `complete` and changes
    nothing: a person makes the canary the new stable (`stable.version` = the canary's version, then
    the canary removed). That change is not one line, it restarts every stable instance, and it is
    the point of no return for the old build, so it is a reviewed change, never an automatic one.
    """

    steps: list[RolloutStep] = Field(default_factory=_default_steps)
    """Canary weights to walk through, rising, each with its soak time (default: the deployment guide's
    10 % for 5m, 50 % for 10m, then 100 %, held 5m). A weight that is not a step (set by hand) is
    promoted to the next step after the soak of the step below it, unless it was reached by lowering
    the weight (a step back): that holds until a person sets a step. The last step is 100: once it
    has soaked with every check passing the judge answers `complete` and writes nothing; a person
    then makes the canary the stable version and removes the canary, because that change is more
    than one line, restarts every stable instance and retires the old build, so it is reviewed,
    never automatic."""
    interval: PromDuration = "5m"
    """The analysis window: every check reads this much of the recent past. At least 4 scrapes, at
    most the shortest soak."""
    min_requests: Annotated[int, Field(ge=1, strict=True)] = 100
    """User requests each track needs in the window before any verdict. Below it the judge holds as
    inconclusive: it never promotes and never rolls back on too little data (stable is only needed
    for the comparisons)."""
    checks: RolloutChecks = Field(default_factory=RolloutChecks)
    """Absolute and comparative checks in two tiers; unset thresholds are the alert catalog's."""
    freeze: list[FreezeWindow] = Field(default_factory=list)
    """Windows in which promotion waits (e.g. `{days: [fri], start: '15:00', end: '24:00'}`);
    rollback and step back are never frozen."""
    flag: str | None = None
    """Roll out this feature flag instead of the canary's traffic: the judge walks the flag's share of
    canary users, `features.<flag>.canary.rollout`, through `steps` (the deployment guide's flag
    phases: `[{weight: 5, ...}, {weight: 25, ...}, {weight: 100, ...}]` for internal, beta, general),
    judging the canary track against stable with the same checks. The canary's weight stays as
    set (it must be above 0). At 100 the judge answers `complete`: a person then turns the flag on
    for both tracks (`features.<flag>.enabled: true`, `rollout: 100`) and drops its canary override."""
    paused: bool = False
    """Stop promoting this service's canary (the checks still run, and a failing canary is still
    rolled back); `false` resumes."""
    min_error_budget: Ratio = 0.0
    """With `slo` set: a promotion waits while the remaining error budget of any objective, over the
    SLO's window, is below this share (0.25: hold once three quarters are spent). The default 0 is the
    SRE workbook's policy: a spent budget stops releases until it recovers. Rollbacks and steps back
    never wait for it; an unknown budget (no requests in the window) holds too."""

    @model_validator(mode="after")
    def _steps_walk_up_to_100(self) -> Self:
        weights = [step.weight for step in self.steps]
        if not weights or weights[-1] != 100:
            raise ValueError(f"steps: the last step must have weight 100, not {weights[-1:] or 'none'}")
        if any(b <= a for a, b in pairwise(weights)):
            raise ValueError(f"steps: weights must rise step by step, got {weights}")
        interval = duration_seconds(self.interval)
        for index, step in enumerate(self.steps):
            if duration_seconds(step.soak) < interval:
                raise ValueError(
                    f"steps: the soak of step {index + 1} ({step.soak}) is shorter than interval "
                    f"{self.interval}: "
                    "the analysis window would still hold the previous step's traffic"
                )
        return self

    @property
    def weights(self) -> tuple[int, ...]:
        """The steps' weights, rising."""
        return tuple(step.weight for step in self.steps)
