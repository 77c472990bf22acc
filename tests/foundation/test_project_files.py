"""The project files agree with the code: the config reference, Pulumi.yaml, .ci/run, the tool pins."""

import re

import yaml

from infra.config import StackConfig
from infra.docs import REFERENCE_PAGE, config_reference, page_with_reference
from infra.mockrun import PROJECT_DIR
from infra.secrets import ALL_SECRET_KEYS
from tools.build import TOOLS, kubernetes_provider_release


def test_config_reference_page_matches_the_model() -> None:
    page = REFERENCE_PAGE.read_text()
    assert page == page_with_reference(page), "run `python -m infra.docs` to regenerate docs/configuration.md"


def test_every_config_field_has_a_description() -> None:
    reference = config_reference()
    undocumented = [
        line for line in reference.splitlines() if line.startswith("| `perfstack:") and line.endswith("|  |")
    ]
    assert not undocumented


def test_pulumi_yaml_declares_only_real_keys() -> None:
    project = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())
    assert project["name"] == "perfstack"
    assert project["runtime"]["name"] == "python"
    known = {f.alias for f in StackConfig.model_fields.values()} | {s.key for s in ALL_SECRET_KEYS}
    declared = {key.removeprefix("perfstack:") for key in project["config"]}
    assert declared <= known


def test_pulumi_yaml_marks_secret_keys_secret() -> None:
    project = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())
    secret_keys = {s.key for s in ALL_SECRET_KEYS}
    for key, spec in project["config"].items():
        assert spec.get("secret", False) == (key.removeprefix("perfstack:") in secret_keys), key


def test_stack_files_hold_no_plaintext_secret() -> None:
    for stack in ("staging", "production"):
        config = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())["config"]
        for secret in ALL_SECRET_KEYS:
            value = config.get(f"perfstack:{secret.key}")
            assert value is None or set(value) == {"secure"}, (stack, secret.key)


def test_ci_runs_the_readme_test_command() -> None:
    readme = (PROJECT_DIR / "README.md").read_text()
    command = re.search(
        r"^(python3 tools/build.py && python3 -m pip install -r requirements-dev.txt && python3 -m pytest)$",
        readme,
        re.M,
    )
    assert command
    ci = (PROJECT_DIR / ".ci" / "run").read_text()
    assert f"\n{command.group(1)}\n" in ci


def test_every_built_tool_comes_from_a_go_module_of_the_repository() -> None:
    # Each Go build is a module of our own in tools/go/<name> that requires what a
    # registry serves; nothing outside the repository (no copied kit) feeds a build.
    for tool in TOOLS.values():
        for source in tool.sources:
            assert source.parent == PROJECT_DIR / "tools" / "go", (tool.name, source)
            assert (source / "go.mod").is_file() and (source / "go.sum").is_file(), tool.name


def test_the_python_kubernetes_sdk_is_the_release_of_the_built_provider() -> None:
    pin = re.search(r"^pulumi-kubernetes==(\S+)$", (PROJECT_DIR / "requirements.txt").read_text(), re.M)

    assert pin and pin.group(1) == kubernetes_provider_release()
