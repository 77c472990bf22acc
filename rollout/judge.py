"""The judge: config, when the current step began, and both tracks' samples -> one decision.

A pure function with no state of its own: the same inputs always give the same
decision, so a judge that dies or runs twice changes nothing. Its only state is
the stack file (the canary's weight) and that file's history (when the weight
was set); its only action is the one-line change an operator would make.

The order of a verdict:

1. nothing to judge (no canary, kill switch, weight 0, neither track in Prometheus): hold;
2. critical checks (canary routed but no instance up or no requests reaching
   it; absolute thresholds; canary worse than stable): roll back to 0, never frozen;
3. warning checks: step back by 25 points and hold there, never frozen;
4. too few requests for a verdict: hold as inconclusive;
5. stepped back to a weight that is not a step: hold for a person;
6. soaking, paused or frozen: hold, saying until when;
7. at 100 % complete;
8. an error budget below `rollout.minErrorBudget` (or unknown): hold;
9. promote to the next step.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from components.app.rollout import RolloutConfig
from components.app.settings import ServiceConfig
from components.platform.settings import duration_seconds
from components.prometheus.alerts import AlertsConfig
from rollout.checks import (
    STEP_BACK_POINTS,
    CheckResult,
    Status,
    absolute_checks,
    availability_checks,
    budget_checks,
    comparison_checks,
    tier_thresholds,
)
from rollout.samples import ServiceSamples


class Action(StrEnum):
    """What the judge decides for a service."""

    PROMOTE = "promote"
    HOLD = "hold"
    STEP_BACK = "step_back"
    ROLLBACK = "rollback"
    COMPLETE = "complete"


@dataclass(frozen=True)
class StepHistory:
    """When the canary's current weight (with its current version) took effect, from the history."""

    started_at: datetime
    """When the current step began."""
    previous_weight: int | None = None
    """The weight before it (None: the canary is new); higher means the judge or a person stepped back."""


@dataclass(frozen=True)
class Subject:
    """What a service's rollout walks through its steps: the canary's weight, or a flag on the canary."""

    path: tuple[str, ...]
    """Its config key under `services.<name>`: ("canary", "weight") or
    ("features", flag, "canary", "rollout")."""
    value: int
    """Its value now (a flag that is off on the canary: 0)."""
    flag: str | None = None


def subject_of(service: ServiceConfig) -> Subject:
    """The subject of the service's rollout (`rollout.flag`, else the canary's weight; 0 without a canary)."""
    flag = service.rollout.flag
    if flag is not None:
        value = service.features[flag].for_track("canary").rollout if service.canary is not None else 0
        return Subject(("features", flag, "canary", "rollout"), value, flag)
    return Subject(("canary", "weight"), 0 if service.canary is None else service.canary.weight)


@dataclass(frozen=True)
class Decision:
    """The judge's verdict on one service."""

    service: str
    action: Action
    weight: int
    """The value the rollout walks, now: the canary's weight, or with `rollout.flag` the flag's share of
    canary users (`key` names which)."""
    next_weight: int
    """That value after the action (the same as `weight` for hold and complete)."""
    key: str
    """The config key the action changes, e.g. `services.api.canary.weight`."""
    reason: str
    """Why, in one sentence with the numbers."""
    checks: tuple[CheckResult, ...] = ()
    at: datetime | None = None
    """The moment the samples describe."""
    step_started: datetime | None = None
    eligible_at: datetime | None = None
    """When the current step's soak ends (promotion is possible from then on)."""

    @property
    def changes_config(self) -> bool:
        """Whether `apply` has a line to write."""
        return self.next_weight != self.weight

    def to_json(self) -> dict[str, Any]:
        """The `--json` object of this decision."""

        def iso(moment: datetime | None) -> str | None:
            return None if moment is None else moment.isoformat().replace("+00:00", "Z")

        return {
            "service": self.service,
            "action": str(self.action),
            "weight": self.weight,
            "next_weight": self.next_weight,
            "key": f"perfstack:{self.key}",
            "reason": self.reason,
            "at": iso(self.at),
            "step_started": iso(self.step_started),
            "eligible_at": iso(self.eligible_at),
            "checks": [check.to_json() for check in self.checks],
        }


def next_step(settings: RolloutConfig, weight: int) -> int:
    """The first step above `weight` (100 once there)."""
    return next((w for w in settings.weights if w > weight), 100)


def soak_of(settings: RolloutConfig, weight: int) -> timedelta:
    """How long `weight` must hold: its step's soak (a weight set by hand: the step below, or the first)."""
    at_or_below = [step for step in settings.steps if step.weight <= weight]
    step = at_or_below[-1] if at_or_below else settings.steps[0]
    return timedelta(seconds=duration_seconds(step.soak))


def _failures(checks: list[CheckResult], tier: str) -> list[CheckResult]:
    return [c for c in checks if c.failed and c.tier == tier]


def _listed(checks: list[CheckResult]) -> str:
    return "; ".join(c.describe() for c in checks)


