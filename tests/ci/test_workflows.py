"""The GitHub workflows, checked statically: they lint, and they say what DESIGN.md's CI promises.

Nothing here runs a workflow (there is no runner and no Pulumi CLI on these
machines); each test reads the YAML the way GitHub would.
"""

import re
import subprocess
from typing import Any

import pytest

from tests.ci.helpers import REPO, WORKFLOWS_DIR, load_script, load_workflow
from tools.build import pulumi_release

guard = load_script("stateful_guard")
rollback = load_script("rollback_config")

WORKFLOWS = ("preview.yml", "deploy.yml", "rollback.yml", "rollout.yml", "apply.yml", "drift.yml")
STACKS = {"staging", "production"}
BACKEND_SECRETS = {"PULUMI_ACCESS_TOKEN", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE"}
# The targets' and the judge's (docs/ci-cd.md, "Secrets"), each named in preflight.py.
TARGET_SECRETS = {
    "KUBECONFIG_DATA",
    "DOCKER_HOST",
    "DOCKER_SSH_KEY",
    "DOCKER_SSH_KNOWN_HOSTS",
    "PERFSTACK_PROMETHEUS_URL",
    "STAGING_PROMETHEUS_URL",
    "PRODUCTION_PROMETHEUS_URL",
}
ALLOWED_SECRETS = BACKEND_SECRETS | TARGET_SECRETS
PULUMI_ACTION = "pulumi/actions@v6"

SECRET_REFERENCE = re.compile(r"\$\{\{\s*secrets\.([A-Za-z0-9_]+)\s*\}\}")
# Credentials that must never appear literally in a workflow.
LITERAL_SECRETS = (
    re.compile(r"\bpul-[0-9a-f]{40}\b"),  # Pulumi access token
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"),  # GitHub tokens
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"https://hooks\.slack\.com/\S+"),  # Slack webhook
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
)
# `KEY: value` lines whose key names a credential; the value must be an expression.
SECRET_KEY_LINE = re.compile(
    r"^\s*(?:-\s+)?(?P<key>[\w.-]*(?:password|passphrase|token|secret|api[_-]?key|webhook|backend_url)[\w.-]*)"
    r"\s*:\s*(?P<value>\S.*)$",
    re.IGNORECASE,
)


def workflow(name: str) -> dict[str, Any]:
    return load_workflow(name)


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps", [])


def pulumi_steps(job: dict[str, Any], command: str) -> list[dict[str, Any]]:
    return [
        s
        for s in steps(job)
        if s.get("uses") == PULUMI_ACTION and s.get("with", {}).get("command") == command
    ]


def step_index(job: dict[str, Any], predicate: Any) -> int:
    matches = [i for i, s in enumerate(steps(job)) if predicate(s)]
    assert matches, "no such step"
    return matches[0]


def runs(fragment: str) -> Any:
    return lambda s: fragment in s.get("run", "")


def up_jobs() -> list[tuple[str, str, dict[str, Any]]]:
    """(workflow, job id, job) for every job that runs `pulumi up`."""
    return [
        (name, job_id, job)
        for name in WORKFLOWS
        for job_id, job in workflow(name)["jobs"].items()
        if pulumi_steps(job, "up")
    ]


def up_job_params() -> list[Any]:
    return [pytest.param(name, job_id, job, id=f"{name}:{job_id}") for name, job_id, job in up_jobs()]


def job_stack(job: dict[str, Any]) -> str:
    """The stack a job deploys: its STACK variable, which its steps use."""
    return job.get("env", {}).get("STACK", "")


def literal_secrets(text: str) -> list[str]:
    """Literal credentials in a workflow: known token shapes, and credential keys given literal values."""
    found = [match.group(0) for pattern in LITERAL_SECRETS for match in pattern.finditer(text)]
    for line in text.splitlines():
        match = SECRET_KEY_LINE.match(line)
        if match and not match["value"].startswith("${{") and match["value"] != "inherit":
            found.append(line.strip())
    return found


