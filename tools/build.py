"""Build the programs the tests run, once per version, into a cache outside the repo.

    python3 tools/build.py                 build what is missing, print nothing else
    python3 tools/build.py --only kube     build only the named tools
    python3 tools/build.py --print-path    print the bin dirs of the built tools (PATH form)

Every tool lives in ``$PERFSTACK_TOOLS_CACHE`` (default ``~/.cache/perfstack-tools``)
under ``<name>-<version>-<hash>``, where the hash covers the recipe below and
the files it builds from (``tools/go/<name>/`` or the engine kit). A warm run
finds every directory and builds nothing; a changed pin or recipe gets a new
directory. Go's build cache goes to a temporary directory that is deleted
after each tool, because a cold build of the engine alone grows it to ~6 GB.

The versions of the servers the stacks deploy (Prometheus, Alertmanager,
Jaeger) come from ``tools/go/<name>/go.mod``; the ``-X`` version flags are
derived from that require line, so ``--version`` tells what was built and the
test suite compares it with the image pins in ``infra/images.toml``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GO_MODULES = REPO / "tools" / "go"
ENGINE_KIT = Path(os.environ.get("PERFSTACK_ENGINE_KIT", REPO.parent / "shared" / "engine-kit"))

# Data-only pins (no Go build): the Gateway API CRDs installed in the test cluster.
GATEWAY_API_VERSION = "v1.4.1"
ACTIONLINT_VERSION = "v1.7.12"

# Every discovery Prometheus ships except Nomad, whose dependency the module proxy refuses.
PROMETHEUS_SD = (
    "aws", "azure", "consul", "digitalocean", "dns", "eureka", "gce", "hetzner", "ionos",
    "kubernetes", "linode", "marathon", "moby", "oci", "openstack", "outscale", "ovhcloud",
    "puppetdb", "scaleway", "stackit", "triton", "uyuni", "vultr", "xds", "zookeeper",
)  # fmt: skip

KWOK_STAGES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
)


def cache_root() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "perfstack-tools"
    return Path(os.environ.get("PERFSTACK_TOOLS_CACHE", default))


def required_module_version(name: str) -> str:
    """The version of the one direct requirement of ``tools/go/<name>/go.mod``."""
    gomod = json.loads(
        subprocess.run(
            ["go", "mod", "edit", "-json"],
            cwd=GO_MODULES / name,
            check=True,
            capture_output=True,
            text=True,
            env=_go_env(),
        ).stdout
    )
    (require,) = (r for r in gomod["Require"] if not r.get("Indirect"))
    return require["Version"]


def prometheus_release(module_version: str) -> str:
    """Prometheus 3.MM.P is tagged v0.3MM.P in its Go module."""
    _, minor, patch = module_version.lstrip("v").split(".")
    return f"{int(minor[0])}.{int(minor[1:])}.{patch}"


def jaeger_release(module_version: str) -> str:
    """Jaeger v2.N.P is tagged v1.(63+N).P in its Go module (v2.0.0 shipped with v1.63.0)."""
    _, minor, patch = module_version.lstrip("v").split(".")
    return f"{2}.{int(minor) - 63}.{patch}"


@dataclass(frozen=True)
class Tool:
    """One cache entry: what to build, from which files, and how."""

    name: str
    version: Callable[[], str]
    build: Callable[[Tool, Path, Path], None]
    """build(tool, out_dir, scratch_dir): put binaries in out_dir/bin, data in out_dir/share."""
    sources: tuple[Path, ...] = ()
    recipe: dict[str, object] = field(default_factory=dict)

    def key(self) -> str:
        # The tool's own build function and data, not the whole file: editing
        # one recipe must not rebuild the 20-minute engine.
        digest = hashlib.sha256(json.dumps(self.recipe, sort_keys=True).encode())
        digest.update(inspect.getsource(self.build).encode())
        for source in self.sources:
            for path in sorted(p for p in source.rglob("*") if p.is_file()):
                digest.update(str(path.relative_to(source)).encode())
                digest.update(path.read_bytes())
        return f"{self.name}-{self.version()}-{digest.hexdigest()[:10]}"

    def directory(self) -> Path:
        return cache_root() / self.key()


def _go_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, GOTOOLCHAIN="local", CGO_ENABLED="0")
    env.update(extra)
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    print(f"[tools] {cwd.name}$ {' '.join(cmd)}", file=sys.stderr, flush=True)
    subprocess.run(cmd, cwd=cwd, env=env, check=True)


def _module_dir(module: str, env: dict[str, str]) -> Path:
    info = subprocess.run(
        ["go", "mod", "download", "-json", module], check=True, capture_output=True, text=True, env=env
    ).stdout
    return Path(json.loads(info)["Dir"])


def _version_flags(package: str, version: str) -> str:
    return " ".join(
        f"-X {package}.{var}={value}"
        for var, value in {
            "Version": version,
            "Revision": "release",
            "Branch": "HEAD",
            "BuildUser": "perfstack-tools",
            "BuildDate": "19700101-00:00:00",
        }.items()
    )


def _go_build(
    tool: Tool,
    out: Path,
    scratch: Path,
    packages: list[str],
    ldflags: str = "",
    tags: str = "",
    mod: str = "readonly",
    prepare: Callable[[Path, dict[str, str]], None] | None = None,
) -> None:
    """Copy tools/go/<name> to scratch and build the packages into out/bin."""
    work = scratch / tool.name
    shutil.copytree(GO_MODULES / tool.name, work)
    env = _go_env(GOCACHE=str(scratch / "gocache"), GOFLAGS=f"-mod={mod}")
    if prepare:
        prepare(work, env)
    cmd = ["go", "build", "-trimpath", "-ldflags", f"-s -w {ldflags}".strip(), "-o", str(out / "bin") + "/"]
    if tags:
        cmd[2:2] = ["-tags", tags]
    _run(cmd + packages, work, env)


def build_kube(tool: Tool, out: Path, scratch: Path) -> None:
    release = required_module_version("kube")
    major, minor = release.lstrip("v").split(".")[:2]
    flags = " ".join(
        f"-X {pkg}.{var}={value}"
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for var, value in {
            "gitVersion": release,
            "gitMajor": major,
            "gitMinor": minor,
            "gitTreeState": "clean",
            "buildDate": "1970-01-01T00:00:00Z",
        }.items()
    )
    cmds = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"]
    _go_build(tool, out, scratch, [f"k8s.io/kubernetes/cmd/{c}" for c in cmds], ldflags=flags)


def build_etcd(tool: Tool, out: Path, scratch: Path) -> None:
    # The module path ends in /etcd, so the binary is named etcd.
    _go_build(tool, out, scratch, ["."])


def build_kwok(tool: Tool, out: Path, scratch: Path) -> None:
    _go_build(tool, out, scratch, ["sigs.k8s.io/kwok/cmd/kwok"])
    source = _module_dir(f"sigs.k8s.io/kwok@{required_module_version('kwok')}", _go_env())
    (out / "share").mkdir()
    stages = "---\n".join((source / stage).read_text() for stage in KWOK_STAGES)
    (out / "share" / "stages.yaml").write_text(stages)


def build_prometheus(tool: Tool, out: Path, scratch: Path) -> None:
    release = prometheus_release(required_module_version("prometheus"))
    tags = ",".join(["netgo", "remove_all_sd", *(f"enable_{sd}_sd" for sd in PROMETHEUS_SD)])
    _go_build(
        tool,
        out,
        scratch,
        ["github.com/prometheus/prometheus/cmd/prometheus", "github.com/prometheus/prometheus/cmd/promtool"],
        ldflags=_version_flags("github.com/prometheus/common/version", release),
        tags=tags,
        # go mod tidy ignores build tags and would need the refused Nomad module.
        mod="mod",
    )


def build_alertmanager(tool: Tool, out: Path, scratch: Path) -> None:
    module_version = required_module_version("alertmanager")

    def stub_ui(work: Path, env: dict[str, str]) -> None:
        # The module zip has no ui/app/dist (generated upstream by npm); the
        # package embeds it, so a copy with a stub page stands in for it.
        source = _module_dir(f"github.com/prometheus/alertmanager@{module_version}", env)
        copy = work / "alertmanager-src"
        shutil.copytree(source, copy)
        for path in [copy, *copy.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
        dist = copy / "ui" / "app" / "dist"
        dist.mkdir(parents=True, exist_ok=True)
        (dist / "index.html.gz").write_bytes(gzip.compress(b"<html>alertmanager (API only)</html>"))
        _run(
            ["go", "mod", "edit", "-replace=github.com/prometheus/alertmanager=./alertmanager-src"], work, env
        )

    _go_build(
        tool,
        out,
        scratch,
        [
            "github.com/prometheus/alertmanager/cmd/alertmanager",
            "github.com/prometheus/alertmanager/cmd/amtool",
        ],
        ldflags=_version_flags("github.com/prometheus/common/version", module_version.lstrip("v")),
        mod="mod",
        prepare=stub_ui,
    )


def build_jaeger(tool: Tool, out: Path, scratch: Path) -> None:
    release = jaeger_release(required_module_version("jaeger"))
    flag = f"-X github.com/jaegertracing/jaeger/internal/version.latestVersion=v{release}"
    _go_build(tool, out, scratch, ["github.com/jaegertracing/jaeger/cmd/jaeger"], ldflags=flag)


def build_engine(tool: Tool, out: Path, scratch: Path) -> None:
    env = _go_env(GOCACHE=str(scratch / "gocache"), WORK=str(scratch / "engine-work"))
    _run(["bash", str(ENGINE_KIT / "build.sh"), str(out / "bin")], scratch, env)


def build_gateway_api(tool: Tool, out: Path, scratch: Path) -> None:
    source = _module_dir(f"sigs.k8s.io/gateway-api@{GATEWAY_API_VERSION}", _go_env())
    crds = out / "share" / "crds"
    crds.mkdir(parents=True)
    for crd in sorted((source / "config" / "crd" / "standard").glob("*.yaml")):
        shutil.copyfile(crd, crds / crd.name)


def build_actionlint(tool: Tool, out: Path, scratch: Path) -> None:
    env = _go_env(GOCACHE=str(scratch / "gocache"), GOBIN=str(out / "bin"))
    _run(["go", "install", f"github.com/rhysd/actionlint/cmd/actionlint@{ACTIONLINT_VERSION}"], scratch, env)


def _engine_version() -> str:
    build_script = ENGINE_KIT / "build.sh"
    if not build_script.exists():
        return "pulumi-no-kit"
    match = re.search(r"^PULUMI_VERSION=(\S+)", build_script.read_text(), re.MULTILINE)
    return f"pulumi-{match.group(1) if match else 'unknown'}"


TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        Tool("kube", lambda: required_module_version("kube"), build_kube, (GO_MODULES / "kube",)),
        Tool("etcd", lambda: required_module_version("etcd"), build_etcd, (GO_MODULES / "etcd",)),
        Tool("kwok", lambda: required_module_version("kwok"), build_kwok, (GO_MODULES / "kwok",)),
        Tool(
            "gateway-api",
            lambda: GATEWAY_API_VERSION,
            build_gateway_api,
            recipe={"version": GATEWAY_API_VERSION},
        ),
        Tool(
            "prometheus",
            lambda: prometheus_release(required_module_version("prometheus")),
            build_prometheus,
            (GO_MODULES / "prometheus",),
            {"sd": PROMETHEUS_SD},
        ),
        Tool(
            "alertmanager",
            lambda: required_module_version("alertmanager").lstrip("v"),
            build_alertmanager,
            (GO_MODULES / "alertmanager",),
        ),
        Tool(
            "jaeger",
            lambda: jaeger_release(required_module_version("jaeger")),
            build_jaeger,
            (GO_MODULES / "jaeger",),
        ),
        Tool("engine", _engine_version, build_engine, (ENGINE_KIT,)),
        Tool(
            "actionlint",
            lambda: ACTIONLINT_VERSION.lstrip("v"),
            build_actionlint,
            recipe={"version": ACTIONLINT_VERSION},
        ),
    )
}


def installed(name: str) -> Path | None:
    """The cache directory of tool ``name`` when it has been built (``bin/``, ``share/``), else None."""
    directory = TOOLS[name].directory()
    return directory if (directory / ".complete").exists() else None


def ensure(tool: Tool) -> Path:
    """The tool's cache directory, built first if it is not there yet."""
    target = tool.directory()
    if (target / ".complete").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"perfstack-{tool.name}-") as scratch:
        staging = Path(scratch) / "out"
        (staging / "bin").mkdir(parents=True)
        tool.build(tool, staging, Path(scratch))
        (staging / ".complete").write_text(f"built in {time.monotonic() - started:.0f}s\n")
        shutil.rmtree(target, ignore_errors=True)
        shutil.move(staging, target)
    print(f"[tools] {tool.key()}: built in {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="+", choices=sorted(TOOLS), help="build only these tools")
    parser.add_argument(
        "--skip",
        nargs="+",
        choices=sorted(TOOLS),
        default=[],
        help="build all but these (GitHub Actions skips the engine: it installs the official CLI)",
    )
    parser.add_argument("--print-path", action="store_true", help="print the built tools' bin dirs and exit")
    args = parser.parse_args(argv)
    selected = [TOOLS[name] for name in (args.only or TOOLS) if name not in args.skip]
    if args.print_path:
        print(":".join(str(d / "bin") for d in map(installed, (t.name for t in selected)) if d))
        return 0
    for tool in selected:
        ensure(tool)
    return 0


if __name__ == "__main__":
    sys.exit(main())
