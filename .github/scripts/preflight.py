#!/usr/bin/env python3
"""The first step of every job that touches a stack: are its secrets set, and is its target reachable?

Before any Pulumi command, so that a missing secret or an unreachable target
fails with a message naming it, not with the provider's "configured
Kubernetes cluster is unreachable" three minutes into an update.

The secrets a stack needs follow its platform (`perfstack:platform` in
`Pulumi.<stack>.yaml`), and are given to the job as environment variables of
the same name (docs/ci-cd.md, "Secrets"):

- every stack: `PULUMI_CONFIG_PASSPHRASE`, and `PULUMI_ACCESS_TOKEN` or
  `PULUMI_BACKEND_URL`;
- kubernetes: `KUBECONFIG_DATA`, a kubeconfig whose current context (or
  `perfstack:kubernetes.context`) is the cluster;
- docker: `DOCKER_HOST` (`ssh://user@host[:port]`), `DOCKER_SSH_KEY` (a
  private key) and `DOCKER_SSH_KNOWN_HOSTS` (the host's pinned key lines);
- with `--prometheus` (the rollout judge): `PERFSTACK_PROMETHEUS_URL`.

`check` reports what is missing, then writes the credential files into
`--home` (the kubeconfig; the SSH key, known_hosts and an ssh config that
refuses unknown host keys), puts `KUBECONFIG=...` in `$GITHUB_ENV`, and
connects to the target: the kubeconfig's API server, or the SSH port of the
Docker host. The check is a TCP connection (the thin adapter `reach`);
authentication is left to Pulumi, whose errors name it well enough.

Exit codes: 0 ready, 1 not ready (a secret missing, the target unreachable, an unreadable stack file).
"""

import argparse
import os
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import yaml

PROJECT_DIR = Path(__file__).resolve().parents[2]
DOCS = "docs/ci-cd.md, 'Secrets'"
CONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Secret:
    """A repository or environment secret, and why the job needs it."""

    name: str
    purpose: str


PASSPHRASE = Secret("PULUMI_CONFIG_PASSPHRASE", "decrypts the stack's secret config")
ACCESS_TOKEN = Secret("PULUMI_ACCESS_TOKEN", "logs in to Pulumi Cloud (or set PULUMI_BACKEND_URL)")
BACKEND_URL = Secret("PULUMI_BACKEND_URL", "a self-managed backend (or set PULUMI_ACCESS_TOKEN)")
KUBECONFIG = Secret("KUBECONFIG_DATA", "the kubeconfig that reaches the cluster")
DOCKER_HOST = Secret("DOCKER_HOST", "the Docker host, ssh://user@host[:port]")
SSH_KEY = Secret("DOCKER_SSH_KEY", "the private key that logs in to the Docker host")
KNOWN_HOSTS = Secret(
    "DOCKER_SSH_KNOWN_HOSTS", "the Docker host's pinned SSH host key (ssh-keyscan, verified)"
)
PROMETHEUS = Secret("PERFSTACK_PROMETHEUS_URL", "the stack's Prometheus, which the rollout judge reads")

PLATFORM_SECRETS: Mapping[str, tuple[Secret, ...]] = {
    "kubernetes": (KUBECONFIG,),
    "docker": (DOCKER_HOST, SSH_KEY, KNOWN_HOSTS),
}


class PreflightError(Exception):
    """The job cannot start; the message names the secret or the target."""


@dataclass(frozen=True)
class Target:
    """Where a stack's updates go: a host and port that must accept a connection."""

    description: str
    host: str
    port: int


def stack_settings(project_dir: Path, stack: str) -> Mapping[str, Any]:
    """`perfstack:platform`, `perfstack:kubernetes` and `perfstack:docker` of the stack file (PyYAML only)."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    try:
        config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    except (OSError, yaml.YAMLError) as error:
        raise PreflightError(f"{path.name}: cannot read the stack file ({error})") from error
    platform = config.get("perfstack:platform")
    if platform not in PLATFORM_SECRETS:
        raise PreflightError(
            f"perfstack:platform: {platform!r} in {path.name}; expected one of {', '.join(PLATFORM_SECRETS)}"
        )
    return config


def missing_secrets(platform: str, env: Mapping[str, str], prometheus: bool = False) -> list[str]:
    """One message per secret the job needs and was not given (empty: all there)."""
    given = {name for name, value in env.items() if value.strip()}
    problems = []
    if PASSPHRASE.name not in given:
        problems.append(PASSPHRASE)
    if not given & {ACCESS_TOKEN.name, BACKEND_URL.name}:
        problems.append(ACCESS_TOKEN)
    problems += [s for s in PLATFORM_SECRETS[platform] if s.name not in given]
    if prometheus and PROMETHEUS.name not in given:
        problems.append(PROMETHEUS)
    return [f"secret {s.name} is not set: it {s.purpose} ({DOCS})" for s in problems]


def kubernetes_target(kubeconfig: str, context: str | None) -> Target:
    """The API server of ``context`` (else the current context) in a kubeconfig's text."""
    try:
        document = yaml.safe_load(kubeconfig)
    except yaml.YAMLError as error:
        raise PreflightError(f"secret {KUBECONFIG.name} is not a kubeconfig (YAML: {error})") from error
    if not isinstance(document, dict):
        raise PreflightError(f"secret {KUBECONFIG.name} is not a kubeconfig")
    name = context or document.get("current-context")
    if not name:
        raise PreflightError(
            f"secret {KUBECONFIG.name} has no current-context; set one or perfstack:kubernetes.context"
        )
    contexts = {c.get("name"): c.get("context") or {} for c in document.get("contexts") or []}
    if name not in contexts:
        known = ", ".join(sorted(map(str, contexts))) or "none"
        raise PreflightError(f"secret {KUBECONFIG.name} has no context {name!r} (contexts: {known})")
    clusters = {c.get("name"): c.get("cluster") or {} for c in document.get("clusters") or []}
    server = clusters.get(contexts[name].get("cluster"), {}).get("server")
    if not server:
        raise PreflightError(f"secret {KUBECONFIG.name}: context {name!r} names no cluster with a server")
    url = urlsplit(server)
    if url.scheme not in ("https", "http") or not url.hostname:
        raise PreflightError(f"secret {KUBECONFIG.name}: context {name!r} has server {server!r}, not a URL")
    port = url.port or (443 if url.scheme == "https" else 80)
    return Target(f"the Kubernetes API server {server} (context {name})", url.hostname, port)


