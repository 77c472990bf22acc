"""preflight.py: a job that cannot reach its stack fails first, naming the missing secret or the target."""

import io
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ci.helpers import REPO, load_script
from tests.servers.harness import LOOPBACK, free_ports

preflight = load_script("preflight")

BACKEND = {"PULUMI_ACCESS_TOKEN": "t", "PULUMI_CONFIG_PASSPHRASE": "p"}
KUBECONFIG = """apiVersion: v1
kind: Config
current-context: prod
contexts:
  - {name: prod, context: {cluster: main, user: ci}}
  - {name: other, context: {cluster: spare, user: ci}}
clusters:
  - {name: main, cluster: {server: "https://k8s.example.invalid:6443"}}
  - {name: spare, cluster: {server: "https://spare.example.invalid"}}
users:
  - {name: ci, user: {token: x}}
"""
KNOWN_HOSTS = "docker.example.invalid ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests\n"
DOCKER = {
    "DOCKER_HOST": "ssh://deploy@docker.example.invalid",
    "DOCKER_SSH_KEY": "-----BEGIN OPENSSH" + " PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----",
    "DOCKER_SSH_KNOWN_HOSTS": KNOWN_HOSTS,
}


def never(target: object) -> None:
    raise AssertionError(f"connected to {target} although a secret was missing")


# --- which secrets each platform needs -------------------------------------------------


def test_a_complete_kubernetes_job_misses_nothing() -> None:
    assert preflight.missing_secrets("kubernetes", {**BACKEND, "KUBECONFIG_DATA": KUBECONFIG}) == []


def test_production_without_a_kubeconfig_names_the_secret() -> None:
    (message,) = preflight.missing_secrets("kubernetes", BACKEND)

    assert message.startswith("secret KUBECONFIG_DATA is not set")


@pytest.mark.parametrize("name", sorted(DOCKER))
def test_each_docker_ssh_secret_is_required_and_named(name: str) -> None:
    env = {**BACKEND, **DOCKER, name: ""}

    assert [m.split(" is not set")[0] for m in preflight.missing_secrets("docker", env)] == [f"secret {name}"]


def test_either_backend_secret_will_do_but_one_is_needed() -> None:
    env = {"PULUMI_CONFIG_PASSPHRASE": "p", "KUBECONFIG_DATA": KUBECONFIG}

    assert preflight.missing_secrets("kubernetes", {**env, "PULUMI_BACKEND_URL": "s3://b"}) == []
    assert [m.split(" is not set")[0] for m in preflight.missing_secrets("kubernetes", env)] == [
        "secret PULUMI_ACCESS_TOKEN"
    ]


def test_the_judge_also_needs_the_prometheus_url() -> None:
    env = {**BACKEND, "KUBECONFIG_DATA": KUBECONFIG}

    assert preflight.missing_secrets("kubernetes", env) == []
    assert (
        "secret PERFSTACK_PROMETHEUS_URL is not set" in preflight.missing_secrets("kubernetes", env, True)[0]
    )


def test_a_missing_secret_stops_the_job_before_any_connection(tmp_path: Path) -> None:
    with pytest.raises(preflight.PreflightError) as error:
        preflight.check(REPO, "production", BACKEND, home=tmp_path / "creds", connect=never)

    assert "production (platform kubernetes) cannot be deployed from CI" in str(error.value)
    assert "secret KUBECONFIG_DATA is not set" in str(error.value)
    assert not (tmp_path / "creds").exists()


def test_the_cli_exits_1_naming_every_missing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PULUMI_ACCESS_TOKEN", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", *DOCKER):
        monkeypatch.delenv(name, raising=False)
    err = io.StringIO()

    code = preflight.main(["--stack", "staging"], stdout=io.StringIO(), stderr=err)

    assert code == 1
    for name in ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_ACCESS_TOKEN", *DOCKER):
        assert f"secret {name} is not set" in err.getvalue()


# --- the targets --------------------------------------------------------------------------


def test_the_kubeconfig_target_is_the_current_contexts_server() -> None:
    target = preflight.kubernetes_target(KUBECONFIG, None)

    assert (target.host, target.port) == ("k8s.example.invalid", 6443)
    assert "(context prod)" in target.description


