"""The dependency direction is enforced by import-linter's contracts in pyproject.toml."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["lint-imports", "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def copy_of_project(tmp_path: Path) -> Path:
    for name in ("rollout", "infra", "components"):
        shutil.copytree(PROJECT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_every_import_contract_is_kept() -> None:
    result = lint_imports(PROJECT)
    assert result.returncode == 0, result.stdout + result.stderr


# (case, module that gets the import, the import, the contract that must then break)
LAYERS = "infra uses components, never the reverse"
FORBIDDEN_IMPORTS = [
    ("component imports infra", "components/redis/settings.py", "infra.config", LAYERS),
    ("component imports a sibling", "components/grafana/settings.py", "components.prometheus.alerts",
     "do not import each other"),
    ("infra imports the rollout judge", "infra/config.py", "rollout.judge", LAYERS),
    ("rollout core imports an adapter", "rollout/judge.py", "rollout.prometheus",
     "the rollout core does not import its adapters"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("module", "imported", "contract"),
    [c[1:] for c in FORBIDDEN_IMPORTS],
    ids=[c[0] for c in FORBIDDEN_IMPORTS],
)
def test_an_import_against_the_direction_breaks_its_contract(
    tmp_path: Path, module: str, imported: str, contract: str
) -> None:
    project = copy_of_project(tmp_path)
    with (project / module).open("a") as source:
        source.write(f"\nimport {imported}  # noqa\n")
    result = lint_imports(project)
    assert result.returncode != 0
    assert f"{contract} BROKEN" in result.stdout


ROLLOUT_CORE = ("samples", "stats", "checks", "judge")
IO_MODULES = {"subprocess", "urllib", "socket", "http", "os", "pathlib", "shutil"}


def top_level_imports(path: Path) -> set[str]:
    """The top-level packages a module imports."""
    tree = ast.parse(path.read_text())
    return {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }


@pytest.mark.parametrize("module", ROLLOUT_CORE)
def test_the_rollout_core_imports_no_io_module(module: str) -> None:
    imported = top_level_imports(PROJECT / "rollout" / f"{module}.py")
    assert not imported & IO_MODULES, f"rollout/{module}.py imports {sorted(imported & IO_MODULES)}"


def test_the_guarded_stack_file_edit_needs_only_the_standard_library_and_pyyaml() -> None:
    # The rollback workflow's dry run installs PyYAML alone before running rollback_config.py.
    assert top_level_imports(PROJECT / "rollout" / "stack_edit.py") - sys.stdlib_module_names == {"yaml"}
    assert top_level_imports(PROJECT / "rollout" / "__init__.py") == set()
