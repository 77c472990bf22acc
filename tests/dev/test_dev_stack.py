"""The dev stack: the demo app built locally for both tracks, a load generator, sized for a laptop."""

import re
from pathlib import Path
from typing import Any

import pytest

from infra.loader import ConfigError
from infra.mockrun import MockedResource, ProgramRun, run_program
from tests.conftest import KNOWN_SECRETS

PROJECT_DIR = Path(__file__).resolve().parents[2]
BUILT_IMAGE = "docker:index/image:Image"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
CONTAINER = "docker:index/container:Container"


def container(run: ProgramRun, name: str) -> MockedResource:
    return run.get(CONTAINER, name)


def test_both_tracks_run_the_demo_app_built_from_the_repository_without_a_registry(dev: ProgramRun) -> None:
    built = {r.name: r.inputs for r in dev.of_type(BUILT_IMAGE)}

    assert built["api-stable-image"]["imageName"] == "perfstack/demo:1.0.0"
    assert built["api-canary-image"]["imageName"] == "perfstack/demo:1.1.0"
    for inputs in built.values():
        assert inputs["build"] == {"context": "demo"}
        assert inputs["skipPush"] is True
    assert not [r for r in dev.of_type(REMOTE_IMAGE) if r.name.startswith("api-")]


def test_each_track_container_runs_its_build_by_digest_not_by_tag(dev: ProgramRun) -> None:
    # A rebuild keeps the tag: a container naming the tag would never be replaced and would keep
    # running the old build. The build's repoDigest (a local build's image id) changes with it.
    for track in ("api-stable", "api-canary"):
        image = dev.get(BUILT_IMAGE, f"{track}-image")
        assert container(dev, track).inputs["image"] == image.state["repoDigest"]
        assert container(dev, track).inputs["image"].startswith("sha256:")


def test_the_load_generator_sends_users_requests_through_the_router(dev: ProgramRun) -> None:
    loadgen = container(dev, "loadgen").inputs

    assert loadgen["entrypoints"] == [
        *("python", "-m", "perfstack_demo.loadgen", "--target", "http://router:8080"),
        *("--rps", "5", "--users", "50"),
    ]
    assert dev.get(BUILT_IMAGE, "loadgen-image").inputs["imageName"] == "perfstack/demo:loadgen"
    assert loadgen["image"] == dev.get(BUILT_IMAGE, "loadgen-image").state["repoDigest"]


def test_the_demo_image_runs_as_the_user_the_platform_gives_the_app(dev: ProgramRun) -> None:
    dockerfile = (PROJECT_DIR / "demo" / "Dockerfile").read_text()
    user = re.search(r"^USER (\d+)", dockerfile, re.M)

    assert user
    assert container(dev, "api-stable").inputs["user"] == user.group(1)


def test_every_container_fits_a_laptop(dev: ProgramRun) -> None:
    memory_mb = sum(r.inputs.get("memory", 0) for r in dev.of_type(CONTAINER))

    assert memory_mb <= 3 * 1024


def test_dev_needs_only_the_redis_and_grafana_passwords() -> None:
    secrets = {k: v for k, v in KNOWN_SECRETS.items() if k in ("redisPassword", "grafanaAdminPassword")}

    assert run_program("dev", secrets=secrets, placeholder_secrets=False).resources


def test_a_missing_secret_says_how_to_set_it_for_dev() -> None:
    with pytest.raises(ConfigError, match=re.escape("perfstack:redisPassword <value> --stack dev")):
        run_program("dev", secrets={"grafanaAdminPassword": "x"}, placeholder_secrets=False)


BAD = [
    (
        "a local build on kubernetes",
        "production",
        {"services.api.build": {"context": "demo"}},
        "perfstack:services.api.build: only for platform docker",
    ),
    (
        "a load generator on kubernetes",
        "production",
        {"loadGenerator": {"service": "api"}},
        "perfstack:loadGenerator: only for platform docker",
    ),
    (
        "a load generator for a service that does not exist",
        "dev",
        {"loadGenerator.service": "web"},
        "perfstack:loadGenerator.service: 'web' is not a routed service (routed: api)",
    ),
    (
        "a build context without a Dockerfile",
        "dev",
        {"services.api.build.context": "docs"},
        "perfstack:services.api.build.context: 'docs' has no Dockerfile",
    ),
    (
        "a build context outside the project",
        "dev",
        {"services.api.build.context": "../shared"},
        "perfstack:services.api.build.context: '../shared' must be a path inside the project",
    ),
    (
        "a negative request rate",
        "dev",
        {"loadGenerator.requestsPerSecond": -1},
        "perfstack:loadGenerator.requestsPerSecond: Input should be greater than 0",
    ),
]


@pytest.mark.parametrize(("stack", "overrides", "message"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_dev_config_names_the_key_and_declares_nothing(
    stack: str, overrides: dict[str, Any], message: str
) -> None:
    declared: list[MockedResource] = []
    with pytest.raises(ConfigError) as error:
        run_program(stack, overrides=overrides, secrets=KNOWN_SECRETS, declared=declared)
    assert any(problem.startswith(message) for problem in error.value.problems), error.value.problems
    assert declared == []
