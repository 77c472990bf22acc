"""The traffic split: nginx.conf for the Docker platform, HTTPRoute spec for Kubernetes.

nginx (``render_nginx_conf``): one server in front of every routed service.
Each request gets a split key: the ``X-User-Id`` header when present, else the
route's sticky cookie when configured and present, else ``$request_id`` (random
per request). ``split_clients`` hashes the key (MurmurHash2), so a user stays on
one track while anonymous requests are spread at random. Weight 0 and 100 (and
"no canary") need no split at all and are routed statically: nginx refuses
"0%" in ``split_clients``. The response carries ``X-Perfstack-Track:
stable|canary``; ``/nginx-health`` answers 200 for the container health check.

Each track is an ``upstream`` block of ``host:port`` servers with
``keepalive``, so requests reuse connections to the app instead of opening
one each (about 4x the throughput). nginx resolves a name in an upstream only
when it (re)loads the config: on Docker the servers are the app containers'
own names, a new one with every replacement, so a replaced container comes
with a new config; the router's reloader (``reloader.py``) also reloads when a
name resolves to another address (a restarted container). Responses
are not buffered and the read timeout is long (``ProxyOptions``), so a
streamed response (``/chat/stream``) reaches the client chunk by chunk.
Everything used exists in nginx 1.22 (what the tests run) and in the pinned
image's nginx (``resolve`` in an upstream would need 1.27.3).

Kubernetes (``httproute_spec``): a Gateway API HTTPRoute with weighted
``backendRefs``. Its split is per request: neither the ``X-User-Id`` header
nor a sticky cookie keeps a user on one track there (``sessionPersistence``
is not in the standard channel), so the stack config refuses
``route.stickyCookie`` on Kubernetes instead of silently ignoring it.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from components.platform.settings import COOKIE_NAME_PATTERN, PATH_PREFIX_PATTERN, SERVICE_NAME_PATTERN

DEFAULT_LISTEN_PORT = 8080
"""Port the router listens on: unprivileged, so nginx need not bind as root."""
NGINX_HEALTH_PATH = "/nginx-health"
"""Path answering 200 'ok' while nginx runs: the router container's health check."""
USER_ID_HEADER = "X-User-Id"
"""Request header whose value keeps a user on one track."""
TRACK_HEADER = "X-Perfstack-Track"
"""Response header naming the track that answered: stable or canary."""

_UPSTREAM = re.compile(r"^(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(?P<port>[0-9]{1,5})$")


def _check_upstream(what: str, value: str | tuple[str, ...]) -> None:
    servers = (value,) if isinstance(value, str) else value
    if not servers:
        raise ValueError(f"{what} lists no server")
    for server in servers:
        match = _UPSTREAM.match(server)
        if not match or not 1 <= int(match.group("port")) <= 65535:
            raise ValueError(f"{what} {server!r} is not 'host:port'")


def _nginx_time(seconds: float) -> str:
    """An nginx time value: whole seconds as '300s', anything finer in milliseconds."""
    if seconds <= 0:
        raise ValueError(f"{seconds!r} is not a positive number of seconds")
    return f"{int(seconds)}s" if float(seconds).is_integer() else f"{round(seconds * 1000)}ms"


@dataclass(frozen=True)
class ProxyOptions:
    """How nginx talks to the app tracks: timeouts and connection reuse."""

    read_timeout_seconds: float = 300
    """Longest pause between two reads of a response (``proxy_read_timeout``), not its total time."""
    keepalive: int = 32
    """Idle connections each worker keeps to each track (``keepalive``); 0 closes each after its request."""
    keepalive_timeout_seconds: float = 4
    """How long an idle connection is kept (upstream ``keepalive_timeout``)."""

    def __post_init__(self) -> None:
        _nginx_time(self.read_timeout_seconds)
        _nginx_time(self.keepalive_timeout_seconds)
        if isinstance(self.keepalive, bool) or not isinstance(self.keepalive, int) or self.keepalive < 0:
            raise ValueError(f"keepalive {self.keepalive!r} is not a whole number of connections")


def _check_weight(value: object) -> None:
    # bool is an int in Python; True must not mean "1 %".
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise ValueError(f"canary_weight {value!r} is not a whole number from 0 to 100")