def docker_target(docker_host: str) -> Target:
    """The SSH endpoint of a DOCKER_HOST; only ssh:// reaches a remote engine from CI."""
    url = urlsplit(docker_host.strip())
    if url.scheme != "ssh" or not url.hostname or not url.username:
        raise PreflightError(
            f"secret {DOCKER_HOST.name} must be ssh://user@host[:port], not {docker_host.strip()!r}: "
            "a runner's own Docker engine is thrown away with the runner"
        )
    return Target(
        f"the Docker host's SSH port ({url.hostname}:{url.port or 22})", url.hostname, url.port or 22
    )


def host_key_pinned(known_hosts: str, target: Target) -> bool:
    """Whether known_hosts has a line for the target (hashed lines count: ssh checks them itself)."""
    names = {target.host if target.port == 22 else f"[{target.host}]:{target.port}"}
    for line in known_hosts.splitlines():
        fields = line.split()
        if len(fields) < 3 or line.lstrip().startswith("#"):
            continue
        hosts = fields[1] if fields[0].startswith("@") else fields[0]
        if hosts.startswith("|1|") or names & set(hosts.split(",")):
            return True
    return False


def reach(target: Target, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Open and close a TCP connection to the target, or a PreflightError naming it."""
    try:
        with socket.create_connection((target.host, target.port), timeout=timeout):
            return
    except OSError as error:
        raise PreflightError(f"{target.description} is unreachable from this runner: {error}") from error


def write_credentials(platform: str, env: Mapping[str, str], home: Path) -> dict[str, str]:
    """Put the credential files in ``home``; the environment variables that point the tools at them."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    if platform == "kubernetes":
        path = home / "kubeconfig"
        path.touch(mode=0o600)
        path.write_text(env[KUBECONFIG.name])
        return {"KUBECONFIG": str(path)}
    ssh = Path(env.get("HOME", str(Path.home()))) / ".ssh"
    ssh.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ssh / "perfstack_docker"
    key.touch(mode=0o600)
    key.write_text(env[SSH_KEY.name].strip() + "\n")
    known = ssh / "perfstack_known_hosts"
    known.write_text(env[KNOWN_HOSTS.name].strip() + "\n")
    target = docker_target(env[DOCKER_HOST.name])
    # Docker's ssh:// transport runs the system ssh, which reads this file: only the pinned key.
    config = ssh / "config"
    config.write_text(
        f"Host {target.host}\n"
        f"  IdentityFile {key}\n"
        "  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {known}\n"
        "  StrictHostKeyChecking yes\n"
        "  BatchMode yes\n"
    )
    config.chmod(0o600)
    return {}


def check(
    project_dir: Path,
    stack: str,
    env: Mapping[str, str],
    *,
    prometheus: bool = False,
    home: Path | None = None,
    connect: Callable[[Target], None] = reach,
) -> tuple[str, dict[str, str]]:
    """Missing secrets, then the credentials written (if ``home``), then the target reached.

    Returns a line saying what was checked, and the variables for `$GITHUB_ENV`.
    """
    config = stack_settings(project_dir, stack)
    platform = config["perfstack:platform"]
    missing = missing_secrets(platform, env, prometheus)
    if missing:
        raise PreflightError(
            f"{stack} (platform {platform}) cannot be deployed from CI:\n  " + "\n  ".join(missing)
        )
    if platform == "kubernetes":
        context = (config.get("perfstack:kubernetes") or {}).get("context")
        target = kubernetes_target(env[KUBECONFIG.name], context)
    else:
        target = docker_target(env[DOCKER_HOST.name])
        if not host_key_pinned(env[KNOWN_HOSTS.name], target):
            raise PreflightError(
                f"secret {KNOWN_HOSTS.name} has no key for {target.host}"
                + ("" if target.port == 22 else f" (as [{target.host}]:{target.port})")
                + f": pin the host's key ({DOCS})"
            )
    exports = write_credentials(platform, env, home) if home is not None else {}
    connect(target)
    return f"{stack} (platform {platform}): secrets set, {target.description} reachable", exports


def main(argv: Sequence[str] | None = None, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr) -> int:
    """The command line; see the module docstring."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--prometheus", action="store_true", help="the job also reads the stack's Prometheus")
    parser.add_argument("--home", type=Path, help="write the credential files here (CI: $RUNNER_TEMP/creds)")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR)
    args = parser.parse_args(argv)
    try:
        summary, exports = check(
            args.project_dir, args.stack, os.environ, prometheus=args.prometheus, home=args.home
        )
    except PreflightError as error:
        print(f"error: {error}", file=stderr)
        return 1
    github_env = os.environ.get("GITHUB_ENV")
    if github_env and exports:
        with open(github_env, "a") as handle:
            handle.writelines(f"{name}={value}\n" for name, value in exports.items())
    print(summary, file=stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
