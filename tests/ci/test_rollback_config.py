"""rollback_config.py: each rollback changes exactly one line of a stack file, and bad input is refused.

The input checks run in-process and need no CLI. Every test that edits a file
runs the real `pulumi config set` (engine-marked: the CLI that tools/build.py
builds) on a temp project: the repo's `Pulumi.yaml`, one stack file, a
`file://` backend.
"""

import io
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.ci.helpers import REPO, SCRIPTS_DIR, changed_leaves, changed_lines, flatten, load_script
from tests.engine.engine import Engine
from tests.engine.project import StackFileProject

rollback = load_script("rollback_config")

SCRIPT = SCRIPTS_DIR / "rollback_config.py"
TIMEOUT_S = 120
STACKS = ("staging", "production")
# action, extra arguments, the key it changes, the value the stack file then holds.
ACTIONS = [
    ("canary-off", [], ("perfstack:services", "api", "canary", "weight"), 0),
    ("version-back", ["--version", "1.4.1"], ("perfstack:services", "api", "stable", "version"), "1.4.1"),
    ("kill-switch", [], ("perfstack:killSwitch",), "true"),
]
# The runbooks' one-line changes (docs/runbooks/*.md, "How to roll back").
RUNBOOK_KEYS = [
    ("services.api.canary.weight", "0"),
    ("services.api.stable.version", "1.4.1"),
    ("killSwitch", "true"),
    ("services.api.features.apiCaching.enabled", "false"),
]
# A stack file in the CLI's form, with comments and a flow-mapped canary track.
COMMENTED = (
    "# A stack for the tests.\n"
    "config:\n"
    "  perfstack:platform: kubernetes # where it runs\n"
    '  perfstack:killSwitch: "false"\n'
    "  perfstack:services:\n"
    "    api:\n"
    "      # The track everyone gets.\n"
    "      stable:\n"
    '        version: "1.4.2" # pinned\n'
    '      canary: {version: "1.5.0", weight: 10} # try 1.5\n'
    "# The end.\n"
)


# --- helpers -----------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the committed stack files (for the checks that stop before the CLI)."""
    for stack in STACKS:
        shutil.copy(REPO / f"Pulumi.{stack}.yaml", tmp_path)
    return tmp_path


