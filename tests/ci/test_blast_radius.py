"""blast_radius.py: an update skips the reviewers only when the preview proves it a rollout step."""

import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.ci.helpers import load_script

radius = load_script("blast_radius")

STACK = "urn:pulumi:production::perfstack::pulumi:pulumi:Stack$"
ROUTE = f"{STACK}perfstack:traffic:Router$kubernetes:gateway.networking.k8s.io/v1:HTTPRoute::api-route"
ROUTER_CONTAINER = f"{STACK}perfstack:traffic:Router$docker:index/container:Container::router"
CANARY = f"{STACK}perfstack:app:Service$kubernetes:apps/v1:Deployment::api-canary"
CANARY_CONTAINER = f"{STACK}perfstack:app:Service$docker:index/container:Container::api-canary"
REDIS = f"{STACK}perfstack:cache:Redis$kubernetes:apps/v1:StatefulSet::redis"


def step(op: str, urn: str, *diff: str) -> dict[str, Any]:
    return {"op": op, "urn": urn, "detailedDiff": {key: {"kind": "update"} for key in diff} or None}


WEIGHT = step("update", ROUTE, "spec.rules[0].backendRefs[1].weight", "spec.rules[0].backendRefs[0].weight")
KILL_SWITCH_ENV = step("update", CANARY, "spec.template.spec.containers[0].env[3].value")


def test_a_canary_weight_on_kubernetes_is_proven_harmless() -> None:
    assert radius.findings({"steps": [step("same", REDIS), WEIGHT]}) == []


def test_the_kill_switch_route_and_env_changes_are_proven_harmless() -> None:
    assert radius.findings({"steps": [WEIGHT, KILL_SWITCH_ENV]}) == []


def test_a_docker_router_replaced_for_its_nginx_conf_is_proven_harmless() -> None:
    steps = [
        step("create-replacement", ROUTER_CONTAINER, "uploads[0].content"),
        step("replace", ROUTER_CONTAINER, "uploads[0].content"),
        step("delete-replaced", ROUTER_CONTAINER),
    ]

    assert radius.findings({"steps": steps}) == []


def test_a_docker_app_container_replaced_for_its_env_is_proven_harmless() -> None:
    assert radius.findings({"steps": [step("replace", CANARY_CONTAINER, "envs[2]")]}) == []


def test_a_new_canary_image_is_not_a_rollout_step() -> None:
    (found,) = radius.findings({"steps": [step("update", CANARY, "spec.template.spec.containers[0].image")]})

    assert found.why == "changes spec.template.spec.containers[0].image"


def test_a_change_outside_the_router_and_the_apps_is_not_a_rollout_step() -> None:
    (found,) = radius.findings({"steps": [WEIGHT, step("update", REDIS, "spec.replicas")]})

    assert found.why == "belongs to neither the router nor an app service"


def test_an_update_without_a_detailed_diff_is_not_proven() -> None:
    (found,) = radius.findings({"steps": [step("update", ROUTE)]})

    assert found.why == "the preview gives no detailed diff to check"


@pytest.mark.parametrize("op", ["create", "delete"])
def test_creating_or_deleting_anything_is_not_a_rollout_step(op: str) -> None:
    assert radius.findings({"steps": [step(op, ROUTE)]})


@pytest.mark.parametrize(
    ("stack", "requested", "harmless", "needed"),
    [
        ("production", False, True, True),  # a deploy always waits for production's reviewers
        ("production", True, True, False),  # a rollback that only moves traffic does not
        ("production", True, False, True),  # a rollback that would ship undeployed merges does
        ("staging", False, False, False),  # staging never waits
    ],
    ids=["deploy", "rollback-alone", "rollback-with-merged-changes", "staging"],
)
def test_who_waits_for_a_reviewer(stack: str, requested: bool, harmless: bool, needed: bool) -> None:
    found = [] if harmless else radius.findings({"steps": [step("update", REDIS, "spec.replicas")]})

    assert radius.review_needed(stack, requested, found) is needed


def run(tmp_path: Path, preview: dict[str, Any], *args: str) -> tuple[int, str, str]:
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(preview))
    out = io.StringIO()
    code = radius.main([str(path), *args], stdout=out)
    output = (tmp_path / "output").read_text() if (tmp_path / "output").exists() else ""
    return code, out.getvalue(), output


def test_the_answer_and_whether_anything_changes_reach_the_next_jobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))

    code, out, output = run(tmp_path, {"steps": [WEIGHT]}, "--stack", "production", "--unreviewed", "true")

    assert code == 0
    assert output == "review=false\nchanges=true\n"
    assert "touches only the router's route and app env" in out


def test_an_update_with_nothing_to_change_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))

    _, _, output = run(
        tmp_path, {"steps": [step("same", ROUTE)]}, "--stack", "production", "--unreviewed", "true"
    )

    assert output == "review=false\nchanges=false\n"


def test_an_unapproved_update_that_now_needs_review_is_stopped(tmp_path: Path) -> None:
    preview = {"steps": [WEIGHT, step("update", REDIS, "spec.replicas")]}

    code, out, _ = run(
        tmp_path, preview, "--stack", "production", "--unreviewed", "true", "--require-unreviewed"
    )

    assert code == 1
    assert "redis (pulumi:pulumi:Stack$perfstack:cache:Redis$kubernetes:apps/v1:StatefulSet)" in out
