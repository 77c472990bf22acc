"""Data volumes are writable by the user their workload runs as, on both platforms.

Docker creates a named volume owned by root when the image has no directory
at the mount path (the Jaeger image has no /badger, and runs as uid 10001:
`mkdir /badger/keys: permission denied`). The Docker platform hands each new
volume to the workload's user with a one-shot container first; Kubernetes
does the same with the pod's fsGroup.
"""

from infra.mockrun import MockedResource, ProgramRun

CONTAINER = "docker:index/container:Container"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
JAEGER_UID = 10001


def test_jaeger_badger_volume_is_chowned_to_the_jaeger_user_before_jaeger_starts(staging: ProgramRun) -> None:
    jaeger = staging.get(CONTAINER, "jaeger")
    init = staging.get(CONTAINER, "jaeger-volume-init")

    assert init.inputs["command"] == ["chown", f"{JAEGER_UID}:{JAEGER_UID}", "/badger"]
    assert init.inputs["volumes"] == jaeger.inputs["volumes"]
    assert jaeger.inputs["user"] == str(JAEGER_UID)
    # Jaeger is created only once the init container has run to its end.
    assert init.inputs["attach"] is True
    assert init.urn in jaeger.dependencies


def test_volume_init_container_runs_once_as_root_with_only_cap_chown(staging: ProgramRun) -> None:
    init = staging.get(CONTAINER, "jaeger-volume-init")

    assert init.inputs["user"] == "0"
    assert init.inputs["capabilities"] == {"drops": ["ALL"], "adds": ["CHOWN"]}
    assert init.inputs["networkMode"] == "none"
    assert init.inputs["mustRun"] is False
    assert init.inputs["restart"] == "no"


def test_every_docker_workload_with_a_volume_gets_its_volume_init(staging: ProgramRun) -> None:
    with_volumes = {
        c.name for c in staging.of_type(CONTAINER) if c.inputs.get("volumes") and not is_one_shot(c)
    }

    assert with_volumes >= {"jaeger", "redis", "prometheus", "alertmanager"}
    assert {c.name for c in staging.of_type(CONTAINER) if is_init(c)} == {
        f"{name}-volume-init" for name in with_volumes
    }


def is_init(container: MockedResource) -> bool:
    return container.name.endswith("-volume-init")


def is_one_shot(container: MockedResource) -> bool:
    """A volume init or the router's config writer: runs once, in a workload's volume, and exits."""
    return container.inputs.get("mustRun") is False


def test_jaeger_pod_on_kubernetes_owns_its_badger_volume_through_fs_group(production: ProgramRun) -> None:
    pod = production.get(STATEFULSET, "jaeger").inputs["spec"]["template"]["spec"]

    assert pod["securityContext"]["fsGroup"] == JAEGER_UID
    assert pod["securityContext"]["runAsGroup"] == JAEGER_UID
    assert {"name": "badger", "mountPath": "/badger"} in pod["containers"][0]["volumeMounts"]
