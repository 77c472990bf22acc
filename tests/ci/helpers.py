"""Helpers for the CI tests: load the scripts under .github/scripts and the workflows."""

import difflib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS_DIR = REPO / ".github" / "workflows"
SCRIPTS_DIR = REPO / ".github" / "scripts"


def load_script(name: str) -> ModuleType:
    """Import `.github/scripts/<name>.py` (not a package: `.github` is no valid module name)."""
    module_name = f"ci_scripts_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, SCRIPTS_DIR / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def load_workflow(name: str) -> dict[str, Any]:
    """A workflow file parsed; PyYAML reads the `on:` key as True, so it is put back as "on"."""
    document = yaml.safe_load((WORKFLOWS_DIR / name).read_text())
    if True in document:
        document["on"] = document.pop(True)
    return document


def flatten(node: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Every leaf of a parsed YAML document by its key path."""
    if isinstance(node, dict):
        leaves: dict[tuple[str, ...], Any] = {}
        for key, value in node.items():
            leaves.update(flatten(value, (*prefix, key)))
        return leaves
    return {prefix: node}


def changed_leaves(before: str, after: str) -> dict[tuple[str, ...], tuple[Any, Any]]:
    """The leaves whose value or type differs between two documents: path -> (old, new)."""
    old, new = flatten(yaml.safe_load(before)), flatten(yaml.safe_load(after))
    return {
        key: (old.get(key), new.get(key))
        for key in old.keys() | new.keys()
        if (type(old.get(key)), old.get(key)) != (type(new.get(key)), new.get(key))
    }


def changed_lines(before: str, after: str) -> list[str]:
    """The removed ("- ") and added ("+ ") lines between two texts."""
    return [
        line
        for line in difflib.ndiff(before.splitlines(), after.splitlines())
        if line.startswith(("- ", "+ "))
    ]


GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "perfstack tests",
    "GIT_AUTHOR_EMAIL": "tests@perfstack.invalid",
    "GIT_COMMITTER_NAME": "perfstack tests",
    "GIT_COMMITTER_EMAIL": "tests@perfstack.invalid",
}


def git(directory: Path, *args: str) -> str:
    """Run git in ``directory`` as the test identity; its stdout (a failure raises)."""
    result = subprocess.run(
        ["git", *args],
        cwd=directory,
        env={**os.environ, **GIT_IDENTITY},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


def commit_file(directory: Path, path: str, text: str, message: str) -> str:
    """Write ``path``, commit it, return the new commit's sha."""
    (directory / path).parent.mkdir(parents=True, exist_ok=True)
    (directory / path).write_text(text)
    git(directory, "add", path)
    git(directory, "commit", "-q", "-m", message)
    return git(directory, "rev-parse", "HEAD")
