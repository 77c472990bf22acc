"""NetworkPolicies for paths that leave the namespace: DNS out, the Gateway's proxies in."""

from typing import Any

import pytest

from infra.loader import ConfigError
from infra.mockrun import MockedResource, ProgramRun
from tests.conftest import KNOWN_SECRETS, run_stack

POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
ENVOY = {
    "namespace": "envoy-gateway-system",
    "podLabels": {"gateway.envoyproxy.io/owning-gateway-name": "perfstack"},
}


def rules(run: ProgramRun, policy: str, direction: str) -> list[dict[str, Any]]:
    return run.get(POLICY, policy).inputs["spec"][direction]


def dns_destinations(run: ProgramRun) -> list[dict[str, Any]]:
    """The peers every pod may send DNS to (the egress policy that selects all pods)."""
    spec = run.get(POLICY, "allow-egress-all").inputs["spec"]
    assert spec["podSelector"] == {}
    return [peer for rule in spec["egress"] if rule["ports"] == DNS_PORTS for peer in rule["to"]]


def test_every_pod_may_ask_dns_pods_in_any_namespace(production: ProgramRun) -> None:
    # Whatever the DNS pods are labelled and wherever they run.
    assert {"namespaceSelector": {}} in dns_destinations(production)


def test_every_pod_may_ask_node_local_dns_cache(production: ProgramRun) -> None:
    assert {"ipBlock": {"cidr": "169.254.20.10/32"}} in dns_destinations(production)


def test_dns_egress_opens_port_53_only(production: ProgramRun) -> None:
    assert [rule["ports"] for rule in rules(production, "allow-egress-all", "egress")] == [DNS_PORTS] * 2


def test_app_ingress_defaults_to_the_gateways_namespace() -> None:
    run = run_stack("production", overrides={"kubernetes.gateway.namespace": "edge"})
    assert [rule["from"] for rule in rules(run, "allow-ingress-api", "ingress")] == [
        [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "edge"}}}]
    ]


def test_app_ingress_admits_the_configured_proxy_pods_only() -> None:
    run = run_stack("production", overrides={"kubernetes.ingressFrom": [ENVOY]})
    assert rules(run, "allow-ingress-api", "ingress") == [
        {
            "from": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "envoy-gateway-system"}
                    },
                    "podSelector": {
                        "matchLabels": {"gateway.envoyproxy.io/owning-gateway-name": "perfstack"}
                    },
                }
            ],
            "ports": [{"protocol": "TCP", "port": 8080}],
        }
    ]


def test_app_ingress_admits_every_configured_source() -> None:
    run = run_stack("production", overrides={"kubernetes.ingressFrom": [ENVOY, {"namespace": "gateway"}]})
    namespaces = [
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for rule in rules(run, "allow-ingress-api", "ingress")
        for peer in rule["from"]
    ]
    assert namespaces == ["envoy-gateway-system", "gateway"]


def test_changing_ingress_sources_touches_only_the_app_ingress_policy(production: ProgramRun) -> None:
    after = run_stack("production", overrides={"kubernetes.ingressFrom": [ENVOY]})
    old = {(r.type, r.name): r.inputs for r in production.resources if r.custom}
    new = {(r.type, r.name): r.inputs for r in after.resources if r.custom}
    assert {key for key in old.keys() | new.keys() if old.get(key) != new.get(key)} == {
        (POLICY, "allow-ingress-api")
    }


@pytest.mark.parametrize(
    ("ingress_from", "key", "message"),
    [
        ([], "perfstack:kubernetes.ingressFrom", "admits no one"),
        ([{"namespace": "Envoy_Gateway"}], "perfstack:kubernetes.ingressFrom.0.namespace", "pattern"),
        ([{"podLabels": {"app": "envoy"}}], "perfstack:kubernetes.ingressFrom.0.namespace", "required"),
        (
            [{"namespace": "envoy", "podLabels": {"not a key": "envoy"}}],
            "perfstack:kubernetes.ingressFrom.0.podLabels",
            "'not a key' is not a Kubernetes label key",
        ),
        (
            [{"namespace": "envoy", "podLabels": {"app": "-envoy"}}],
            "perfstack:kubernetes.ingressFrom.0.podLabels",
            "'-envoy' is not a Kubernetes label value",
        ),
        (
            [{"namespace": "envoy", "labels": {"app": "envoy"}}],
            "perfstack:kubernetes.ingressFrom.0.labels",
            "unknown key; allowed here: namespace, podLabels",
        ),
        ({"namespace": "envoy"}, "perfstack:kubernetes.ingressFrom", "valid list"),
    ],
    ids=["empty", "bad namespace", "no namespace", "bad label key", "bad label value", "typo", "not a list"],
)
def test_bad_ingress_sources_name_the_key_and_declare_nothing(
    ingress_from: Any, key: str, message: str
) -> None:
    declared: list[MockedResource] = []
    with pytest.raises(ConfigError) as error:
        run_stack(
            "production",
            overrides={"kubernetes.ingressFrom": ingress_from},
            secrets=KNOWN_SECRETS,
            declared=declared,
        )
    lines = [p for p in error.value.problems if p.startswith(f"{key}:")]
    assert any(message in line for line in lines), error.value.problems
    assert declared == []
