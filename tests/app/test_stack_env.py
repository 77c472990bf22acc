"""The app env each stack file produces: tracing, Redis wiring, flags as the seeds name them."""

from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

from infra.mockrun import ProgramRun

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"


def container_env(run: ProgramRun, workload: str) -> dict[str, str]:
    """The plain env of a workload's container, on either platform."""
    for resource in run.resources:
        if resource.type == "kubernetes:apps/v1:Deployment" and resource.name == workload:
            (container,) = resource.inputs["spec"]["template"]["spec"]["containers"]
            return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
        if resource.type == "docker:index/container:Container" and resource.name == workload:
            return dict(e.split("=", 1) for e in resource.inputs.get("envs", []))
    raise KeyError(workload)


def test_production_env_makes_the_opentelemetry_sdk_keep_a_tenth_of_new_traces(
    production: ProgramRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in container_env(production, "api-stable").items():
        if key.startswith("OTEL_"):
            monkeypatch.setenv(key, value)

    sampler = TracerProvider().sampler  # the SDK builds it from OTEL_TRACES_SAMPLER(_ARG)

    assert sampler.get_description().startswith("ParentBased{root:TraceIdRatioBased{0.1}")


def test_staging_env_makes_the_opentelemetry_sdk_keep_every_trace(
    staging: ProgramRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in container_env(staging, "api-canary").items():
        if key.startswith("OTEL_"):
            monkeypatch.setenv(key, value)

    assert TracerProvider().sampler.get_description().startswith("ParentBased{root:TraceIdRatioBased{1.0}")


def test_sentinel_mode_gives_apps_only_the_sentinels_so_no_client_writes_to_a_replica(
    production: ProgramRun,
) -> None:
    env = container_env(production, "api-stable")

    assert "REDIS_HOST" not in env and "REDIS_PORT" not in env
    assert env["REDIS_MASTER_NAME"] == "perfstack"
    assert len(env["REDIS_SENTINELS"].split(",")) == 3


def test_standalone_redis_gives_apps_host_and_port(staging: ProgramRun) -> None:
    env = container_env(staging, "api-stable")

    assert (env["REDIS_HOST"], env["REDIS_PORT"]) == ("redis", "6379")
    assert "REDIS_SENTINELS" not in env


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_stack_flags_are_the_seeds_flags(stack: str, request: pytest.FixtureRequest) -> None:
    # 000_44c683d9d4181172.txt: "export ENABLE_CONTEXT_PRUNING=true / ENABLE_RESPONSE_CACHING=true /
    # ENABLE_PROMPT_OPTIMIZATION=true / ENABLE_MODEL_SELECTION=true" and FF_<same>=100 rollouts;
    # 001_607114dfb78e34cf.txt: "apiCaching: process.env.FEATURE_API_CACHING === 'true'".
    seeds = (SEEDS / "000_44c683d9d4181172.txt").read_text() + (
        SEEDS / "001_607114dfb78e34cf.txt"
    ).read_text()
    env = container_env(request.getfixturevalue(stack), "api-stable")
    flags = {k.removeprefix("FF_") for k in env if k.startswith("FF_")}

    assert flags == {
        "API_CACHING",
        "CONTEXT_PRUNING",
        "MODEL_SELECTION",
        "PROMPT_OPTIMIZATION",
        "RESPONSE_CACHING",
    }
    for flag in flags:
        assert f"_{flag}=" in seeds, flag