@dataclass(frozen=True)
class RouteTarget:
    """One routed service as the router sees it: where its tracks are and how traffic splits."""

    service_name: str
    """Service name (a DNS label); names the nginx variables of this route."""
    path_prefix: str
    """URL prefix, matched segment by segment: '/' or '/api' (no trailing slash)."""
    stable_upstream: str | tuple[str, ...]
    """'host:port' of the stable track, or one per replica."""
    canary_upstream: str | tuple[str, ...] | None = None
    """'host:port' of the canary track, or one per replica; None when the service has no canary."""
    canary_weight: int = 0
    """Percent of users sent to the canary (already 0 under the kill switch); 0 without a canary."""
    sticky_cookie: str | None = None
    """Cookie that keys the split when there is no X-User-Id header."""

    def __post_init__(self) -> None:
        if not SERVICE_NAME_PATTERN.match(self.service_name):
            raise ValueError(f"service_name {self.service_name!r} is not a DNS label")
        if not PATH_PREFIX_PATTERN.match(self.path_prefix):
            raise ValueError(
                f"path_prefix {self.path_prefix!r} is not '/' or '/segment[/...]' without trailing '/'"
            )
        if self.path_prefix == NGINX_HEALTH_PATH:
            raise ValueError(f"path_prefix {NGINX_HEALTH_PATH!r} is the router's own health check")
        _check_upstream("stable_upstream", self.stable_upstream)
        if self.canary_upstream is not None:
            _check_upstream("canary_upstream", self.canary_upstream)
        _check_weight(self.canary_weight)
        if self.canary_upstream is None and self.canary_weight != 0:
            raise ValueError(
                f"canary_weight is {self.canary_weight} but {self.service_name!r} has no canary upstream"
            )
        if self.sticky_cookie is not None and not COOKIE_NAME_PATTERN.match(self.sticky_cookie):
            raise ValueError(f"sticky_cookie {self.sticky_cookie!r} is not letters, digits and '_'")

    @property
    def stable_servers(self) -> tuple[str, ...]:
        """Every 'host:port' of the stable track."""
        return _servers(self.stable_upstream)

    @property
    def canary_servers(self) -> tuple[str, ...]:
        """Every 'host:port' of the canary track; empty without a canary."""
        return _servers(self.canary_upstream) if self.canary_upstream is not None else ()


def _servers(upstream: str | tuple[str, ...]) -> tuple[str, ...]:
    return (upstream,) if isinstance(upstream, str) else tuple(upstream)


def _quoted(value: str) -> str:
    # Paths end up inside double quotes; these characters would end the
    # string or start a variable there.
    if any(char in value for char in '"\\$\n\r'):
        raise ValueError(f"{value!r} cannot be written into nginx.conf")
    return f'"{value}"'


def _var(service_name: str) -> str:
    # nginx variable names cannot hold '-'; service names cannot hold '_',
    # so the mapping is one to one.
    return service_name.replace("-", "_")


def _upstream_name(route: RouteTarget, track: str) -> str:
    return f"ps_{_var(route.service_name)}_{track}"


def _upstreams(route: RouteTarget, proxy: ProxyOptions) -> list[str]:
    """One upstream block per track that can get traffic, with its keep-alive pool."""
    tracks = [("stable", route.stable_servers)]
    if route.canary_servers and route.canary_weight > 0:
        tracks.append(("canary", route.canary_servers))
    lines: list[str] = []
    for track, servers in tracks:
        lines += [f"    upstream {_upstream_name(route, track)} {{"]
        lines += [f"        server {server};" for server in servers]
        if proxy.keepalive:
            lines += [
                f"        keepalive {proxy.keepalive};",
                # Shorter than the app servers' own idle timeouts (uvicorn and
                # Node 5 s): nginx must close an idle connection first, or it
                # may send a request just as the app closes it.
                f"        keepalive_timeout {_nginx_time(proxy.keepalive_timeout_seconds)};",
            ]
        lines += ["    }"]
    return lines


def _key_var(cookie: str | None) -> str:
    return "ps_key" if cookie is None else f"ps_key_{cookie}"


def _key_maps(split_routes: Sequence[RouteTarget]) -> list[str]:
    """The maps that compute each split key: header, else cookie, else a random per-request id."""
    lines: list[str] = []
    cookies = sorted({route.sticky_cookie for route in split_routes if route.sticky_cookie is not None})
    if any(route.sticky_cookie is None for route in split_routes):
        lines += [
            f"    # Split key: {USER_ID_HEADER} when sent (sticky per user), else random per request.",
            "    map $http_x_user_id $ps_key {",
            '        ""      $request_id;',
            "        default $http_x_user_id;",
            "    }",
        ]
    for cookie in cookies:
        lines += [
            f"    # Split key: {USER_ID_HEADER} when sent, else cookie {cookie!r}, else random per request.",
            f"    map $cookie_{cookie} $ps_cookie_{cookie} {{",
            '        ""      $request_id;',
            f"        default $cookie_{cookie};",
            "    }",
            f"    map $http_x_user_id ${_key_var(cookie)} {{",
            f'        ""      $ps_cookie_{cookie};',
            "        default $http_x_user_id;",
            "    }",
        ]
    return lines


