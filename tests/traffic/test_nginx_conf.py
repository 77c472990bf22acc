"""The generated nginx.conf: accepted by `nginx -t`, and the inputs it refuses."""

import pytest

from components.app.settings import ServiceConfig
from components.traffic.nginx_conf import RouteTarget, render_nginx_conf
from infra.wiring import route_target

STABLE, CANARY = "127.0.0.1:9001", "127.0.0.1:9002"

EVERY_KIND_OF_ROUTE = [
    RouteTarget("api", "/api", STABLE, CANARY, canary_weight=10),
    RouteTarget("web", "/", STABLE, CANARY, canary_weight=50, sticky_cookie="sid"),
    RouteTarget("admin", "/admin", STABLE, CANARY, canary_weight=50, sticky_cookie="session_id"),
    RouteTarget("rolled-back", "/old", STABLE, CANARY, canary_weight=0),
    RouteTarget("promoted", "/new", STABLE, CANARY, canary_weight=100),
    RouteTarget("worker-ui", "/jobs/ui", STABLE),
    RouteTarget(
        "replicas", "/replicas", ("127.0.0.1:9003", "127.0.0.1:9004"), ("127.0.0.1:9005",), canary_weight=5
    ),
]


@pytest.mark.parametrize(
    "routes",
    [EVERY_KIND_OF_ROUTE, EVERY_KIND_OF_ROUTE[3:4], []],
    ids=["every-kind", "weight-0-only", "no-routes"],
)
def test_nginx_t_accepts_the_generated_config(nginx, routes: list[RouteTarget]) -> None:
    nginx.write(render_nginx_conf(routes, **nginx.conf_kwargs))

    result = nginx.check()

    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_nginx_t_accepts_container_logging_to_stderr_and_stdout(nginx) -> None:
    kwargs = {**nginx.conf_kwargs, "error_log": "stderr", "access_log": "/dev/stdout"}
    nginx.write(render_nginx_conf(EVERY_KIND_OF_ROUTE, **kwargs))

    result = nginx.check()

    assert result.returncode == 0, result.stderr


def test_zero_weight_writes_no_zero_percent_split_line() -> None:
    # nginx refuses "0%" in split_clients ("invalid percent value").
    conf = render_nginx_conf([RouteTarget("api", "/", STABLE, CANARY, canary_weight=0)])

    assert "0%" not in conf
    assert "split_clients" not in conf


def test_route_order_does_not_change_the_file() -> None:
    assert render_nginx_conf(EVERY_KIND_OF_ROUTE) == render_nginx_conf(list(reversed(EVERY_KIND_OF_ROUTE)))


def test_two_routes_on_one_path_prefix_are_refused() -> None:
    with pytest.raises(ValueError, match="path prefix routed twice: /api"):
        render_nginx_conf([RouteTarget("a", "/api", STABLE), RouteTarget("b", "/api", STABLE)])


def test_canary_weight_without_canary_upstream_is_refused() -> None:
    with pytest.raises(ValueError, match="no canary upstream"):
        RouteTarget("api", "/", STABLE, None, canary_weight=10)


@pytest.mark.parametrize("weight", [-1, 101, True, 10.5])
def test_canary_weight_outside_whole_0_to_100_is_refused(weight: object) -> None:
    with pytest.raises(ValueError, match="canary_weight"):
        RouteTarget("api", "/", STABLE, CANARY, canary_weight=weight)  # type: ignore[arg-type]


@pytest.mark.parametrize("prefix", ["api", "/api/", "/a b", "/nginx-health", "/x;y"])
def test_path_prefix_that_nginx_or_gateway_api_would_read_differently_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="path_prefix"):
        RouteTarget("api", prefix, STABLE)


def test_route_target_of_a_service_applies_the_kill_switch() -> None:
    service = ServiceConfig.model_validate(
        {
            "image": "ghcr.io/example/api",
            "route": {"pathPrefix": "/api", "stickyCookie": "sid"},
            "stable": {"version": "1.4.2"},
            "canary": {"version": "1.5.0", "weight": 10},
        }
    )

    normal = route_target("api", service, kill_switch=False, stable_upstream=STABLE, canary_upstream=CANARY)
    killed = route_target("api", service, kill_switch=True, stable_upstream=STABLE, canary_upstream=CANARY)

    assert normal == RouteTarget("api", "/api", STABLE, CANARY, canary_weight=10, sticky_cookie="sid")
    assert killed is not None and killed.canary_weight == 0


def test_service_without_route_has_no_route_target() -> None:
    service = ServiceConfig.model_validate({"image": "ghcr.io/example/worker", "stable": {"version": "1"}})

    assert (
        route_target("worker", service, kill_switch=False, stable_upstream=STABLE, canary_upstream=None)
        is None
    )


def test_upstream_server_may_be_a_container_name() -> None:
    conf = render_nginx_conf([RouteTarget("api", "/", "api-stable-1a2b3c4:8080")])

    assert "server api-stable-1a2b3c4:8080;" in conf


@pytest.mark.parametrize("server", ["api-stable", "api-stable:0", "api;stable:8080", "api stable:8080"])
def test_upstream_server_that_is_not_host_and_port_is_refused(server: str) -> None:
    # It is written into the config verbatim: anything else could end the directive early.
    with pytest.raises(ValueError, match=f"{server!r} is not 'host:port'"):
        RouteTarget("api", "/", server)


def test_every_replica_of_a_track_is_a_server_of_its_upstream() -> None:
    conf = render_nginx_conf([RouteTarget("api", "/", ("10.0.0.1:8080", "10.0.0.2:8080"))])

    block = conf.split("upstream ps_api_stable {", 1)[1].split("}", 1)[0]
    assert [line.strip() for line in block.splitlines() if "server" in line] == [
        "server 10.0.0.1:8080;",
        "server 10.0.0.2:8080;",
    ]