def test_the_workflows_are_the_ones_described() -> None:
    assert sorted(p.name for p in WORKFLOWS_DIR.glob("*.y*ml")) == sorted(WORKFLOWS)


# --- actionlint -------------------------------------------------------------------


@pytest.mark.parametrize("name", WORKFLOWS)
def test_actionlint_passes(actionlint: str, name: str) -> None:
    result = subprocess.run(
        [actionlint, "-no-color", "-oneline", str(WORKFLOWS_DIR / name)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_knows_the_pulumi_action_inputs(actionlint: str) -> None:
    broken = (WORKFLOWS_DIR / "preview.yml").read_text().replace("comment-on-pr:", "coment-on-pr:")

    result = subprocess.run(
        [actionlint, "-no-color", "-oneline", "-"], input=broken, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 1
    assert '"coment-on-pr" is not defined' in result.stdout


# --- preview.yml ------------------------------------------------------------------------


def test_preview_runs_on_pull_requests() -> None:
    assert "pull_request" in workflow("preview.yml")["on"]


def test_preview_runs_the_test_suite_through_the_projects_ci_script() -> None:
    test_job = workflow("preview.yml")["jobs"]["test"]

    assert [s["run"] for s in steps(test_job) if "run" in s] == [".ci/run"]
    assert test_job["env"]["PERFSTACK_REQUIRE_TOOLS"] == "1"


def test_the_ci_script_installs_the_debian_packages_the_tests_run() -> None:
    script = (REPO / ".ci" / "run").read_text()

    for package in (
        "redis-server",
        "redis-sentinel",
        "nginx-light",
        "shellcheck",
        "prometheus-redis-exporter",
    ):
        assert re.search(rf"apt-get install .*\b{re.escape(package)}\b", script), package


def test_preview_tests_run_the_engine_the_tools_build_not_an_installed_cli() -> None:
    test_job = workflow("preview.yml")["jobs"]["test"]

    assert not [s for s in steps(test_job) if s.get("uses", "").startswith("pulumi/actions@")]
    assert "--skip" not in (REPO / ".ci" / "run").read_text()


def test_preview_job_covers_both_stacks_after_the_tests() -> None:
    job = workflow("preview.yml")["jobs"]["preview"]

    assert set(job["strategy"]["matrix"]["stack"]) == STACKS
    assert job["needs"] == "test"


def test_preview_posts_the_diff_on_the_pull_request() -> None:
    job = workflow("preview.yml")["jobs"]["preview"]
    (preview,) = pulumi_steps(job, "preview")

    assert preview["with"]["stack-name"] == "${{ matrix.stack }}"
    assert preview["with"]["diff"] is True
    assert preview["with"]["comment-on-pr"] is True


def test_preview_uploads_each_stacks_render() -> None:
    job = workflow("preview.yml")["jobs"]["preview"]
    render = step_index(job, runs('-m infra render "$STACK" --out "render/$STACK"'))
    upload = step_index(job, lambda s: s.get("uses") == "actions/upload-artifact@v4")

    assert render < upload
    assert steps(job)[upload]["with"]["path"] == "render/${{ matrix.stack }}"
    assert job["env"]["STACK"] == "${{ matrix.stack }}"


# --- apply.yml: the one path to a stack ---------------------------------------------------


def apply_jobs() -> dict[str, Any]:
    return workflow("apply.yml")["jobs"]


def test_only_apply_yml_runs_pulumi_up() -> None:
    updating = {
        (name, job_id)
        for name in WORKFLOWS
        for job_id, job in workflow(name)["jobs"].items()
        if any("pulumi up" in s.get("run", "") for s in steps(job)) or pulumi_steps(job, "up")
    }

    assert updating == {("apply.yml", "up")}


@pytest.mark.parametrize("name", ["deploy.yml", "rollback.yml", "rollout.yml"])
def test_every_change_reaches_its_stack_through_apply_yml(name: str) -> None:
    callers = [job for job in workflow(name)["jobs"].values() if "uses" in job]

    assert callers
    assert {job["uses"] for job in callers} == {"./.github/workflows/apply.yml"}
    assert all(job["secrets"] == "inherit" for job in callers)


def test_the_update_holds_its_stacks_concurrency_group_and_is_never_cancelled() -> None:
    assert apply_jobs()["up"]["concurrency"] == {
        "group": "pulumi-${{ inputs.stack }}",
        "cancel-in-progress": False,
    }


@pytest.mark.parametrize("job_id", ["plan", "up"])
def test_the_stale_check_is_the_first_step_after_checkout(job_id: str) -> None:
    job = apply_jobs()[job_id]

    assert steps(job)[0]["uses"] == "actions/checkout@v4"
    assert steps(job)[0]["with"] == {"ref": "${{ inputs.ref }}", "fetch-depth": 0}
    assert ".github/scripts/stale_run.py" in steps(job)[1]["run"]
    assert all(s.get("if", "").startswith("steps.stale.outputs.stale == 'false'") for s in steps(job)[2:])


@pytest.mark.parametrize("job_id", ["plan", "up"])
def test_preflight_runs_before_any_pulumi_command(job_id: str) -> None:
    job = apply_jobs()[job_id]
    first_pulumi = step_index(job, lambda s: "pulumi " in s.get("run", ""))

    assert step_index(job, runs(".github/scripts/preflight.py")) < first_pulumi


def test_the_update_refreshes_and_is_guarded_first() -> None:
    job = apply_jobs()["up"]
    up = step_index(job, runs("pulumi up"))

    assert "--refresh" in steps(job)[up]["run"]
    assert step_index(job, runs("python .github/scripts/stateful_guard.py preview.json")) < up
    assert step_index(job, runs("blast_radius.py preview.json")) < up
    assert "--refresh" in steps(job)[step_index(job, runs("pulumi preview"))]["run"]


def test_an_update_not_approved_must_still_prove_itself_a_rollout_step() -> None:
    job = apply_jobs()["up"]
    radius = steps(job)[step_index(job, runs("blast_radius.py preview.json"))]

    assert "--require-unreviewed" in radius["run"]
    assert "env.APPROVED != 'true'" in radius["if"]


def test_reviewers_hold_only_the_approve_job_and_the_credentials_only_the_others() -> None:
    jobs = apply_jobs()

    assert jobs["approve"]["environment"] == "${{ inputs.stack }}-approval"
    assert jobs["plan"]["environment"] == jobs["up"]["environment"] == "${{ inputs.stack }}"
    assert "secrets." not in repr(jobs["approve"])


# --- deploy.yml, rollback.yml, rollout.yml, drift.yml -----------------------------------------


def test_deploy_runs_on_push_to_main() -> None:
    assert workflow("deploy.yml")["on"]["push"]["branches"] == ["main"]


def test_deploy_applies_staging_then_production_at_the_pushed_commit_with_reviewers() -> None:
    jobs = workflow("deploy.yml")["jobs"]

    assert jobs["production"]["needs"] == "staging"
    for stack in STACKS:
        assert jobs[stack]["with"]["stack"] == stack
        assert jobs[stack]["with"]["ref"] == "${{ github.sha }}"
        assert "unreviewed" not in jobs[stack]["with"]


def test_a_manual_deploy_can_allow_stateful_replacement_with_the_input_the_guard_reads() -> None:
    inputs = workflow("deploy.yml")["on"]["workflow_dispatch"]["inputs"]

    assert inputs[guard.DISPATCH_INPUT]["type"] == "boolean"
    assert inputs[guard.DISPATCH_INPUT]["default"] is False


def test_rollback_is_dispatched_with_the_described_inputs() -> None:
    inputs = workflow("rollback.yml")["on"]["workflow_dispatch"]["inputs"]

    assert set(inputs["stack"]["options"]) == STACKS
    assert inputs["service"]["default"] == "api"
    assert tuple(inputs["action"]["options"]) == rollback.ACTIONS
    assert inputs["version"]["type"] == "string"


def test_rollback_commits_if_needed_then_applies_main_without_waiting_for_a_reviewer() -> None:
    jobs = workflow("rollback.yml")["jobs"]
    commit = jobs["commit"]
    edit = step_index(commit, runs(".github/scripts/rollback_config.py"))

    assert "--if-needed" in steps(commit)[edit]["run"]
    assert edit < step_index(commit, runs(".github/scripts/land_change.py"))
    assert jobs["apply"]["needs"] == "commit"
    assert jobs["apply"]["with"]["ref"] == "${{ needs.commit.outputs.sha }}"
    assert jobs["apply"]["with"]["unreviewed"] is True


def test_rollback_validates_the_input_before_committing() -> None:
    jobs = workflow("rollback.yml")["jobs"]

    assert step_index(jobs["check"], runs("--dry-run")) >= 0
    assert jobs["commit"]["needs"] == "check"
    assert "secrets." not in repr(jobs["check"])


def test_the_rollout_runs_on_a_schedule_on_demand_and_on_a_canary_alert() -> None:
    on = workflow("rollout.yml")["on"]

    assert on["schedule"] and "workflow_dispatch" in on
    assert on["repository_dispatch"]["types"] == ["canary-alert"]


def test_both_stacks_rollout_jobs_run_the_same_steps() -> None:
    jobs = workflow("rollout.yml")["jobs"]

    assert steps(jobs["judge-staging"]) == steps(jobs["judge-production"])
    assert jobs["judge-production"]["env"]["STACK"] == "production"


def test_the_rollout_judges_lands_and_applies_through_the_same_script_the_e2e_test_runs() -> None:
    jobs = workflow("rollout.yml")["jobs"]
    judge = jobs["judge-production"]

    assert step_index(judge, runs('preflight.py --stack "$STACK" --prometheus')) < step_index(
        judge, runs(".github/scripts/rollout_ci.py")
    )
    assert jobs["apply-production"]["with"]["ref"] == "${{ needs.judge-production.outputs.sha }}"
    assert jobs["apply-production"]["with"]["unreviewed"] is True


def test_drift_is_checked_nightly_per_stack_against_the_live_state() -> None:
    drift = workflow("drift.yml")
    job = drift["jobs"]["drift"]
    check = steps(job)[step_index(job, runs("pulumi preview"))]

    assert drift["on"]["schedule"]
    assert set(job["strategy"]["matrix"]["stack"]) == STACKS
    assert "--refresh --expect-no-changes" in check["run"]
    assert steps(job)[step_index(job, runs("gh issue create"))]["if"] == "failure()"


# --- every workflow ----------------------------------------------------------------------


@pytest.mark.parametrize("name", WORKFLOWS)
def test_every_pulumi_command_runs_the_policy_pack(name: str) -> None:
    for job in workflow(name)["jobs"].values():
        for step in steps(job):
            if step.get("uses") == PULUMI_ACTION and "command" in step.get("with", {}):
                assert step["with"]["policyPacks"] == "policy"
            if re.search(r"pulumi (preview|up)", step.get("run", "")):
                assert "--policy-pack policy" in step["run"]


def runs_the_policy_pack(job: dict[str, Any]) -> bool:
    return any(
        (s.get("uses") == PULUMI_ACTION and "policyPacks" in s.get("with", {}))
        or "--policy-pack" in s.get("run", "")
        for s in steps(job)
    )


@pytest.mark.parametrize("name", WORKFLOWS)
def test_every_job_that_runs_the_policy_pack_names_its_stack_for_it(name: str) -> None:
    # The pack is advisory on staging and mandatory elsewhere; it learns the stack from
    # PULUMI_STACK, which the CLI passes on but does not set (tests/engine/test_policy_pack.py).
    for job in workflow(name)["jobs"].values():
        if runs_the_policy_pack(job):
            assert job["env"]["PULUMI_STACK"] == job_stack(job) != ""


@pytest.mark.parametrize("name", WORKFLOWS)
def test_the_pulumi_cli_is_the_release_the_engine_tests_build(name: str) -> None:
    versions = {
        step["with"]["pulumi-version"]
        for job in workflow(name)["jobs"].values()
        for step in steps(job)
        if step.get("uses") == PULUMI_ACTION
    }

    assert versions <= {pulumi_release().lstrip("v")}


def test_the_python_sdk_is_not_newer_than_the_cli() -> None:
    sdk = re.search(r"^pulumi==(\S+)$", (REPO / "requirements.txt").read_text(), re.M)
    assert sdk

    def release(version: str) -> tuple[int, ...]:
        return tuple(int(part) for part in version.lstrip("v").split("."))

    assert release(sdk.group(1)) <= release(pulumi_release())


@pytest.mark.parametrize("name", WORKFLOWS)
def test_update_checks_are_off(name: str) -> None:
    assert workflow(name)["env"]["PULUMI_SKIP_UPDATE_CHECK"] == "true"


# --- permissions and secrets ------------------------------------------------------------


@pytest.mark.parametrize("name", WORKFLOWS)
def test_the_default_token_can_only_read(name: str) -> None:
    assert workflow(name)["permissions"] == {"contents": "read"}


def job_permissions() -> list[tuple[str, str, dict[str, str]]]:
    return [
        (name, job_id, job["permissions"])
        for name in WORKFLOWS
        for job_id, job in workflow(name)["jobs"].items()
        if "permissions" in job
    ]


def test_only_the_preview_and_the_judge_may_write_pull_requests() -> None:
    commenting = {(n, j) for n, j, p in job_permissions() if p.get("pull-requests") == "write"}

    assert commenting == {
        ("preview.yml", "preview"),
        ("rollout.yml", "judge-staging"),
        ("rollout.yml", "judge-production"),
    }


def test_only_the_rollback_and_rollout_commits_may_push() -> None:
    pushing = {(n, j) for n, j, p in job_permissions() if p.get("contents") == "write"}

    assert pushing == {
        ("rollback.yml", "commit"),
        ("rollout.yml", "judge-staging"),
        ("rollout.yml", "judge-production"),
    }


def test_no_job_asks_for_more_than_it_needs() -> None:
    granted = {(scope, level) for _, _, p in job_permissions() for scope, level in p.items()}

    assert granted <= {
        ("contents", "read"),
        ("contents", "write"),
        ("pull-requests", "write"),
        ("issues", "write"),
    }


@pytest.mark.parametrize("name", WORKFLOWS)
def test_no_workflow_contains_a_literal_secret(name: str) -> None:
    assert literal_secrets((WORKFLOWS_DIR / name).read_text()) == []


@pytest.mark.parametrize("name", WORKFLOWS)
def test_secrets_are_only_the_documented_ones_referenced_by_name(name: str) -> None:
    text = (WORKFLOWS_DIR / name).read_text()

    assert set(SECRET_REFERENCE.findall(text)) <= ALLOWED_SECRETS
    assert len(SECRET_REFERENCE.findall(text)) == text.count("secrets."), (
        "secrets used other than ${{ secrets.X }}"
    )


def test_the_secret_scan_finds_literal_credentials() -> None:
    leaky = (
        "env:\n"
        "  PULUMI_ACCESS_TOKEN: pul-0123456789abcdef0123456789abcdef01234567\n"
        "  PULUMI_CONFIG_PASSPHRASE: correct-horse\n"
        "  NOTIFY: https://hooks.slack.com/services/T000/B000/XXXX\n"
    )

    assert len(literal_secrets(leaky)) == 4  # the token twice (shape and key), the passphrase, the webhook
