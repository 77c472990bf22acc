"""`pulumi preview`/`up`/`refresh`/`destroy` of production with the real engine against a real API server.

The tests of this module share one stack on the session's local cluster and
run in file order, as an operator would: deploy, deploy again, change one
line at a time, refresh, destroy. What a reviewer reads (`pulumi preview
--diff --json`) is asserted per config line against the README's runbook.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from infra.mockrun import ProgramRun
from tests.ci.helpers import changed_lines
from tests.engine.cluster import LocalCluster
from tests.engine.engine import Engine
from tests.engine.project import (
    PROJECT_DIR,
    Preview,
    PulumiProject,
    mock_objects,
    render_changes,
    unexplained_warnings,
)
from tests.rollout.conftest import data_end, serving_backfilled
from tests.rollout.synthetic import Phase, TrackTraffic, openmetrics

pytestmark = pytest.mark.engine

NAMESPACE = "perfstack"
# What holds data or credentials: a config line of the runbook must never replace or delete these.
STATEFUL_TYPES = (
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:core/v1:PersistentVolumeClaim",
    "kubernetes:core/v1:Secret",
)


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, cluster: LocalCluster, engine: Engine
) -> Iterator[PulumiProject]:
    """The production stack with its secrets set, not yet deployed; destroyed at the end if still up."""
    project = PulumiProject(
        tmp_path_factory.mktemp("production"), engine, stack="production", kubeconfig=cluster.kubeconfig
    )
    project.set_secrets()
    yield project
    project.operate("destroy", check=False)


def live_objects(cluster: LocalCluster, kinds: str) -> list[dict[str, Any]]:
    """Every object of ``kinds`` (comma separated) in the stack's namespace."""
    return json.loads(cluster.kubectl("get", kinds, "-n", NAMESPACE, "-o", "json").stdout)["items"]


