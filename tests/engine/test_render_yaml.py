"""`kubernetes.renderYamlTo`: `pulumi up` writes the manifests instead of applying them.

The provider's own rendering must say what the mock render says, object for
object: `python -m infra render` is what reviewers read without credentials.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.render import manifests
from tests.conftest import run_stack
from tests.engine.engine import Engine
from tests.engine.project import PulumiProject

pytestmark = pytest.mark.engine

AUTO_NAMED = ("ConfigMap", "Secret")


def without_suffixes(value: Any, names: dict[str, str]) -> Any:
    """``value`` with every auto-named object's name replaced by its base name."""
    if isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, dict):
        return {k: without_suffixes(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [without_suffixes(v, names) for v in value]
    return value


def comparable(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Objects by (kind, base name); secret values and the labels only the provider adds left out."""
    names = {}
    for obj in objects:
        name = obj["metadata"]["name"]
        if obj["kind"] in AUTO_NAMED:
            names[name] = re.sub(r"-[0-9a-z]{8}$", "", name)
    result = {}
    for obj in objects:
        obj = without_suffixes(obj, names)
        body = {k: v for k, v in obj.items() if k not in ("metadata", "data", "stringData")}
        if obj["kind"] == "ConfigMap":
            body["data"] = obj.get("data")
        if obj["kind"] == "Secret":
            body["keys"] = sorted({**(obj.get("data") or {}), **(obj.get("stringData") or {})})
        body["labels"] = {
            k: v
            for k, v in (obj["metadata"].get("labels") or {}).items()
            if k != "app.kubernetes.io/managed-by"
        }
        result[(obj["kind"], obj["metadata"]["name"])] = body
    return result


def test_up_with_render_yaml_to_writes_the_objects_of_the_mock_render(tmp_path: Path, engine: Engine) -> None:
    out = tmp_path / "manifests"
    project = PulumiProject(tmp_path / "project", engine, stack="production", kubeconfig=None)
    project.set_secrets()
    project.set_path("kubernetes.renderYamlTo", str(out))

    project.up()

    written = [
        doc for path in sorted(out.rglob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc
    ]
    mocked = list(
        manifests(run_stack("production", overrides={"kubernetes.renderYamlTo": str(out)})).values()
    )
    assert comparable(written) == comparable(mocked)
