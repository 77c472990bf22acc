"""Stickiness is promised only where it is done: by the Docker nginx router, not by Gateway API.

The HTTPRoute splits each request at random by weight; a sticky cookie on
Kubernetes is refused at config validation instead of being silently ignored.
"""

import pytest

from infra.loader import ConfigError
from infra.mockrun import MockedResource
from tests.conftest import run_stack


def test_sticky_cookie_on_kubernetes_is_refused_naming_its_key_and_why() -> None:
    declared: list[MockedResource] = []

    with pytest.raises(ConfigError) as error:
        run_stack("production", overrides={"services.api.route.stickyCookie": "sid"}, declared=declared)

    (problem,) = error.value.problems
    key, _, message = problem.partition(": ")
    assert key == "perfstack:services.api.route.stickyCookie"
    assert message.startswith("not supported on platform kubernetes")
    assert "splits each request at random" in problem
    assert "Docker nginx router" in problem
    assert declared == []


def test_sticky_cookie_on_docker_is_kept_in_the_router() -> None:
    run = run_stack("staging", overrides={"services.api.route.stickyCookie": "sid"})

    (upload,) = run.get("docker:index/container:Container", "router-config-writer").inputs["uploads"]
    assert "map $cookie_sid $ps_cookie_sid {" in upload["content"]
