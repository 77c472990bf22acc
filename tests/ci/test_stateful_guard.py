"""stateful_guard.py: which `pulumi preview --json` steps block a deployment, and who may allow them."""

import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.ci.helpers import load_script

guard = load_script("stateful_guard")

DATA = Path(__file__).parent / "data"
STACK = "urn:pulumi:production::perfstack::"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
DOCKER_VOLUME = "docker:index/volume:Volume"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
NAMESPACE = "kubernetes:core/v1:Namespace"
CLAIM_PATCH = "kubernetes:core/v1:PersistentVolumeClaimPatch"


def urn(resource_type: str, name: str, parent_type: str = "perfstack:cache:Redis") -> str:
    return f"{STACK}{parent_type}${resource_type}::{name}"


def step(op: str, resource_type: str, name: str) -> dict[str, Any]:
    """A step as `pulumi preview --json` prints it: oldState/newState present as the op implies."""
    state = {"urn": urn(resource_type, name), "custom": True, "type": resource_type}
    result: dict[str, Any] = {"op": op, "urn": state["urn"], "detailedDiff": None}
    if op != "create":
        result["oldState"] = state
    if op not in ("delete", "delete-replaced"):
        result["newState"] = state
    return result


def replacement(resource_type: str, name: str) -> list[dict[str, Any]]:
    """The three steps of a create-before-delete replacement."""
    return [step(op, resource_type, name) for op in ("create-replacement", "replace", "delete-replaced")]


def run(
    preview: dict[str, Any] | str, tmp_path: Path, event_name: str = "push", event: Any = None
) -> tuple[int, str]:
    preview_file = tmp_path / "preview.json"
    preview_file.write_text(preview if isinstance(preview, str) else json.dumps(preview))
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event or {}))
    out = io.StringIO()
    code = guard.main(
        [str(preview_file), "--event-name", event_name, "--event-path", str(event_file)], stdout=out
    )
    return code, out.getvalue()


# --- which steps offend -----------------------------------------------------------


def test_a_preview_without_steps_offends_nothing() -> None:
    assert guard.offences({"changeSummary": {"same": 21}}) == []


@pytest.mark.parametrize("op", ["same", "create", "update"])
def test_keeping_or_updating_a_statefulset_in_place_offends_nothing(op: str) -> None:
    assert guard.offences({"steps": [step(op, STATEFULSET, "redis")]}) == []


def test_replacing_a_statefulset_is_one_offence() -> None:
    found = guard.offences({"steps": replacement(STATEFULSET, "redis")})

    assert [(o.type, o.name) for o in found] == [(STATEFULSET, "redis")]


@pytest.mark.parametrize("op", ["replace", "create-replacement", "delete-replaced"])
def test_any_step_of_a_replacement_is_enough_to_offend(op: str) -> None:
    assert len(guard.offences({"steps": [step(op, STATEFULSET, "prometheus")]})) == 1


def test_deleting_a_persistent_volume_claim_offends() -> None:
    found = guard.offences({"steps": [step("delete", PVC, "data-redis-0")]})

    assert [(o.op, o.type) for o in found] == [("delete", PVC)]


def test_replacing_a_docker_volume_offends() -> None:
    found = guard.offences({"steps": replacement(DOCKER_VOLUME, "redis-data")})

    assert [o.type for o in found] == [DOCKER_VOLUME]


def test_deleting_the_namespace_offends_because_its_claims_go_with_it() -> None:
    found = guard.offences({"steps": [step("delete", NAMESPACE, "namespace")]})

    assert [(o.op, o.type) for o in found] == [("delete", NAMESPACE)]


@pytest.mark.parametrize("op", ["update", "delete"])
def test_resizing_or_dropping_a_claim_patch_offends_nothing(op: str) -> None:
    # A size change updates the patch; a removed replica drops it and keeps its claim.
    assert guard.offences({"steps": [step(op, CLAIM_PATCH, "data-redis-0")]}) == []


def test_replacing_a_stateless_deployment_offends_nothing() -> None:
    assert guard.offences({"steps": replacement(DEPLOYMENT, "redis-exporter")}) == []


def test_deleting_a_stateless_deployment_offends_nothing() -> None:
    assert guard.offences({"steps": [step("delete", DEPLOYMENT, "api-canary")]}) == []


def test_the_type_comes_from_the_urn_when_a_step_has_no_state() -> None:
    bare = {"op": "delete", "urn": urn(PVC, "data-prometheus-0")}

    assert [(o.type, o.name) for o in guard.offences({"steps": [bare]})] == [(PVC, "data-prometheus-0")]


def test_split_urn_handles_a_parent_chain() -> None:
    assert guard.split_urn(f"{STACK}a:b:C$d:e:F${STATEFULSET}::redis") == (STATEFULSET, "redis")


# --- who may allow it -------------------------------------------------------------


def test_a_push_whose_head_commit_carries_the_marker_is_allowed() -> None:
    event = {"head_commit": {"message": "Resize Redis storage\n\n[allow-stateful-replace]"}}

    assert guard.allowance("push", event) is not None


def test_a_push_without_the_marker_is_not_allowed() -> None:
    assert guard.allowance("push", {"head_commit": {"message": "Resize Redis storage"}}) is None


@pytest.mark.parametrize("value", ["true", True])
def test_a_dispatch_with_the_input_set_is_allowed(value: object) -> None:
    assert guard.allowance("workflow_dispatch", {"inputs": {"allow_stateful_replace": value}}) is not None


def test_a_dispatch_with_the_input_unset_is_not_allowed() -> None:
    assert guard.allowance("workflow_dispatch", {"inputs": {"allow_stateful_replace": "false"}}) is None


def test_the_marker_counts_only_on_a_push() -> None:
    event = {"head_commit": {"message": "[allow-stateful-replace]"}, "inputs": {}}

    assert guard.allowance("workflow_dispatch", event) is None


# --- the command ------------------------------------------------------------------


def test_a_real_preview_document_that_replaces_redis_is_blocked(tmp_path: Path) -> None:
    code, output = run((DATA / "preview_redis_replace.json").read_text(), tmp_path)

    assert code == 1
    assert urn(STATEFULSET, "redis") in output
    assert "HTTPRoute" not in output


def test_the_same_preview_passes_when_the_commit_allows_it(tmp_path: Path) -> None:
    event = {"head_commit": {"message": "Grow Redis volume [allow-stateful-replace]"}}

    code, output = run((DATA / "preview_redis_replace.json").read_text(), tmp_path, event=event)

    assert code == 0
    assert "allowed because" in output


def test_a_preview_touching_nothing_stateful_passes(tmp_path: Path) -> None:
    code, _ = run({"steps": [step("update", DEPLOYMENT, "api-stable")]}, tmp_path)

    assert code == 0


def test_the_preview_can_come_from_stdin() -> None:
    preview = json.dumps({"steps": [step("delete", PVC, "data-redis-0")]})

    code = guard.main(["-", "--event-name", "push"], stdin=io.StringIO(preview), stdout=io.StringIO())

    assert code == 1


@pytest.mark.parametrize("text", ["", "{not json", "[]"])
def test_unreadable_preview_output_is_an_error_not_a_pass(text: str, tmp_path: Path) -> None:
    code, output = run(text, tmp_path)

    assert code == 2
    assert "cannot read input" in output