def _split(route: RouteTarget) -> list[str]:
    name = _var(route.service_name)
    return [
        f"    # {route.service_name}: {route.canary_weight}% of split keys to the canary.",
        # The canary takes the first slice of the hash range, so raising the
        # weight only adds users to the canary: nobody flips back and forth.
        f'    split_clients "${{{_key_var(route.sticky_cookie)}}}" $ps_track_{name} {{',
        f"        {route.canary_weight}% canary;",
        "        *   stable;",
        "    }",
        # The value names an upstream block: proxy_pass with a variable uses
        # a block of that name (and its keep-alive pool) before any resolver.
        f"    map $ps_track_{name} $ps_upstream_{name} {{",
        f"        canary  {_upstream_name(route, 'canary')};",
        f"        default {_upstream_name(route, 'stable')};",
        "    }",
    ]


def _static_track(route: RouteTarget) -> str | None:
    """The only track of a route that needs no split, or None when it is split."""
    if route.canary_upstream is None or route.canary_weight == 0:
        return "stable"
    if route.canary_weight == 100:
        return "canary"
    return None


def _location_body(route: RouteTarget) -> list[str]:
    track = _static_track(route)
    if track is None:
        name = _var(route.service_name)
        return [
            f"        add_header {TRACK_HEADER} $ps_track_{name} always;",
            f"        proxy_pass http://$ps_upstream_{name};",
        ]
    return [
        f"        add_header {TRACK_HEADER} {track} always;",
        f"        proxy_pass http://{_upstream_name(route, track)};",
    ]


def _locations(route: RouteTarget) -> list[str]:
    body = _location_body(route)
    comment = f"        # service {route.service_name}"
    if route.path_prefix == "/":
        return ["    location / {", comment, *body, "    }"]
    # "/api" must match "/api" and "/api/..." but not "/apix", as Gateway
    # API's PathPrefix does: an exact location plus the prefix with "/".
    return [
        f"    location = {route.path_prefix} {{",
        comment,
        *body,
        "    }",
        f"    location {route.path_prefix}/ {{",
        comment,
        *body,
        "    }",
    ]


