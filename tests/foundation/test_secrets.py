"""Secret values never appear in plaintext: not in inputs, env, files or manifests."""

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.mockrun import ProgramRun
from infra.render import write_render
from tests.conftest import KNOWN_SECRETS, run_stack
from tests.foundation.test_registry import PASSWORD, REGISTRY, SECRETS, USERNAME


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, i))
    else:
        yield path, value


def _is_under(path: tuple[Any, ...], prefixes: list[tuple[Any, ...]]) -> bool:
    return any(path[: len(p)] == p for p in prefixes)


def test_secret_values_appear_only_in_inputs_marked_secret(stack_run: ProgramRun) -> None:
    leaks = [
        (r.type, r.name, path)
        for r in stack_run.resources
        for path, value in _leaves(r.inputs)
        if isinstance(value, str)
        and any(s in value for s in KNOWN_SECRETS.values())
        and not _is_under(path, r.secret_paths)
    ]
    assert not leaks


def test_secret_values_are_actually_delivered(stack_run: ProgramRun) -> None:
    # The check above would pass vacuously if the password were never passed on.
    delivered = [
        r.name
        for r in stack_run.resources
        for path, value in _leaves(r.inputs)
        if isinstance(value, str)
        and KNOWN_SECRETS["redisPassword"] in value
        and _is_under(path, r.secret_paths)
    ]
    assert delivered


def test_no_container_env_carries_a_secret(stack_run: ProgramRun) -> None:
    envs = [
        str(r.inputs.get("envs"))
        if r.type == "docker:index/container:Container"
        else str(r.inputs.get("spec"))
        for r in stack_run.resources
        if r.type
        in (
            "docker:index/container:Container",
            "kubernetes:apps/v1:Deployment",
            "kubernetes:apps/v1:StatefulSet",
        )
    ]
    assert envs
    assert not [e for e in envs if any(s in e for s in KNOWN_SECRETS.values())]


def test_rendered_output_holds_no_secret_value(stack_run: ProgramRun, tmp_path: Path) -> None:
    write_render(stack_run, tmp_path)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "resources.json" for p in files)
    leaks = [str(p) for p in files if any(s in p.read_text() for s in KNOWN_SECRETS.values())]
    assert not leaks


def test_the_also_accepted_redis_password_stays_secret_and_reaches_redis(tmp_path: Path) -> None:
    also = "redis-Also-Accepted-4716"
    run = run_stack("production", secrets={**KNOWN_SECRETS, "redisPasswordAlsoAccepted": also})
    leaks = [
        (r.type, r.name, path)
        for r in run.resources
        for path, value in _leaves(r.inputs)
        if isinstance(value, str) and also in value and not _is_under(path, r.secret_paths)
    ]
    write_render(run, tmp_path)
    assert leaks == []
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and also in p.read_text()]
    digest = hashlib.sha256(also.encode()).hexdigest()
    secret = run.get("kubernetes:core/v1:Secret", "redis-secrets")
    assert any(digest in str(v) for v in secret.inputs["stringData"].values())


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_the_registry_login_is_plaintext_in_no_input_and_no_rendered_file(stack: str, tmp_path: Path) -> None:
    run = run_stack(stack, overrides=REGISTRY, secrets=SECRETS)
    # The dockerconfigjson carries it base64-encoded too.
    forms = (PASSWORD, base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode())
    found = [
        (r.name, path, _is_under(path, r.secret_paths))
        for r in run.resources
        for path, value in _leaves(r.inputs)
        if isinstance(value, str) and any(f in value for f in forms)
    ]
    assert found  # delivered, so the check is not vacuous
    assert [f for f in found if not f[2]] == []
    write_render(run, tmp_path)
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and any(f in p.read_text() for f in forms)]