def test_the_stacks_context_overrides_the_current_one() -> None:
    target = preflight.kubernetes_target(KUBECONFIG, "other")

    assert (target.host, target.port) == ("spare.example.invalid", 443)


def test_an_unknown_context_is_named_with_the_known_ones() -> None:
    with pytest.raises(preflight.PreflightError, match=r"no context 'gone' \(contexts: other, prod\)"):
        preflight.kubernetes_target(KUBECONFIG, "gone")


def test_a_docker_host_that_is_not_ssh_is_refused() -> None:
    with pytest.raises(preflight.PreflightError, match="DOCKER_HOST must be ssh://user@host"):
        preflight.docker_target("tcp://docker.example.invalid:2375")


def test_the_docker_target_is_the_ssh_port() -> None:
    target = preflight.docker_target("ssh://deploy@docker.example.invalid:2222")

    assert (target.host, target.port) == ("docker.example.invalid", 2222)


@pytest.mark.parametrize(
    ("known", "port", "pinned"),
    [
        (KNOWN_HOSTS, 22, True),
        ("[docker.example.invalid]:2222 ssh-ed25519 AAAA\n", 2222, True),
        (KNOWN_HOSTS, 2222, False),
        ("other.example.invalid ssh-ed25519 AAAA\n", 22, False),
        ("|1|c2FsdA==|aGFzaA== ssh-ed25519 AAAA\n", 22, True),
    ],
    ids=["plain", "with-port", "port-differs", "other-host", "hashed"],
)
def test_the_host_key_must_be_pinned_for_the_host(known: str, port: int, pinned: bool) -> None:
    target = preflight.Target("t", "docker.example.invalid", port)

    assert preflight.host_key_pinned(known, target) is pinned


def test_staging_without_a_pinned_key_for_its_host_is_refused(tmp_path: Path) -> None:
    env = {**BACKEND, **DOCKER, "DOCKER_SSH_KNOWN_HOSTS": "other.example.invalid ssh-ed25519 AAAA\n"}

    with pytest.raises(
        preflight.PreflightError, match=r"DOCKER_SSH_KNOWN_HOSTS has no key for docker\.example\.invalid"
    ):
        preflight.check(REPO, "staging", env, connect=never)


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as server:
        server.bind((LOOPBACK, 0))
        server.listen()
        yield server.getsockname()[1]


def test_a_listening_target_is_reached(listening: int) -> None:
    preflight.reach(preflight.Target("the test server", LOOPBACK, listening), timeout=5)


def test_an_unreachable_target_is_named() -> None:
    (port,) = free_ports(1)

    with pytest.raises(preflight.PreflightError, match=r"^the API server is unreachable from this runner: "):
        preflight.reach(preflight.Target("the API server", LOOPBACK, port), timeout=5)


def test_a_ready_production_job_gets_its_kubeconfig_file(tmp_path: Path) -> None:
    reached = []
    env = {**BACKEND, "KUBECONFIG_DATA": KUBECONFIG}

    summary, exports = preflight.check(
        REPO, "production", env, home=tmp_path / "creds", connect=reached.append
    )

    kubeconfig = Path(exports["KUBECONFIG"])
    assert kubeconfig.read_text() == KUBECONFIG
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    assert [(t.host, t.port) for t in reached] == [("k8s.example.invalid", 6443)]
    assert summary.startswith("production (platform kubernetes): secrets set, the Kubernetes API server")


def test_a_ready_staging_job_gets_an_ssh_config_that_trusts_only_the_pinned_key(tmp_path: Path) -> None:
    env = {**BACKEND, **DOCKER, "HOME": str(tmp_path)}

    preflight.check(REPO, "staging", env, home=tmp_path / "creds", connect=lambda target: None)

    ssh = tmp_path / ".ssh"
    config = (ssh / "config").read_text()
    assert "Host docker.example.invalid\n" in config
    assert "StrictHostKeyChecking yes" in config
    assert f"UserKnownHostsFile {ssh / 'perfstack_known_hosts'}" in config
    assert (ssh / "perfstack_known_hosts").read_text() == KNOWN_HOSTS
    assert stat.S_IMODE((ssh / "perfstack_docker").stat().st_mode) == 0o600
