"""Real traffic through the generated nginx.conf: weights, stickiness, cookie, routing, health."""

from collections.abc import Callable

import pytest

from components.traffic.nginx_conf import NGINX_HEALTH_PATH, RouteTarget, render_nginx_conf

USERS = 2000
WEIGHTS = (0, 10, 50, 100)


def user_ids(count: int, prefix: str = "user") -> list[str]:
    return [f"{prefix}-{index}" for index in range(count)]


def canary_share(replies: list) -> float:
    """Percent of replies answered by the canary backend."""
    return 100 * sum(reply.body == "canary" for reply in replies) / len(replies)


def routes_under_test(backends: dict[str, str]) -> list[RouteTarget]:
    """One route per case, so a single nginx serves the whole module."""
    split = {"stable_upstream": backends["stable"], "canary_upstream": backends["canary"]}
    return [
        *(RouteTarget(f"w{weight}", f"/w{weight}", canary_weight=weight, **split) for weight in WEIGHTS),
        RouteTarget("sticky", "/sticky", canary_weight=50, sticky_cookie="sid", **split),
        RouteTarget("solo", "/solo", stable_upstream=backends["stable"]),
        RouteTarget("root", "/", stable_upstream=backends["root"]),
    ]


@pytest.fixture(scope="module")
def router(module_nginx: Callable, backends: dict[str, str]):
    server = module_nginx()
    server.write(render_nginx_conf(routes_under_test(backends), **server.conf_kwargs))
    server.start()
    return server


@pytest.mark.parametrize("weight", WEIGHTS)
def test_canary_share_of_distinct_users_is_within_3_points_of_weight(router, weight: int) -> None:
    replies = router.get_many(f"/w{weight}", [{"X-User-Id": uid} for uid in user_ids(USERS)])

    assert {reply.status for reply in replies} == {200}
    assert abs(canary_share(replies) - weight) <= 3


@pytest.mark.parametrize("weight", [0, 100])
def test_weight_0_and_100_route_every_user_to_one_track(router, weight: int) -> None:
    replies = router.get_many(f"/w{weight}", [{"X-User-Id": uid} for uid in user_ids(500)])

    assert {reply.body for reply in replies} == {"canary" if weight == 100 else "stable"}


def test_same_user_id_always_lands_on_same_track(router) -> None:
    ids = user_ids(200, "repeat") * 5
    replies = router.get_many("/w50", [{"X-User-Id": uid} for uid in ids])

    tracks_by_user: dict[str, set[str]] = {}
    for uid, reply in zip(ids, replies, strict=True):
        tracks_by_user.setdefault(uid, set()).add(reply.body)
    assert all(len(tracks) == 1 for tracks in tracks_by_user.values())
    assert {next(iter(tracks)) for tracks in tracks_by_user.values()} == {"stable", "canary"}


def test_sticky_cookie_decides_the_track_when_no_user_id_header(router) -> None:
    ids = user_ids(300, "cookie")
    by_header = router.get_many("/sticky", [{"X-User-Id": uid} for uid in ids])
    by_cookie = router.get_many("/sticky", [{"Cookie": f"theme=dark; sid={uid}"} for uid in ids])
    by_cookie_again = router.get_many("/sticky", [{"Cookie": f"sid={uid}"} for uid in ids])

    # The cookie value is hashed like the header value: same key, same track.
    assert [r.body for r in by_cookie] == [r.body for r in by_header] == [r.body for r in by_cookie_again]
    assert {r.body for r in by_cookie} == {"stable", "canary"}


def test_user_id_header_wins_over_sticky_cookie(router) -> None:
    ids = user_ids(50, "precedence")
    tracks = dict(
        zip(ids, (r.body for r in router.get_many("/sticky", [{"X-User-Id": u} for u in ids])), strict=True)
    )
    canary_user = next(uid for uid, track in tracks.items() if track == "canary")
    stable_user = next(uid for uid, track in tracks.items() if track == "stable")

    reply = router.get("/sticky", {"X-User-Id": canary_user, "Cookie": f"sid={stable_user}"})

    assert reply.body == "canary"


def test_cookie_of_a_route_without_sticky_cookie_does_not_pin_the_track(router) -> None:
    replies = router.get_many("/w50", [{"Cookie": "sid=always-the-same"}] * 200)

    assert {reply.body for reply in replies} == {"stable", "canary"}


def test_requests_without_user_id_are_split_at_random_by_weight(router) -> None:
    replies = router.get_many("/w50", [{}] * USERS)

    # Random per request: 5 points is 4.5 standard deviations at n=2000.
    assert abs(canary_share(replies) - 50) <= 5


def test_route_without_canary_sends_everything_to_stable(router) -> None:
    replies = router.get_many("/solo", [{"X-User-Id": uid} for uid in user_ids(300)] + [{}] * 300)

    assert {reply.body for reply in replies} == {"stable"}


def test_track_header_names_the_backend_that_answered(router) -> None:
    replies = router.get_many("/w50", [{"X-User-Id": uid} for uid in user_ids(300)])

    assert all(reply.track_header == reply.body for reply in replies)
    assert {reply.track_header for reply in replies} == {"stable", "canary"}


@pytest.mark.parametrize(
    ("path", "routed_to"), [("/w100", "w100"), ("/w100/orders/1", "w100"), ("/w100x", "root")]
)
def test_path_prefix_matches_whole_segments_and_the_rest_goes_to_root(
    router, path: str, routed_to: str
) -> None:
    reply = router.get(path)

    # The w100 route always answers "canary"; the root service answers "root".
    assert reply.body == ("canary" if routed_to == "w100" else "root")


def test_health_endpoint_answers_ok(router) -> None:
    reply = router.get(NGINX_HEALTH_PATH)

    assert (reply.status, reply.body) == (200, "ok\n")
