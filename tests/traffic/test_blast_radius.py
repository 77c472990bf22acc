"""One config line changes only the resources it has to (compared over the mock resource graph)."""

from typing import Any

import pytest

from infra.mockrun import ProgramRun
from tests.conftest import run_stack

CONTAINER = "docker:index/container:Container"
IMAGE = "docker:index/remoteImage:RemoteImage"
BUILT_IMAGE = "docker:index/image:Image"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
HTTPROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
# On Docker the router's config is a live file: a weight change, or a replaced app container (whose
# generated name the config lists), replaces only its one-shot writer, never the router container.
ROUTER_CONFIG = (CONTAINER, "router-config-writer")


def changed(before: ProgramRun, after: ProgramRun) -> set[tuple[str, str]]:
    """Resources added, removed or with different inputs (components excluded)."""
    old = {(r.type, r.name): r.inputs for r in before.resources if r.custom}
    new = {(r.type, r.name): r.inputs for r in after.resources if r.custom}
    return {key for key in old.keys() | new.keys() if old.get(key) != new.get(key)}


@pytest.fixture(scope="module")
def baseline() -> dict[str, ProgramRun]:
    return {stack: run_stack(stack) for stack in ("dev", "staging", "production")}


CASES: list[tuple[str, dict[str, Any], dict[str, set[tuple[str, str]]]]] = [
    (
        "canary weight change",
        {"services.api.canary.weight": 50},
        {"staging": {ROUTER_CONFIG}, "production": {(HTTPROUTE, "api-route")}},
    ),
    (
        "canary rollback to weight 0",
        {"services.api.canary.weight": 0},
        {"staging": {ROUTER_CONFIG}, "production": {(HTTPROUTE, "api-route")}},
    ),
    (
        "canary stepped back by the rollout judge",
        {"services.api.canary.weight": 75},
        {"staging": {ROUTER_CONFIG}, "production": {(HTTPROUTE, "api-route")}},
    ),
    # The judge's settings are read by `python -m rollout` alone.
    ("rollout paused", {"services.api.rollout.paused": True}, {"staging": set(), "production": set()}),
    (
        "rollout steps changed",
        {"services.api.rollout.steps": [{"weight": 25, "soak": "10m"}, {"weight": 100, "soak": "10m"}]},
        {"staging": set(), "production": set()},
    ),
    (
        "rollout error budget floor",
        {"services.api.rollout.minErrorBudget": 0.5},
        {"staging": set(), "production": set()},
    ),
    # Objectives are Prometheus' rules and Grafana's SLO dashboard: never the app or the router.
    (
        "service level objective changed",
        {
            "services.api.slo": {
                "window": "2d",
                "availability": {"objective": 0.99},
                "burnRateAlerts": [
                    {"longWindow": "1h", "shortWindow": "5m", "burnRate": 14.4, "severity": "page"}
                ],
            }
        },
        {
            "staging": {(CONTAINER, "prometheus"), (CONTAINER, "grafana")},
            "production": {
                (CONFIG_MAP, "prometheus-config"),
                (STATEFUL_SET, "prometheus"),
                (CONFIG_MAP, "grafana-config"),
                (DEPLOYMENT, "grafana"),
            },
        },
    ),
    (
        "kill switch",
        {"killSwitch": True},
        {
            "staging": {(CONTAINER, "api-stable"), (CONTAINER, "api-canary"), ROUTER_CONFIG},
            "production": {(DEPLOYMENT, "api-stable"), (DEPLOYMENT, "api-canary"), (HTTPROUTE, "api-route")},
        },
    ),
    (
        "feature flag off",
        {"services.api.features.apiCaching.enabled": False},
        {
            "staging": {(CONTAINER, "api-stable"), (CONTAINER, "api-canary"), ROUTER_CONFIG},
            "production": {(DEPLOYMENT, "api-stable"), (DEPLOYMENT, "api-canary")},
        },
    ),
    (
        "feature rollout change",
        {"services.api.features.apiCaching.rollout": 0},
        {
            "staging": {(CONTAINER, "api-stable"), (CONTAINER, "api-canary"), ROUTER_CONFIG},
            "production": {(DEPLOYMENT, "api-stable"), (DEPLOYMENT, "api-canary")},
        },
    ),
    (
        "stable version rollback",
        {"services.api.stable.version": "1.4.1"},
        {
            "staging": {(IMAGE, "api-stable-image"), (CONTAINER, "api-stable"), ROUTER_CONFIG},
            "production": {(DEPLOYMENT, "api-stable")},
            # The dev stack builds the version locally; the load generator has its own tag.
            "dev": {(BUILT_IMAGE, "api-stable-image"), (CONTAINER, "api-stable"), ROUTER_CONFIG},
        },
    ),
]
for _, _, expected in CASES:
    # The dev stack is the staging stack plus local builds and a load generator.
    expected.setdefault("dev", expected["staging"])


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
@pytest.mark.parametrize(("overrides", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_config_line_changes_exactly_the_expected_resources(
    baseline: dict[str, ProgramRun],
    stack: str,
    overrides: dict[str, Any],
    expected: dict[str, set[tuple[str, str]]],
) -> None:
    after = run_stack(stack, overrides=overrides)
    assert changed(baseline[stack], after) == expected[stack]


def test_the_same_config_changes_nothing(baseline: dict[str, ProgramRun]) -> None:
    assert changed(baseline["production"], run_stack("production")) == set()


def test_httproute_weights_equal_the_configured_weights(baseline: dict[str, ProgramRun]) -> None:
    route = baseline["production"].get(HTTPROUTE, "api-route")
    backends = route.inputs["spec"]["rules"][0]["backendRefs"]
    assert [(b["name"], b["weight"]) for b in backends] == [("api-stable", 90), ("api-canary", 10)]


def test_httproute_has_one_backend_without_a_canary() -> None:
    run = run_stack("production", overrides={"services.api.canary": None})
    backends = run.get(HTTPROUTE, "api-route").inputs["spec"]["rules"][0]["backendRefs"]
    assert [b["name"] for b in backends] == ["api-stable"]
    assert not [r for r in run.resources if "canary" in r.name]


def test_kill_switch_sends_all_traffic_to_stable(baseline: dict[str, ProgramRun]) -> None:
    run = run_stack("production", overrides={"killSwitch": True})
    backends = run.get(HTTPROUTE, "api-route").inputs["spec"]["rules"][0]["backendRefs"]
    assert {b["name"]: b["weight"] for b in backends} == {"api-stable": 100, "api-canary": 0}


def test_kill_switch_turns_every_flag_off_in_every_track() -> None:
    run = run_stack("production", overrides={"killSwitch": True})
    for track in ("api-stable", "api-canary"):
        env = {
            e["name"]: e["value"]
            for e in run.get(DEPLOYMENT, track).inputs["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        assert env["DISABLE_ALL_OPTIMIZATIONS"] == "true"
        assert {v for k, v in env.items() if k.startswith("FEATURE_")} == {"false"}
        assert {v for k, v in env.items() if k.startswith("FF_")} == {"0"}


def test_canary_only_flag_is_on_in_the_canary_alone(baseline: dict[str, ProgramRun]) -> None:
    def env(track: str) -> dict[str, str]:
        container = (
            baseline["production"].get(DEPLOYMENT, track).inputs["spec"]["template"]["spec"]["containers"][0]
        )
        return {e["name"]: e["value"] for e in container["env"]}

    assert env("api-stable")["FEATURE_PROMPT_OPTIMIZATION"] == "false"
    assert env("api-canary")["FEATURE_PROMPT_OPTIMIZATION"] == "true"


def test_worker_without_route_gets_tracks_but_no_route() -> None:
    worker = {"image": "ghcr.io/example/worker", "stable": {"version": "2.0.0", "replicas": 2}}
    run = run_stack("production", overrides={"services.worker": worker})
    assert run.get(DEPLOYMENT, "worker-stable")
    assert [r.name for r in run.of_type(HTTPROUTE)] == ["api-route"]
