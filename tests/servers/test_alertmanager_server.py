"""Alertmanager at the pinned version, started with each stack's alertmanager.yml, credential files and flags.

What is rewritten for a run on loopback, and why (everything else is as generated):
- the secrets directory in alertmanager.yml: the credential files (`*_file`) are written to a
  temp dir with the test's known secret values, instead of where the container mounts them;
- ``--config.file``, ``--storage.path`` and the listen address: a temp dir and a free port;
- on production, ``--cluster.listen-address`` and each ``--cluster.peer``: instance ``i``'s
  stable host name becomes 127.0.0.1 with a free port, in the generated order.
"""

import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.alertmanager.component import credential_files
from components.alertmanager.config import DEFAULT_SECRETS_DIR
from tests.conftest import KNOWN_SECRETS
from tests.observability.tools import tool_path

from .conftest import Stack
from .harness import (
    LOOPBACK,
    Server,
    answers_200,
    free_ports,
    get_json,
    http_get,
    replace_flags,
    workload_args,
    workload_replicas,
)

CONFIG_KEY = "alertmanager/alertmanager.yml"
PEER_FLAG = "--cluster.peer="
CLUSTER = {"staging": ("disabled", 0), "production": ("ready", 3)}
"""What each stack's cluster looks like: one member without gossip, or three settled peers."""


@dataclass(frozen=True)
class Alertmanagers:
    """Every instance of one stack's Alertmanager, ready, with the config and credentials they got."""

    servers: list[Server]
    urls: list[str]
    cluster_addresses: list[str]
    generated: dict[str, Any]
    secrets_dir: Path


def _credential_paths(node: Any) -> list[str]:
    """Every `*_file` value in the config (credentials are only ever referenced that way)."""
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k.endswith("_file") and isinstance(v, str)]
        return found + [p for v in node.values() for p in _credential_paths(v)]
    if isinstance(node, list):
        return [p for item in node for p in _credential_paths(item)]
    return []


def _instance_args(generated: list[str], index: int, directory: Path, cluster: list[str]) -> list[str]:
    """Instance ``index``'s command line: the generated one with paths and addresses on loopback."""
    paths = {
        "--config.file": str(directory / "alertmanager.yml"),
        "--storage.path": str(directory / f"data-{index}"),
    }
    args = replace_flags(generated, paths)
    peers = [i for i, arg in enumerate(args) if arg.startswith(PEER_FLAG)]
    if not peers:
        return args  # a single member: `--cluster.listen-address=` (empty) stays as generated
    assert len(peers) == len(cluster), f"{len(peers)} peers for {len(cluster)} instances: {generated}"
    for position, address in zip(peers, cluster, strict=True):
        args[position] = f"{PEER_FLAG}{address}"
    return replace_flags(args, {"--cluster.listen-address": cluster[index]})


@pytest.fixture(scope="module")
def alertmanagers(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanagers]:
    directory = tmp_path_factory.mktemp(f"alertmanager-{stack.name}")
    text = stack.files[CONFIG_KEY]
    generated = yaml.safe_load(text)
    secrets_dir = directory / "secrets"
    secrets_dir.mkdir()
    credentials = credential_files(
        KNOWN_SECRETS["slackWebhookUrl"],
        KNOWN_SECRETS["smtpPassword"],
        KNOWN_SECRETS["pagerdutyRoutingKey"],
        KNOWN_SECRETS["deadMansSwitchUrl"],
    )
    for path in _credential_paths(generated):
        assert posixpath.dirname(path) == DEFAULT_SECRETS_DIR, f"{path} is outside the secrets dir"
        (secrets_dir / posixpath.basename(path)).write_text(str(credentials[posixpath.basename(path)]))
    (directory / "alertmanager.yml").write_text(text.replace(f"{DEFAULT_SECRETS_DIR}/", f"{secrets_dir}/"))

    replicas = workload_replicas(stack.run, "alertmanager")
    ports = free_ports(2 * replicas)
    http_ports, cluster_ports = ports[:replicas], ports[replicas:]
    cluster = [f"{LOOPBACK}:{port}" for port in cluster_ports] if replicas > 1 else []
    generated_args = workload_args(stack.run, "alertmanager")
    servers: list[Server] = []
    try:
        for index, port in enumerate(http_ports):
            args = _instance_args(generated_args, index, directory, cluster)
            argv = [tool_path("alertmanager"), *args, f"--web.listen-address={LOOPBACK}:{port}"]
            servers.append(Server(f"alertmanager-{index}", argv, directory))
        urls = [f"http://{LOOPBACK}:{port}" for port in http_ports]
        for server, url in zip(servers, urls, strict=True):
            server.wait_until(answers_200(f"{url}/-/ready"), "/-/ready")
        yield Alertmanagers(servers, urls, cluster, generated, secrets_dir)
    finally:
        for server in servers:
            server.stop()


