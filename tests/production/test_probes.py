"""Kubernetes probes and shutdown: what restarts a pod, what takes it out of rotation, how it stops."""

from typing import Any

import pytest

from components.redis.component import data_node_ready_check, ping_check
from infra.loader import ConfigError
from infra.mockrun import ProgramRun
from tests.conftest import run_stack

STATEFULSET = "kubernetes:apps/v1:StatefulSet"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def pod(run: ProgramRun, type_: str, name: str) -> dict[str, Any]:
    return run.get(type_, name).inputs["spec"]["template"]["spec"]


def container(run: ProgramRun, type_: str, name: str) -> dict[str, Any]:
    (only,) = pod(run, type_, name)["containers"]
    return only


def probe_paths(run: ProgramRun, type_: str, name: str) -> dict[str, str]:
    spec = container(run, type_, name)
    return {
        kind: spec[f"{kind}Probe"]["httpGet"]["path"]
        for kind in ("liveness", "readiness", "startup")
        if f"{kind}Probe" in spec
    }


def test_prometheus_is_live_while_healthy_and_ready_once_its_tsdb_is_loaded(production: ProgramRun) -> None:
    assert probe_paths(production, STATEFULSET, "prometheus") == {
        "liveness": "/-/healthy",
        "readiness": "/-/ready",
    }


def test_alertmanager_is_live_while_healthy_and_ready_when_it_says_so(production: ProgramRun) -> None:
    assert probe_paths(production, STATEFULSET, "alertmanager") == {
        "liveness": "/-/healthy",
        "readiness": "/-/ready",
    }


def test_redis_data_nodes_are_ready_only_while_replicating_and_live_while_they_answer(
    production: ProgramRun,
) -> None:
    # tests/ha runs these same commands against redis-server to gate its StatefulSet-order roll.
    spec = container(production, STATEFULSET, "redis")
    readiness, liveness = spec["readinessProbe"]["exec"]["command"], spec["livenessProbe"]["exec"]["command"]
    assert readiness == list(data_node_ready_check(6379).command)
    assert "master_link_status:up" in readiness[-1]
    # A replica that lost its master must not be restarted for it: liveness is PING alone.
    assert liveness == list(ping_check(6379).command)
    assert "master_link" not in liveness[-1]


def test_app_liveness_asks_health_path_and_readiness_asks_ready_path(production: ProgramRun) -> None:
    for track in ("api-stable", "api-canary"):
        assert probe_paths(production, DEPLOYMENT, track) == {
            "liveness": "/health",
            "readiness": "/ready",
            "startup": "/health",
        }


def test_app_readiness_follows_ready_path() -> None:
    run = run_stack("production", overrides={"services.api.readyPath": "/healthz/ready"})
    assert probe_paths(run, DEPLOYMENT, "api-stable")["readiness"] == "/healthz/ready"


def test_app_startup_probe_allows_startup_seconds_before_liveness_counts() -> None:
    run = run_stack("production", overrides={"services.api.startupSeconds": 300})
    startup = container(run, DEPLOYMENT, "api-stable")["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    assert startup["periodSeconds"] * (startup["failureThreshold"] - 1) < 300


def test_app_sleeps_drain_seconds_before_sigterm(production: ProgramRun) -> None:
    for track in ("api-stable", "api-canary"):
        assert container(production, DEPLOYMENT, track)["lifecycle"] == {
            "preStop": {"sleep": {"seconds": 10}}
        }


def test_app_grace_period_leaves_time_to_shut_down_after_the_drain(production: ProgramRun) -> None:
    assert pod(production, DEPLOYMENT, "api-stable")["terminationGracePeriodSeconds"] == 10 + 30


def test_drain_seconds_zero_stops_the_app_at_once() -> None:
    run = run_stack("production", overrides={"services.api.drainSeconds": 0})
    assert "lifecycle" not in container(run, DEPLOYMENT, "api-stable")
    assert "terminationGracePeriodSeconds" not in pod(run, DEPLOYMENT, "api-stable")


def test_drain_seconds_above_five_minutes_is_refused_with_its_key() -> None:
    # Likely milliseconds by mistake; every rollout would wait that long per pod.
    with pytest.raises(ConfigError) as error:
        run_stack("production", overrides={"services.api.drainSeconds": 10000})
    assert "perfstack:services.api.drainSeconds: Input should be less than or equal to 300" in (
        error.value.problems
    )