def render_nginx_conf(
    routes: Sequence[RouteTarget],
    *,
    listen_port: int = DEFAULT_LISTEN_PORT,
    listen_address: str | None = None,
    pid_path: str = "/tmp/nginx.pid",
    error_log: str = "stderr",
    access_log: str = "/dev/stdout",
    temp_dir: str = "/tmp",
    worker_processes: int | None = None,
    proxy: ProxyOptions = ProxyOptions(),
) -> str:
    """A complete nginx.conf routing `routes` by path prefix, splitting each between stable and canary.

    The defaults suit the router container (stderr/stdout logs, pid and temp
    files in /tmp so nginx needs no root-owned paths); tests pass paths inside
    a temp dir and `listen_address="127.0.0.1"`. `access_log="off"` disables
    the access log. `worker_processes=None` means one per CPU. Routes are
    written sorted by path prefix, so the file does not change with the order
    of `routes`.
    """
    if not 1 <= listen_port <= 65535:
        raise ValueError(f"listen_port {listen_port} is not a TCP port")
    for what, values in (
        ("service name", [route.service_name for route in routes]),
        ("path prefix", [route.path_prefix for route in routes]),
    ):
        duplicates = sorted({value for value in values if values.count(value) > 1})
        if duplicates:
            raise ValueError(f"{what} routed twice: {', '.join(duplicates)}")
    ordered = sorted(routes, key=lambda route: route.path_prefix)
    split_routes = [route for route in ordered if _static_track(route) is None]
    listen = f"{listen_address}:{listen_port}" if listen_address else str(listen_port)
    temp = temp_dir.rstrip("/") or ""
    access = "access_log off;" if access_log == "off" else f"access_log {_quoted(access_log)} perfstack;"
    track_var = "$sent_http_" + TRACK_HEADER.lower().replace("-", "_")
    lines = [
        "# Generated by perfstack (components/traffic/nginx_conf.py): do not edit.",
        f"worker_processes {worker_processes if worker_processes is not None else 'auto'};",
        f"pid {_quoted(pid_path)};",
        f"error_log {_quoted(error_log) if error_log != 'stderr' else 'stderr'} warn;",
        "",
        "events {",
        "    worker_connections 1024;",
        "}",
        "",
        "http {",
        "    server_tokens off;",
        "    default_type application/octet-stream;",
        "    log_format perfstack '$remote_addr [$time_local] \"$request\" $status $body_bytes_sent '",
        f"                         '$request_time track={track_var} '",
        "                         'upstream=$upstream_addr request_id=$request_id';",
        f"    {access}",
        # Every temp path inside temp_dir: the compiled-in defaults
        # (/var/lib/nginx/...) are not writable by an unprivileged nginx.
        f"    client_body_temp_path {_quoted(temp + '/nginx_client_body_temp')};",
        f"    proxy_temp_path {_quoted(temp + '/nginx_proxy_temp')};",
        f"    fastcgi_temp_path {_quoted(temp + '/nginx_fastcgi_temp')};",
        f"    uwsgi_temp_path {_quoted(temp + '/nginx_uwsgi_temp')};",
        f"    scgi_temp_path {_quoted(temp + '/nginx_scgi_temp')};",
    ]
    for route in ordered:
        lines += ["", *_upstreams(route, proxy)]
    lines += ["", *_key_maps(split_routes)]
    for route in split_routes:
        lines += ["", *_split(route)]
    lines += [
        "",
        "    server {",
        f"        listen {listen};",
        "",
        "        proxy_http_version 1.1;",
        '        proxy_set_header Connection "";',
        "        proxy_set_header Host $host;",
        "        proxy_set_header X-Real-IP $remote_addr;",
        "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "        proxy_set_header X-Forwarded-Proto $scheme;",
        "        proxy_set_header X-Request-Id $request_id;",
        "        proxy_connect_timeout 5s;",
        # Streamed responses (server-sent events, /chat/stream) must reach the
        # client as the app writes them, not when a buffer fills or the
        # response ends; a model may pause longer than nginx's 60 s default
        # between two chunks.
        "        proxy_buffering off;",
        f"        proxy_read_timeout {_nginx_time(proxy.read_timeout_seconds)};",
        "",
        f"        location = {NGINX_HEALTH_PATH} {{",
        "            access_log off;",
        "            default_type text/plain;",
        '            return 200 "ok\\n";',
        "        }",
    ]
    for route in ordered:
        lines += ["", *("    " + line for line in _locations(route))]
    if not any(route.path_prefix == "/" for route in ordered):
        lines += ["", "        location / {", "            return 404;", "        }"]
    lines += ["    }", "}", ""]
    return "\n".join(lines)


def httproute_spec(
    *,
    service_name: str,
    path_prefix: str,
    hostnames: Sequence[str],
    gateway_name: str,
    gateway_namespace: str,
    stable_service: str,
    canary_service: str | None,
    port: int,
    canary_weight: int,
) -> dict[str, Any]:
    """The `spec` of a gateway.networking.k8s.io/v1 HTTPRoute for one service.

    One rule matching `path_prefix` (PathPrefix), with the stable Service at
    weight 100 - `canary_weight` and the canary Service at `canary_weight`;
    only the stable Service when there is no canary. A canary at weight 0
    stays listed (it gets no traffic), so a weight change is a one-field diff.
    """
    _check_weight(canary_weight)
    if canary_service is None and canary_weight != 0:
        raise ValueError(f"canary_weight is {canary_weight} but {service_name!r} has no canary service")
    if not PATH_PREFIX_PATTERN.match(path_prefix):
        raise ValueError(f"path_prefix {path_prefix!r} is not '/' or '/segment[/...]' without trailing '/'")
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is not a TCP port")
    backends: list[dict[str, Any]] = [{"name": stable_service, "port": port, "weight": 100 - canary_weight}]
    if canary_service is not None:
        backends.append({"name": canary_service, "port": port, "weight": canary_weight})
    spec: dict[str, Any] = {
        "parentRefs": [{"name": gateway_name, "namespace": gateway_namespace}],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": path_prefix}}],
                "backendRefs": backends,
            }
        ],
    }
    if hostnames:
        spec["hostnames"] = list(hostnames)
    return spec