def run(project: Path, *args: str) -> tuple[int, str, str]:
    """The script in-process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    code = rollback.main([*args, "--project-dir", str(project)], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


class CliProject(StackFileProject):
    """A copy of the project with one stack file of the test's own, on a file backend."""

    def rollback(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The script as the workflow runs it, with this project's backend in its environment."""
        return subprocess.run(
            [sys.executable, str(SCRIPT), "--stack", self.stack, *args, "--project-dir", str(self.dir)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )


MakeProject = Callable[..., CliProject]


@pytest.fixture
def cli_project(tmp_path: Path, pulumi_cli: Engine) -> MakeProject:
    """Makes a CliProject for a stack and its file's text (``init=False``: the backend has no such stack)."""
    made = 0

    def make(stack: str, text: str, *, init: bool = True) -> CliProject:
        nonlocal made
        made += 1
        return CliProject(tmp_path / f"{stack}-{made}", pulumi_cli, stack, text, init=init)

    return make


def committed(stack: str) -> str:
    return (REPO / f"Pulumi.{stack}.yaml").read_text()


# --- the committed stack files are in the CLI's form -------------------------------------


@pytest.mark.engine
@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize(("key", "value"), RUNBOOK_KEYS, ids=[k for k, _ in RUNBOOK_KEYS])
def test_each_runbook_config_set_changes_exactly_one_line_of_the_stack_file(
    cli_project: MakeProject, stack: str, key: str, value: str
) -> None:
    cli = cli_project(stack, committed(stack))

    cli.pulumi("config", "set", "--path", f"perfstack:{key}", value, "--stack", stack)

    after = cli.stack_file.read_text()
    assert len(changed_lines(committed(stack), after)) == 2, changed_lines(committed(stack), after)
    assert list(changed_leaves(committed(stack), after)) == [("config", *f"perfstack:{key}".split("."))]


# --- each action, with the real CLI -------------------------------------------------------


@pytest.mark.engine
@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize(("action", "extra", "path", "value"), ACTIONS, ids=[a[0] for a in ACTIONS])
def test_each_action_changes_exactly_its_one_line(
    cli_project: MakeProject, stack: str, action: str, extra: list[str], path: tuple[str, ...], value: object
) -> None:
    cli = cli_project(stack, committed(stack))

    result = cli.rollback("--action", action, *extra)

    assert result.returncode == 0, result.stderr
    after = cli.stack_file.read_text()
    assert len(changed_lines(committed(stack), after)) == 2
    old = flatten(yaml.safe_load(committed(stack)))[("config", *path)]
    assert changed_leaves(committed(stack), after) == {("config", *path): (old, value)}


@pytest.mark.engine
def test_a_rollback_reports_the_key_and_its_old_and_new_value(cli_project: MakeProject) -> None:
    cli = cli_project("production", committed("production"))

    result = cli.rollback("--action", "kill-switch")

    assert result.stdout == "set perfstack:killSwitch: false -> true in Pulumi.production.yaml\n"


@pytest.mark.engine
def test_comments_and_flow_mappings_are_kept(cli_project: MakeProject) -> None:
    cli = cli_project("production", COMMENTED)

    result = cli.rollback("--action", "canary-off")

    assert result.returncode == 0, result.stderr
    assert cli.stack_file.read_text() == COMMENTED.replace("weight: 10}", "weight: 0}")


@pytest.mark.engine
def test_an_absent_kill_switch_line_is_added_at_the_end_of_config(cli_project: MakeProject) -> None:
    text = "config:\n  perfstack:platform: docker\n  perfstack:services:\n    api: {stable: {version: '1'}}\n"
    cli = cli_project("staging", text)

    result = cli.rollback("--action", "kill-switch")

    assert result.returncode == 0, result.stderr
    assert cli.stack_file.read_text() == text + '  perfstack:killSwitch: "true"\n'


@pytest.mark.engine
def test_a_rollback_after_the_kill_switch_still_changes_one_line(cli_project: MakeProject) -> None:
    cli = cli_project("production", committed("production"))
    cli.rollback("--action", "kill-switch")
    before = cli.stack_file.read_text()

    result = cli.rollback("--action", "version-back", "--version", "1.4.1")

    assert result.returncode == 0, result.stderr
    assert changed_lines(before, cli.stack_file.read_text()) == [
        '-         version: "1.4.2"',
        '+         version: "1.4.1"',
    ]


@pytest.mark.engine
def test_only_the_chosen_stack_file_is_touched(cli_project: MakeProject) -> None:
    cli = cli_project("production", committed("production"))
    shutil.copy(REPO / "Pulumi.staging.yaml", cli.dir)

    cli.rollback("--action", "kill-switch")

    assert (cli.dir / "Pulumi.staging.yaml").read_text() == committed("staging")


# --- the one-key guard: refused, and the file restored byte for byte ----------------------


@pytest.mark.engine
def test_an_edit_the_cli_would_spread_over_two_lines_is_refused_and_the_file_restored(
    cli_project: MakeProject,
) -> None:
    # The CLI normalises the two spaces before "# where it runs" to one: a second changed line.
    text = COMMENTED.replace("kubernetes # where", "kubernetes  # where")
    cli = cli_project("production", text)
    before = cli.stack_file.read_bytes()

    result = cli.rollback("--action", "canary-off")

    assert result.returncode == 2
    assert "perfstack:services.api.canary.weight: `pulumi config set` would change 2 lines" in result.stderr
    assert cli.stack_file.read_bytes() == before


@pytest.mark.engine
def test_an_edit_the_cli_would_make_to_another_key_is_refused_and_the_file_restored(
    cli_project: MakeProject,
) -> None:
    # A bare `false` at the top level: the CLI would rewrite it as the string "false".
    text = COMMENTED.replace('killSwitch: "false"', "killSwitch: false")
    cli = cli_project("production", text)
    before = cli.stack_file.read_bytes()

    result = cli.rollback("--action", "canary-off")

    assert result.returncode == 2
    assert (
        "perfstack:services.api.canary.weight: `pulumi config set` would also change perfstack:killSwitch"
        in result.stderr
    )
    assert cli.stack_file.read_bytes() == before


@pytest.mark.engine
def test_a_failing_cli_is_reported_with_the_key_and_the_file_left_as_it_was(cli_project: MakeProject) -> None:
    cli = cli_project("production", committed("production"), init=False)  # no such stack in the backend

    result = cli.rollback("--action", "canary-off")

    assert result.returncode == 2
    assert "perfstack:services.api.canary.weight: `pulumi config set` failed" in result.stderr
    assert cli.stack_file.read_text() == committed("production")


# --- without the CLI: the dry run, and input refused before any edit ---------------------


def test_a_dry_run_reports_the_change_and_writes_nothing(project: Path) -> None:
    before = (project / "Pulumi.production.yaml").read_text()

    code, out, _ = run(project, "--stack", "production", "--action", "canary-off", "--dry-run")

    assert code == 0
    assert out == "would set perfstack:services.api.canary.weight: 10 -> 0 in Pulumi.production.yaml\n"
    assert (project / "Pulumi.production.yaml").read_text() == before


def test_a_dry_run_needs_no_pulumi_cli(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))

    code, _, err = run(project, "--stack", "production", "--action", "kill-switch", "--dry-run")

    assert code == 0, err


def test_a_missing_pulumi_cli_is_a_clear_error(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    before = (project / "Pulumi.production.yaml").read_bytes()

    code, _, err = run(project, "--stack", "production", "--action", "canary-off")

    assert code == 2
    assert "perfstack:services.api.canary.weight: the pulumi CLI is not on PATH" in err
    assert (project / "Pulumi.production.yaml").read_bytes() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--action", "canary-off", "--service", "web"], "perfstack:services.web: no such service"),
        (["--action", "version-back"], "version-back needs --version"),
        (["--action", "version-back", "--version", "1.4.2"], "is already 1.4.2"),
        (["--action", "version-back", "--version", "1.4.1\n  killSwitch: true"], "not a valid image tag"),
        (["--action", "version-back", "--version=--stack=staging"], "not a valid image tag"),
        (["--action", "canary-off", "--version", "1.4.1"], "--version is only for version-back"),
    ],
    ids=[
        "unknown-service",
        "missing-version",
        "same-version",
        "version-not-a-tag",
        "version-like-a-flag",
        "version-for-canary-off",
    ],
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


def test_a_canary_off_at_weight_0_is_refused_as_a_no_op(project: Path) -> None:
    stack_file = project / "Pulumi.staging.yaml"
    stack_file.write_text(stack_file.read_text().replace("weight: 25", "weight: 0"))

    code, _, err = run(project, "--stack", "staging", "--action", "canary-off")

    assert code == 2
    assert "perfstack:services.api.canary.weight is already 0" in err


@pytest.mark.parametrize("written", ['"true"', "true"], ids=["as-the-cli-writes-it", "bare"])
def test_a_kill_switch_already_on_is_refused_as_a_no_op(project: Path, written: str) -> None:
    stack_file = project / "Pulumi.staging.yaml"
    stack_file.write_text(stack_file.read_text().replace('killSwitch: "false"', f"killSwitch: {written}"))

    code, _, err = run(project, "--stack", "staging", "--action", "kill-switch")

    assert code == 2
    assert "perfstack:killSwitch is already true" in err


# --- a re-run: the rollback already in the stack file -------------------------------------


def test_with_if_needed_a_rollback_already_made_is_a_success_that_edits_nothing(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))  # no CLI: nothing may be edited
    stack_file = project / "Pulumi.staging.yaml"
    stack_file.write_text(stack_file.read_text().replace("weight: 25", "weight: 0"))
    before = stack_file.read_bytes()

    code, out, err = run(project, "--stack", "staging", "--action", "canary-off", "--if-needed")

    assert (code, err) == (0, "")
    assert (
        out == "perfstack:services.api.canary.weight is already 0: nothing to edit in Pulumi.staging.yaml\n"
    )
    assert stack_file.read_bytes() == before


def test_if_needed_still_refuses_bad_input(project: Path) -> None:
    code, _, err = run(
        project, "--stack", "production", "--action", "canary-off", "--service", "web", "--if-needed"
    )

    assert code == 2
    assert "perfstack:services.web: no such service" in err