def live_env(cluster: LocalCluster, deployment: str) -> dict[str, str]:
    (item,) = [o for o in live_objects(cluster, "deployments") if o["metadata"]["name"] == deployment]
    (container,) = item["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


HTTPROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
CLAIM_PATCH = "kubernetes:core/v1:PersistentVolumeClaimPatch"
REDIS_CLAIMS = ("data-redis-0", "data-redis-1", "data-redis-2")


def live(cluster: LocalCluster, kind: str, name: str) -> dict[str, Any]:
    return json.loads(cluster.kubectl("get", kind, name, "-n", NAMESPACE, "-o", "json").stdout)


def claim_size(cluster: LocalCluster, claim: str) -> str:
    return live(cluster, "persistentvolumeclaim", claim)["spec"]["resources"]["requests"]["storage"]


def changed(preview: Preview) -> dict[tuple[str, str], str]:
    """(type, name) → operation of every step that is not `same`."""
    return {(s.type, s.name): s.op for s in preview.changed()}


def assert_nothing_stateful_replaced(preview: Preview) -> None:
    touched = [s for s in preview.changed() if s.type in STATEFUL_TYPES and s.op not in ("update", "same")]
    assert not touched, [(s.type, s.name, s.op) for s in touched]


def test_preview_with_the_policy_pack_then_up_deploys_every_object_of_the_mock_render(
    stack: PulumiProject, cluster: LocalCluster, production: ProgramRun
) -> None:
    preview = stack.preview()
    assert set(preview.ops()) == {"create"}, preview.ops()
    assert not unexplained_warnings(preview.diagnostics)
    assert not preview.policy_violations

    result = stack.up()

    assert not unexplained_warnings(result.diagnostics)
    kinds = ",".join(sorted({kind.lower() for kind, _ in mock_objects(production)}))
    deployed = {(o["kind"], o["metadata"]["name"]) for o in live_objects(cluster, kinds)}
    missing = {
        (kind, name)
        for kind, name in mock_objects(production)
        if not any(k == kind and (n == name or n.startswith(f"{name}-")) for k, n in deployed)
    }
    assert not missing


def test_every_workload_rolled_out_with_ready_pods_and_no_pod_was_refused(cluster: LocalCluster) -> None:
    workloads = live_objects(cluster, "deployments,statefulsets")
    assert workloads
    for workload in workloads:
        status, wanted = workload["status"], workload["spec"]["replicas"]
        assert status.get("readyReplicas", 0) == wanted, workload["metadata"]["name"]
    assert not cluster.events(NAMESPACE, reason="FailedCreate")
    claims = live_objects(cluster, "persistentvolumeclaims")
    assert claims and {c["status"]["phase"] for c in claims} == {"Bound"}


def test_a_second_up_changes_nothing(stack: PulumiProject) -> None:
    preview = stack.preview()

    assert set(preview.change_summary) == {"same"}, preview.change_summary


def test_a_canary_weight_change_updates_only_the_httproute_as_the_render_says(
    stack: PulumiProject, tmp_path: Path
) -> None:
    stack.set_path("services.api.canary.weight", "50")

    preview = stack.preview()

    assert changed(preview) == {(HTTPROUTE, "api-route"): "update"}
    assert render_changes(tmp_path, "production", "services.api.canary.weight=50") == set(changed(preview))
    stack.up()


def test_a_rollout_setting_changes_no_resource(stack: PulumiProject) -> None:
    stack.set_path("services.api.rollout.minRequests", "500")

    preview = stack.preview()

    assert set(preview.change_summary) == {"same"}, changed(preview)


def test_a_rollback_applied_by_the_rollout_command_is_one_line_that_updates_only_the_httproute(
    stack: PulumiProject, tmp_path: Path
) -> None:
    # The canary (now at 50 %) fails 10 % of its requests in the Prometheus the judge reads.
    end = data_end()
    phase = Phase(
        end - 20 * 60,
        end,
        {
            ("api", "stable"): TrackTraffic(rps=5, error_ratio=0.01),
            ("api", "canary"): TrackTraffic(rps=5, error_ratio=0.1),
        },
    )
    at = datetime.fromtimestamp(end - 5 * 60, UTC).isoformat()
    started = datetime.fromtimestamp(phase.start, UTC).isoformat()
    before = stack.stack_file.read_text()
    with serving_backfilled(openmetrics([phase]), tmp_path) as prometheus:
        result = subprocess.run(
            [sys.executable, "-m", "rollout", "apply", "production", "--prometheus", prometheus, "--at", at,
             "--step-started", started, "--project-dir", str(stack.dir)],
            cwd=PROJECT_DIR, env=stack.env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "rollback canary.weight 50 -> 0" in result.stdout
    assert len(changed_lines(before, stack.stack_file.read_text())) == 2

    preview = stack.preview()

    assert changed(preview) == {(HTTPROUTE, "api-route"): "update"}
    stack.up()
    # Back to 50 % for the runbook's next lines.
    stack.set_path("services.api.canary.weight", "50")
    stack.up()


def test_the_kill_switch_updates_the_tracks_env_and_the_route_and_replaces_nothing_stateful(
    stack: PulumiProject, cluster: LocalCluster
) -> None:
    stack.run("config", "set", "perfstack:killSwitch", "true", "--stack", "production")

    preview = stack.preview()

    assert_nothing_stateful_replaced(preview)
    assert changed(preview) == {
        (DEPLOYMENT, "api-stable"): "update",
        (DEPLOYMENT, "api-canary"): "update",
        (HTTPROUTE, "api-route"): "update",
    }
    stack.up()
    for track in ("api-stable", "api-canary"):
        env = live_env(cluster, track)
        assert env["DISABLE_ALL_OPTIMIZATIONS"] == "true"
        assert {v for k, v in env.items() if k.startswith(("FEATURE_", "ENABLE_"))} == {"false"}


def test_a_version_rollback_updates_only_the_stable_deployment(
    stack: PulumiProject, cluster: LocalCluster
) -> None:
    stack.set_path("services.api.stable.version", "1.4.1")

    preview = stack.preview()

    assert changed(preview) == {(DEPLOYMENT, "api-stable"): "update"}
    stack.up()
    (stable,) = [o for o in live_objects(cluster, "deployments") if o["metadata"]["name"] == "api-stable"]
    assert stable["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.4.1")
    assert stable["status"].get("readyReplicas") == stable["spec"]["replicas"]


def test_a_volume_size_change_expands_each_claim_in_place_and_replaces_no_statefulset(
    stack: PulumiProject, cluster: LocalCluster, tmp_path: Path
) -> None:
    before = live(cluster, "statefulset", "redis")["metadata"]["uid"]
    stack.set_path("redis.storageSize", "4Gi")

    preview = stack.preview()

    assert_nothing_stateful_replaced(preview)
    # What the render shows changing, but the claim template's size, which the StatefulSet ignores:
    # the claim patches, and Prometheus' rules (the RedisVolumeFilling threshold) with its pods.
    assert set(changed(preview)) == render_changes(tmp_path, "production", "redis.storageSize=4Gi") - {
        (STATEFULSET, "redis")
    }
    assert {
        name: op for (kind, name), op in changed(preview).items() if kind == CLAIM_PATCH
    } == dict.fromkeys(REDIS_CLAIMS, "update")
    result = stack.up()
    assert not unexplained_warnings(result.diagnostics)
    assert live(cluster, "statefulset", "redis")["metadata"]["uid"] == before
    assert {claim: claim_size(cluster, claim) for claim in REDIS_CLAIMS} == dict.fromkeys(REDIS_CLAIMS, "4Gi")


def test_a_smaller_volume_is_refused_by_the_api_server_in_the_preview(
    stack: PulumiProject, cluster: LocalCluster
) -> None:
    stack.set_path("redis.storageSize", "3Gi")
    try:
        result, _ = stack.operate("preview", check=False)
    finally:
        stack.set_path("redis.storageSize", "4Gi")

    assert result.returncode != 0
    assert "can not be less than" in result.stdout + result.stderr
    assert claim_size(cluster, "data-redis-0") == "4Gi"


def test_a_change_that_would_replace_a_statefulset_with_volumes_is_refused_by_the_engine(
    stack: PulumiProject,
) -> None:
    # A claim template cannot change in place: the provider would replace every StatefulSet with volumes.
    stack.set_path("kubernetes.storageClass", "other")
    try:
        result, _ = stack.operate("preview", check=False)
    finally:
        stack.run("config", "rm", "--path", "perfstack:kubernetes.storageClass", "--stack", "production")

    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "unable to replace resource" in output and "marked for protection" in output
    assert "StatefulSet::redis" in output


def test_destroying_a_statefulset_with_volumes_is_refused_by_the_engine_and_it_stays(
    stack: PulumiProject, cluster: LocalCluster
) -> None:
    before = live(cluster, "statefulset", "redis")["metadata"]["uid"]
    urns = [
        r["urn"]
        for r in json.loads(stack.run("stack", "export", "--stack", "production").stdout)["deployment"][
            "resources"
        ]
        if r["urn"].endswith((f"{STATEFULSET}::redis", *(f"{CLAIM_PATCH}::{c}" for c in REDIS_CLAIMS)))
    ]
    assert len(urns) == 4
    targets = [arg for urn in urns for arg in ("--target", urn)]

    # `destroy` runs no program: the CLI alone, as an operator would type it.
    result = stack.run("destroy", "--yes", "--stack", "production", *targets, check=False)

    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "cannot be deleted" in output and "because it is protected" in output
    assert live(cluster, "statefulset", "redis")["metadata"]["uid"] == before
    # The claims' patches were let go of without touching the claims (retainOnDelete).
    assert claim_size(cluster, "data-redis-0") == "4Gi"
    stack.up()


def test_refresh_finds_no_drift(stack: PulumiProject) -> None:
    preview = stack.refresh_preview()

    assert set(preview.change_summary) == {"same"}, changed(preview)


def test_the_policy_pack_stops_a_preview_that_breaks_a_mandatory_policy(stack: PulumiProject) -> None:
    stack.set_path("redis.replicas", "2")
    try:
        result, _ = stack.operate("preview", policy=True, check=False)
    finally:
        stack.set_path("redis.replicas", "3")

    assert result.returncode != 0
    assert "redis-sentinel-ha" in result.stdout + result.stderr


def test_destroy_removes_everything_the_stack_created_once_protect_data_is_off(
    stack: PulumiProject, cluster: LocalCluster
) -> None:
    stack.set_path("kubernetes.protectData", "false")
    unprotect = stack.up()
    assert_nothing_stateful_replaced(unprotect)

    stack.destroy()

    namespaces = json.loads(cluster.kubectl("get", "namespaces", "-o", "json").stdout)["items"]
    assert NAMESPACE not in {
        n["metadata"]["name"] for n in namespaces if n["status"].get("phase") != "Terminating"
    }
    assert stack.declared_types() in ([], ["pulumi:pulumi:Stack"])
