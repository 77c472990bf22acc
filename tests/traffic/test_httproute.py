"""The Gateway API HTTPRoute spec of a service (gateway.networking.k8s.io/v1)."""

import pytest

from components.traffic.nginx_conf import httproute_spec

ROUTE = {
    "service_name": "api",
    "path_prefix": "/api",
    "hostnames": [],
    "gateway_name": "perfstack",
    "gateway_namespace": "gateway",
    "stable_service": "api-stable",
    "port": 8080,
}


def backends(spec: dict) -> list[dict]:
    return spec["rules"][0]["backendRefs"]


def test_backend_weights_are_100_minus_weight_for_stable_and_weight_for_canary() -> None:
    spec = httproute_spec(**ROUTE, canary_service="api-canary", canary_weight=10)

    assert backends(spec) == [
        {"name": "api-stable", "port": 8080, "weight": 90},
        {"name": "api-canary", "port": 8080, "weight": 10},
    ]


def test_without_canary_there_is_exactly_one_backend_the_stable_service() -> None:
    spec = httproute_spec(**ROUTE, canary_service=None, canary_weight=0)

    assert backends(spec) == [{"name": "api-stable", "port": 8080, "weight": 100}]


def test_canary_at_weight_0_stays_listed_with_no_traffic() -> None:
    spec = httproute_spec(**ROUTE, canary_service="api-canary", canary_weight=0)

    assert [(b["name"], b["weight"]) for b in backends(spec)] == [("api-stable", 100), ("api-canary", 0)]


def test_rule_matches_the_path_prefix_and_attaches_to_the_gateway() -> None:
    spec = httproute_spec(**ROUTE, canary_service=None, canary_weight=0)

    assert spec["parentRefs"] == [{"name": "perfstack", "namespace": "gateway"}]
    assert spec["rules"][0]["matches"] == [{"path": {"type": "PathPrefix", "value": "/api"}}]
    assert "hostnames" not in spec


def test_hostnames_are_passed_through_when_given() -> None:
    spec = httproute_spec(**{**ROUTE, "hostnames": ["api.example.com"]}, canary_service=None, canary_weight=0)

    assert spec["hostnames"] == ["api.example.com"]


def test_canary_weight_without_canary_service_is_refused() -> None:
    with pytest.raises(ValueError, match="no canary service"):
        httproute_spec(**ROUTE, canary_service=None, canary_weight=10)
