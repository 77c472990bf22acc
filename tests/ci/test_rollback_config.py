"""rollback_config.py: each rollback changes exactly one key of a stack file, and bad input is refused."""

import io
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ci.helpers import REPO, load_script

rollback = load_script("rollback_config")

STACKS = ("staging", "production")
# action, extra arguments, the key it changes, the value it sets.
ACTIONS = [
    ("canary-off", [], ("perfstack:services", "api", "canary", "weight"), 0),
    ("version-back", ["--version", "1.4.1"], ("perfstack:services", "api", "stable", "version"), "1.4.1"),
    ("kill-switch", [], ("perfstack:killSwitch",), True),
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the committed stack files."""
    for stack in STACKS:
        shutil.copy(REPO / f"Pulumi.{stack}.yaml", tmp_path)
    return tmp_path


def run(project: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = rollback.main([*args, "--project-dir", str(project)], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def flatten(node: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Every leaf of a parsed YAML document by its key path."""
    if isinstance(node, dict):
        leaves: dict[tuple[str, ...], Any] = {}
        for key, value in node.items():
            leaves.update(flatten(value, (*prefix, key)))
        return leaves
    return {prefix: node}


def changed_leaves(before: str, after: str) -> dict[tuple[str, ...], tuple[Any, Any]]:
    old, new = flatten(yaml.safe_load(before)), flatten(yaml.safe_load(after))
    return {
        key: (old.get(key), new.get(key)) for key in old.keys() | new.keys() if old.get(key) != new.get(key)
    }


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize(("action", "extra", "path", "value"), ACTIONS, ids=[a[0] for a in ACTIONS])
def test_each_action_changes_exactly_its_one_key(
    project: Path, stack: str, action: str, extra: list[str], path: tuple[str, ...], value: object
) -> None:
    stack_file = project / f"Pulumi.{stack}.yaml"
    before = stack_file.read_text()

    code, _, err = run(project, "--stack", stack, "--action", action, *extra)

    assert code == 0, err
    changes = changed_leaves(before, stack_file.read_text())
    assert list(changes) == [("config", *path)]
    assert changes[("config", *path)][1] == value


@pytest.mark.parametrize(("action", "extra", "path", "value"), ACTIONS, ids=[a[0] for a in ACTIONS])
def test_every_other_line_comments_included_is_kept(
    project: Path, action: str, extra: list[str], path: tuple[str, ...], value: object
) -> None:
    stack_file = project / "Pulumi.production.yaml"
    before = stack_file.read_text().splitlines()

    run(project, "--stack", "production", "--action", action, *extra)

    after = stack_file.read_text().splitlines()
    assert len(after) == len(before)
    assert sum(old != new for old, new in zip(before, after, strict=True)) == 1


def test_only_the_chosen_stack_file_is_touched(project: Path) -> None:
    staging_before = (project / "Pulumi.staging.yaml").read_text()

    run(project, "--stack", "production", "--action", "kill-switch")

    assert (project / "Pulumi.staging.yaml").read_text() == staging_before


def test_a_dry_run_reports_the_change_and_writes_nothing(project: Path) -> None:
    before = (project / "Pulumi.production.yaml").read_text()

    code, out, _ = run(project, "--stack", "production", "--action", "canary-off", "--dry-run")

    assert code == 0
    assert "perfstack:services.api.canary.weight: 10 -> 0" in out
    assert (project / "Pulumi.production.yaml").read_text() == before


# --- refused input: exit 2, a message naming the key, the file untouched ---------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--action", "canary-off", "--service", "web"], "perfstack:services.web: no such service"),
        (["--action", "version-back"], "version-back needs --version"),
        (["--action", "version-back", "--version", "1.4.2"], "is already 1.4.2"),
        (["--action", "version-back", "--version", "1.4.1\n  killSwitch: true"], "not a valid image tag"),
        (["--action", "canary-off", "--version", "1.4.1"], "--version is only for version-back"),
    ],
    ids=["unknown-service", "missing-version", "same-version", "version-not-a-tag", "version-for-canary-off"],
)
def test_bad_input_is_refused_with_a_clear_error(project: Path, args: list[str], message: str) -> None:
    before = (project / "Pulumi.production.yaml").read_text()

    code, _, err = run(project, "--stack", "production", *args)

    assert code == 2
    assert message in err
    assert (project / "Pulumi.production.yaml").read_text() == before


def test_an_unknown_stack_is_refused(project: Path) -> None:
    code, _, err = run(project, "--stack", "dev", "--action", "kill-switch")

    assert code == 2
    assert "no stack file Pulumi.dev.yaml" in err


def test_a_stack_name_cannot_point_outside_the_project(project: Path) -> None:
    code, _, err = run(project, "--stack", "../production", "--action", "kill-switch")

    assert code == 2
    assert "not a stack name" in err


def test_a_second_canary_off_is_refused_as_a_no_op(project: Path) -> None:
    run(project, "--stack", "staging", "--action", "canary-off")

    code, _, err = run(project, "--stack", "staging", "--action", "canary-off")

    assert code == 2
    assert "already 0" in err


def test_a_second_kill_switch_is_refused_as_a_no_op(project: Path) -> None:
    run(project, "--stack", "staging", "--action", "kill-switch")

    code, _, err = run(project, "--stack", "staging", "--action", "kill-switch")

    assert code == 2
    assert "perfstack:killSwitch is already true" in err


# --- layouts other than the committed files' ----------------------------------------


def edit(text: str, action: str, version: str | None = None) -> str:
    document = yaml.safe_load(text)
    change = rollback.plan_change(document["config"], action, "api", version)
    return rollback.apply_change(text, change)


def test_a_missing_kill_switch_line_is_added_under_config() -> None:
    text = (
        "config:\n"
        "  perfstack:platform: docker\n"
        "  perfstack:services:\n"
        "    api:\n"
        "      stable: {version: '1'}\n"
    )

    edited = edit(text, "kill-switch")

    assert yaml.safe_load(edited)["config"]["perfstack:killSwitch"] is True
    assert edited.splitlines()[:-1] == text.splitlines()


def test_a_weight_inside_a_flow_mapping_is_edited_in_place() -> None:
    head = "config:\n  perfstack:services:\n    api:\n"

    edited = edit(head + '      canary: {version: "1.5.0", weight: 10}  # try 1.5\n', "canary-off")

    assert edited == head + '      canary: {version: "1.5.0", weight: 0}  # try 1.5\n'


def test_a_trailing_comment_on_the_changed_line_is_kept() -> None:
    text = 'config:\n  perfstack:services:\n    api:\n      stable:\n        version: "1.4.2" # pinned\n'

    edited = edit(text, "version-back", "1.4.1")

    assert edited.endswith('        version: "1.4.1" # pinned\n')


def test_a_layout_the_editor_cannot_follow_is_refused_not_mangled() -> None:
    text = "config:\n  perfstack:services: {api: {canary: {weight: 10}}}\n"

    with pytest.raises(rollback.RollbackError, match="edit it by hand"):
        edit(text, "canary-off")