def judge(
    name: str,
    service: ServiceConfig,
    alerts: AlertsConfig,
    kill_switch: bool,
    now: datetime,
    step: StepHistory | None,
    samples: ServiceSamples,
) -> Decision:
    """The decision for service `name` at `now` (see the module docstring for the order)."""
    settings = service.rollout
    canary = service.canary
    subject = subject_of(service)
    key = ".".join(("services", name, *subject.path))
    weight = subject.value
    traffic = 0 if canary is None else canary.weight
    started = None if step is None else step.started_at

    def decide(action: Action, next_weight: int, reason: str, **extra: Any) -> Decision:
        return Decision(name, action, weight, next_weight, key, reason, tuple(checks), now, started, **extra)

    checks: list[CheckResult] = []
    if canary is None:
        return decide(Action.HOLD, 0, "no canary track: nothing to roll out")
    if kill_switch:
        return decide(Action.HOLD, weight, "killSwitch is on: every canary gets no traffic; nothing to judge")
    if traffic == 0 and subject.flag is not None:
        return decide(
            Action.HOLD,
            weight,
            f"flag {subject.flag} rolls out on the canary track, which gets no users (canary.weight 0)",
        )
    if weight == 0:
        start = (
            f"setting services.{name}.features.{subject.flag}.canary to {{enabled: true, rollout: "
            f"{settings.weights[0]}}}"
            if subject.flag is not None
            else f"setting {key} to the first step, {settings.weights[0]}"
        )
        return decide(
            Action.HOLD, 0, f"{key} is 0 (rolled back or not started): a person starts the rollout by {start}"
        )

    if samples.stable is None and samples.canary is None:
        # Neither track: the wrong Prometheus, or one that scrapes nothing of this stack. Rolling
        # back on that would be a rollback on no data.
        return decide(
            Action.HOLD,
            weight,
            f"inconclusive: Prometheus holds no series of service {name!r} on either track; "
            "is it this stack's Prometheus?",
        )
    checks += availability_checks(traffic, samples, settings.min_requests)
    if samples.canary is not None and samples.canary.instances_up > 0:
        for tier in ("critical", "warning"):
            limits = tier_thresholds(tier, getattr(settings.checks, tier), alerts)
            checks += absolute_checks(tier, limits, samples.canary, settings.min_requests)
        checks += comparison_checks(settings, alerts, traffic, samples)
    checks += budget_checks(settings.min_error_budget, samples.budgets)

    critical = _failures(checks, "critical")
    if critical:
        return decide(Action.ROLLBACK, 0, f"failed: {_listed(critical)}")
    warning = _failures(checks, "warning")
    if warning:
        lower = max(weight - STEP_BACK_POINTS, 0)
        return decide(
            Action.STEP_BACK, lower, f"failed: {_listed(warning)}; stepping back {weight} -> {lower}"
        )
    inconclusive = [c for c in checks if c.status is Status.INCONCLUSIVE and c.tier != "promotion"]
    if inconclusive:
        requests = 0 if samples.canary is None else samples.canary.requests
        return decide(
            Action.HOLD,
            weight,
            f"inconclusive: fewer than {settings.min_requests} user requests in the last {settings.interval} "
            f"(canary {requests:.0f}); no verdict on too little data",
        )

    if step is None:
        return decide(Action.HOLD, weight, "checks pass, but when this step began is unknown: hold")
    if step.previous_weight is not None and step.previous_weight > weight and weight not in settings.weights:
        return decide(
            Action.HOLD,
            weight,
            f"checks pass; stepped back from {step.previous_weight}: a person resumes the rollout by "
            f"setting the weight to a step ({', '.join(map(str, settings.weights))})",
        )
    eligible = step.started_at + soak_of(settings, weight)
    if now < eligible:
        return decide(
            Action.HOLD, weight, f"checks pass; soaking at {weight} % until {eligible:%Y-%m-%d %H:%M:%S}Z",
            eligible_at=eligible,
        )  # fmt: skip
    if settings.paused:
        return decide(Action.HOLD, weight, "checks pass; rollout.paused is true", eligible_at=eligible)
    for window in settings.freeze:
        if window.contains(now):
            until = window.ends_after(now)
            why = f" ({window.reason})" if window.reason else ""
            return decide(
                Action.HOLD, weight, f"checks pass; frozen until {until:%Y-%m-%d %H:%M}Z{why}",
                eligible_at=eligible,
            )  # fmt: skip
    if weight >= 100:
        done = (
            f"turn flag {subject.flag} on for both tracks (features.{subject.flag}.enabled: true, "
            "rollout: 100) and drop its canary override"
            if subject.flag is not None
            else f"make {canary.version} the stable version (services.{name}.stable.version) "
            "and remove the canary"
        )
        return decide(
            Action.COMPLETE,
            weight,
            f"checks pass at 100 % after the soak: {done}, in a reviewed change",
            eligible_at=eligible,
        )
    budget = [c for c in checks if c.tier == "promotion" and c.status is not Status.PASS]
    if budget:
        return decide(
            Action.HOLD,
            weight,
            f"checks pass; promotion waits for the error budget: {_listed(budget)}",
            eligible_at=eligible,
        )
    target = next_step(settings, weight)
    return decide(
        Action.PROMOTE, target, f"checks pass after the soak: {weight} -> {target}", eligible_at=eligible
    )