def _loaded_config(alertmanagers: Alertmanagers, index: int = 0) -> dict[str, Any]:
    status = get_json(f"{alertmanagers.urls[index]}/api/v2/status")
    return dict(yaml.safe_load(status["config"]["original"]))


def _routes(config: dict[str, Any]) -> list[tuple[str, tuple[str, ...], bool]]:
    return [
        (route["receiver"], tuple(route.get("matchers", ())), bool(route.get("continue", False)))
        for route in config["route"].get("routes", [])
    ]


def _settled(url: str) -> Callable[[], dict[str, Any] | None]:
    """The cluster status once gossip has settled (members settle for a few seconds after start)."""

    def check() -> dict[str, Any] | None:
        cluster: dict[str, Any] = get_json(f"{url}/api/v2/status")["cluster"]
        return cluster if cluster["status"] != "settling" else None

    return check


def test_every_alertmanager_instance_gets_ready(alertmanagers: Alertmanagers) -> None:
    not_ready = [
        server.describe()
        for server, url in zip(alertmanagers.servers, alertmanagers.urls, strict=True)
        if http_get(f"{url}/-/ready")[0] != 200
    ]
    assert not_ready == []


def test_loaded_config_routes_like_the_generated_one(alertmanagers: Alertmanagers) -> None:
    loaded, generated = _loaded_config(alertmanagers), alertmanagers.generated
    assert loaded["route"]["receiver"] == generated["route"]["receiver"]
    assert loaded["route"]["group_by"] == generated["route"]["group_by"]
    assert _routes(loaded) == _routes(generated), alertmanagers.servers[0].describe()


def test_loaded_config_has_the_generated_receivers(alertmanagers: Alertmanagers) -> None:
    names = [receiver["name"] for receiver in _loaded_config(alertmanagers)["receivers"]]
    assert names == [receiver["name"] for receiver in alertmanagers.generated["receivers"]]


def test_loaded_config_reads_each_credential_from_a_file_holding_it(alertmanagers: Alertmanagers) -> None:
    paths = _credential_paths(_loaded_config(alertmanagers))
    assert paths, "the stack configures no credential at all"
    assert {Path(p).parent for p in paths} == {alertmanagers.secrets_dir}
    assert all(Path(p).read_text() in KNOWN_SECRETS.values() for p in paths)


def test_gossip_cluster_matches_the_stack(stack: Stack, alertmanagers: Alertmanagers) -> None:
    expected_status, expected_peers = CLUSTER[stack.name]
    assert len(alertmanagers.servers) == max(expected_peers, 1)
    for server, url in zip(alertmanagers.servers, alertmanagers.urls, strict=True):
        cluster = server.wait_until(_settled(url), "the gossip cluster to settle")
        assert cluster["status"] == expected_status, server.describe()
        peers = sorted(peer["address"] for peer in cluster.get("peers") or [])
        assert peers == sorted(alertmanagers.cluster_addresses), server.describe()
