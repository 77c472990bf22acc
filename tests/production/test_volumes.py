"""Production's volumes: a size change expands the claims in place, and what holds data is protected."""

from components.platform.kubernetes import CLAIM_SIZE_PATH, PATCH_FORCE
from infra.mockrun import MockedResource, ProgramRun
from tests.conftest import run_stack

STATEFULSET = "kubernetes:apps/v1:StatefulSet"
NAMESPACE = "kubernetes:core/v1:Namespace"
CLAIM_PATCH = "kubernetes:core/v1:PersistentVolumeClaimPatch"


def with_volumes(run: ProgramRun) -> list[MockedResource]:
    return [s for s in run.of_type(STATEFULSET) if s.inputs["spec"].get("volumeClaimTemplates")]


def claim_sizes(statefulset: MockedResource) -> dict[str, str]:
    """Each claim the StatefulSet controller makes (`<template>-<sts>-<ordinal>`) → its template size."""
    return {
        f"{template['metadata']['name']}-{statefulset.name}-{ordinal}": template["spec"]["resources"][
            "requests"
        ]["storage"]
        for template in statefulset.inputs["spec"]["volumeClaimTemplates"]
        for ordinal in range(int(statefulset.inputs["spec"]["replicas"]))
    }


def test_every_statefulset_with_volumes_ignores_a_change_of_its_claim_size(production: ProgramRun) -> None:
    statefulsets = with_volumes(production)

    assert {s.name for s in statefulsets} == {"redis", "prometheus", "alertmanager", "jaeger"}
    assert all(s.ignore_changes == [CLAIM_SIZE_PATH] for s in statefulsets)


def test_each_claim_of_each_replica_is_patched_to_its_volume_size(production: ProgramRun) -> None:
    expected = {claim: size for s in with_volumes(production) for claim, size in claim_sizes(s).items()}

    patches = {
        p.inputs["metadata"]["name"]: p.inputs["spec"]["resources"]["requests"]["storage"]
        for p in production.of_type(CLAIM_PATCH)
    }

    assert patches == expected
    assert patches["data-redis-2"] == "2Gi"


def test_a_size_change_changes_the_claim_patches(production: ProgramRun) -> None:
    resized = run_stack("production", overrides={"redis.storageSize": "4Gi"})

    sizes = {
        p.name: p.inputs["spec"]["resources"]["requests"]["storage"] for p in resized.of_type(CLAIM_PATCH)
    }

    assert {name: size for name, size in sizes.items() if name.startswith("data-redis-")} == {
        "data-redis-0": "4Gi",
        "data-redis-1": "4Gi",
        "data-redis-2": "4Gi",
    }


def test_a_claim_patch_waits_for_the_statefulset_that_makes_its_claim(production: ProgramRun) -> None:
    statefulsets = {s.name: s.urn for s in with_volumes(production)}

    for patch in production.of_type(CLAIM_PATCH):
        owner = patch.name.split("-")[1]
        assert statefulsets[owner] in patch.dependencies, patch.name


def test_a_claim_patch_takes_the_size_over_from_the_controller_that_made_the_claim(
    production: ProgramRun,
) -> None:
    # Without force, server-side apply refuses to change a field another manager set.
    for patch in production.of_type(CLAIM_PATCH):
        assert patch.inputs["metadata"]["annotations"] == {PATCH_FORCE: "true"}, patch.name
        assert patch.inputs["metadata"]["namespace"] == "perfstack", patch.name


def test_a_removed_claim_patch_leaves_its_claim_alone(production: ProgramRun) -> None:
    # Deleting a patch would give up a field the claim cannot be without.
    assert all(p.retain_on_delete for p in production.of_type(CLAIM_PATCH))


def test_the_namespace_and_every_statefulset_with_volumes_are_protected(production: ProgramRun) -> None:
    protected = {(r.type, r.name) for r in production.resources if r.protect}

    assert protected == {(NAMESPACE, "namespace")} | {(STATEFULSET, s.name) for s in with_volumes(production)}


def test_protect_data_off_protects_nothing() -> None:
    unprotected = run_stack("production", overrides={"kubernetes.protectData": False})

    assert [r.name for r in unprotected.resources if r.protect] == []


def test_rendered_manifests_get_no_claim_patches() -> None:
    rendered = run_stack("production", overrides={"kubernetes.renderYamlTo": "/tmp/unused"})

    assert rendered.of_type(CLAIM_PATCH) == []
    assert with_volumes(rendered)
