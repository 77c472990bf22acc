"""policy/__main__.py: the rules wired into pulumi-policy, per-stack enforcement, and the analyzer protocol.

Constructing `PolicyPack` starts the analyzer's gRPC server and blocks, so
the pack is exercised two ways without an engine: in-process with
`PolicyPack` replaced by a recorder, and as the engine really runs it
(`python -m pulumi.policy ENGINE policy/` in a subprocess, with the stack in
PULUMI_STACK), talking to it over the Analyzer gRPC service the way the
engine does.
"""

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import EnforcementLevel, ResourceValidationArgs, ResourceValidationPolicy
from pulumi_policy.proxy import unknown_checking_proxy

from infra.mockrun import ProgramRun
from policy import rules

pack = importlib.import_module("policy.__main__")

PACK_DIR = Path(__file__).resolve().parents[2] / "policy"

LOADBALANCER = (
    "kubernetes:core/v1:Service",
    "web",
    {"metadata": {"name": "web"}, "spec": {"type": "LoadBalancer"}},
)


def args_for(resource_type: str, name: str, props: dict[str, Any]) -> ResourceValidationArgs:
    """What the analyzer hands a validation: the inputs behind pulumi_policy's unknown-checking proxy."""
    return ResourceValidationArgs(
        resource_type=resource_type,
        props=unknown_checking_proxy(props),
        urn=f"urn:pulumi:production::perfstack::{resource_type}::{name}",
        name=name,
        opts=None,  # type: ignore[arg-type]
        provider=None,
    )


def policy_named(name: str) -> ResourceValidationPolicy:
    return next(policy for policy in pack.build_policies() if policy.name == name)


# --- in process --------------------------------------------------------------------------


def test_every_rule_becomes_one_resource_validation_policy() -> None:
    policies = pack.build_policies()

    assert [p.name for p in policies] == [rule.name for rule in rules.RULES]
    assert all(isinstance(p, ResourceValidationPolicy) for p in policies)


def test_a_policy_reports_its_rules_messages_through_report_violation() -> None:
    reported: list[tuple[str, str | None]] = []

    policy_named("no-external-service-types").validate(
        args_for(*LOADBALANCER), lambda m, u=None: reported.append((m, u))
    )

    assert len(reported) == 1
    assert "Service type LoadBalancer" in reported[0][0]


def test_a_compliant_resource_reports_nothing() -> None:
    reported: list[str] = []
    props = {"metadata": {"name": "web"}, "spec": {"type": "ClusterIP"}}

    policy_named("no-external-service-types").validate(
        args_for("kubernetes:core/v1:Service", "web", props), lambda m, u=None: reported.append(m)
    )

    assert reported == []


@pytest.mark.parametrize(
    ("environ", "stack"),
    [
        ({"PULUMI_STACK": "production"}, "production"),
        ({"PULUMI_STACK": "acme/perfstack/staging"}, "staging"),
        ({}, ""),
    ],
)
def test_the_stack_comes_from_pulumi_stack(environ: dict[str, str], stack: str) -> None:
    assert pack.stack_from_environment(environ) == stack


@pytest.mark.parametrize(
    ("stack", "level"),
    [
        ("production", EnforcementLevel.MANDATORY),
        ("staging", EnforcementLevel.ADVISORY),
        ("", EnforcementLevel.MANDATORY),  # unknown: fail closed
    ],
)
def test_enforcement_is_mandatory_except_on_staging(stack: str, level: EnforcementLevel) -> None:
    assert pack.pack_enforcement(stack) is level


def test_every_policy_follows_the_pack_level() -> None:
    levels = {p.name: p.enforcement_level for p in pack.build_policies()}

    assert "redis-sentinel-ha" in levels
    assert set(levels.values()) == {None}


def test_main_builds_the_pack_for_the_engines_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[dict[str, Any]] = []
    monkeypatch.setattr(pack, "PolicyPack", lambda **kwargs: built.append(kwargs))

    pack.main({"PULUMI_STACK": "production"})

    (kwargs,) = built
    assert kwargs["name"] == "perfstack"
    assert kwargs["enforcement_level"] is EnforcementLevel.MANDATORY
    assert [p.name for p in kwargs["policies"]] == [rule.name for rule in rules.RULES]


# --- under the analyzer protocol -------------------------------------------------------------


def serve(stack: str) -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """The pack served as the engine starts it, for ``stack``; stopped afterwards."""
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", str(PACK_DIR)],
        env={**os.environ, "PULUMI_STACK": stack},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout
        port = int(process.stdout.readline())  # the analyzer announces its port on stdout
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=10)
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def production_analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    yield from serve("production")


@pytest.fixture(scope="module")
def staging_analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    yield from serve("staging")


def analyze(
    analyzer: analyzer_pb2_grpc.AnalyzerStub, resource_type: str, name: str, props: dict[str, Any]
) -> list[Any]:
    properties = struct_pb2.Struct()
    json_format.ParseDict(props, properties)
    request = analyzer_pb2.AnalyzeRequest(
        type=resource_type,
        name=name,
        properties=properties,
        urn=f"urn:pulumi:x::perfstack::{resource_type}::{name}",
    )
    return list(analyzer.Analyze(request).diagnostics)


def test_the_served_pack_lists_every_policy(production_analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = production_analyzer.GetAnalyzerInfo(empty_pb2.Empty())

    assert info.name == "perfstack"
    assert [p.name for p in info.policies] == [rule.name for rule in rules.RULES]


def test_production_violations_are_mandatory(production_analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    (diagnostic,) = analyze(production_analyzer, *LOADBALANCER)

    assert diagnostic.policyName == "no-external-service-types"
    assert diagnostic.enforcementLevel == analyzer_pb2.MANDATORY


def test_staging_violations_are_advisory(staging_analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    (diagnostic,) = analyze(staging_analyzer, *LOADBALANCER)

    assert diagnostic.enforcementLevel == analyzer_pb2.ADVISORY


def test_a_single_redis_node_is_a_mandatory_violation_in_production(
    production_analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    single_node = {"metadata": {"name": "redis"}, "spec": {"replicas": 1}}

    found = analyze(production_analyzer, "kubernetes:apps/v1:StatefulSet", "redis", single_node)

    (diagnostic,) = [d for d in found if d.policyName == "redis-sentinel-ha"]
    assert diagnostic.enforcementLevel == analyzer_pb2.MANDATORY


def test_the_production_stack_has_no_mandatory_violation_under_the_analyzer(
    production_analyzer: analyzer_pb2_grpc.AnalyzerStub, production: ProgramRun
) -> None:
    mandatory = [
        f"{resource.type} {resource.name}: {d.policyName}: {d.message}"
        for resource in production.resources
        for d in analyze(production_analyzer, resource.type, resource.name, resource.inputs)
        if d.enforcementLevel == analyzer_pb2.MANDATORY
    ]

    assert mandatory == []
