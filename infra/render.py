"""What a mocked run declares, written out for reviewers: resources, files, manifests."""

import json
import re
from pathlib import Path
from typing import Any

import yaml

from components.platform.spec import file_keys
from infra.mockrun import MockedResource, ProgramRun

SECRET_MASK = "[secret]"


class _ManifestDumper(yaml.CSafeDumper):
    """libyaml's emitter; multi-line strings (the generated files in ConfigMaps) as literal blocks."""


_ManifestDumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar(
        "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None
    ),
)


def masked_inputs(resource: MockedResource) -> dict[str, Any]:
    """The resource's inputs with every secret value replaced by "[secret]"."""
    inputs = _ints(resource.inputs)  # a copy: masking below leaves the recorded inputs alone
    for path in resource.secret_paths:
        node: Any = inputs
        for part in path[:-1]:
            node = node[part]
        secret = node[path[-1]]
        # A secret map keeps its keys so manifests stay well-formed (a Secret's stringData).
        node[path[-1]] = {k: SECRET_MASK for k in secret} if isinstance(secret, dict) else SECRET_MASK
    return inputs


def _ints(value: Any) -> Any:
    """A deep copy of ``value`` in which integral floats are ints again.

    The wire format carries every number as a float; integral ones were ints.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def resource_list(run: ProgramRun) -> list[dict[str, Any]]:
    """`resources.json`: type, name, parent URN and masked inputs of every resource.

    Sorted by URN: the engine registers resources concurrently, so the order
    they arrive in differs between runs and would make two renders differ.
    """
    return [
        {"type": r.type, "name": r.name, "parent": r.parent, "inputs": masked_inputs(r)}
        for r in sorted(run.resources, key=lambda r: r.urn)
    ]


def config_files(run: ProgramRun) -> dict[str, str]:
    """Every non-secret generated file, keyed `<component>/<file name>`, exactly as deployed.

    Files are read back from what the platforms declare (Docker container
    uploads, Kubernetes ConfigMaps), so this is what will be deployed, not
    a second rendering of it.
    """
    files: dict[str, str] = {}
    for resource in run.resources:
        component = run.component_of(resource)
        owner = component.name if component else "stack"
        inputs = masked_inputs(resource)
        if resource.type == "kubernetes:core/v1:ConfigMap":
            for key, content in (inputs.get("data") or {}).items():
                files[f"{owner}/{key}"] = content
        elif resource.type == "docker:index/container:Container" and isinstance(inputs.get("uploads"), list):
            keys = file_keys(u["file"] for u in inputs["uploads"])
            for upload in inputs["uploads"]:
                if upload.get("content") != SECRET_MASK:
                    files[f"{owner}/{keys[upload['file']]}"] = upload["content"]
    return files


def manifests(run: ProgramRun) -> dict[str, dict[str, Any]]:
    """Each Kubernetes object as a manifest, keyed by a file name; secret values masked."""
    objects: dict[str, dict[str, Any]] = {}
    for resource in run.resources:
        if not resource.type.startswith("kubernetes:") or resource.type.startswith("kubernetes:index"):
            continue
        if not resource.custom or resource.type.startswith("pulumi:"):
            continue
        if resource.type.endswith("Patch"):
            # A few fields of an object someone else creates (a StatefulSet's claims), not an object.
            continue
        body = masked_inputs(resource)
        group_version, kind = resource.type.split(":")[1].rsplit(":", 1)[0], resource.type.split(":")[2]
        group, version = group_version.split("/")
        body["apiVersion"] = version if group == "core" else f"{group}/{version}"
        body["kind"] = kind
        metadata = dict(body.get("metadata") or {})
        metadata["name"] = (resource.state.get("metadata") or {}).get("name", resource.name)
        body["metadata"] = metadata
        file_name = re.sub(r"[^a-z0-9.-]+", "-", f"{kind}-{metadata['name']}".lower()) + ".yaml"
        objects[file_name] = {"apiVersion": body.pop("apiVersion"), "kind": body.pop("kind"), **body}
    return objects


def write_render(run: ProgramRun, out: Path) -> None:
    """Write resources.json, files/ and manifests/ under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "resources.json").write_text(json.dumps(resource_list(run), indent=2, sort_keys=True) + "\n")
    for relative, content in config_files(run).items():
        path = out / "files" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    for file_name, manifest in manifests(run).items():
        path = out / "manifests" / file_name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.dump(manifest, Dumper=_ManifestDumper, sort_keys=False, allow_unicode=True))
