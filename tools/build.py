"""Build the programs the tests run, once per version, into a cache outside the repo.

    python3 tools/build.py                 build what is missing, print nothing else
    python3 tools/build.py --only kube     build only the named tools
    python3 tools/build.py --print-path    print the bin dirs of the built tools (PATH form)

Every tool lives in ``$PERFSTACK_TOOLS_CACHE`` (default ``~/.cache/perfstack-tools``)
under ``<name>-<version>-<hash>``, where the hash covers the recipe below and
the files it builds from (``tools/go/<name>/``). A warm run finds every
directory and builds nothing; a changed pin or recipe gets a new directory.
Missing tools build two at a time, sharing one Go build cache in a temporary
directory that is deleted afterwards (a cold run grows it to several GB).

Everything is built from modules the Go module proxy serves; where a module
zip lacks a generated file (Alertmanager's UI, the Kubernetes provider's
embedded schema) the module is copied to the scratch directory, completed
there and substituted with a ``replace``. No upstream source enters the repo.

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
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GO_MODULES = REPO / "tools" / "go"

# Data-only pins (no Go build): the Gateway API CRDs installed in the test cluster.
GATEWAY_API_VERSION = "v1.4.1"
ACTIONLINT_VERSION = "v1.7.12"

# The service discoveries the generated prometheus.yml uses (static targets are
# built in). The others compile the cloud SDKs (AWS, Azure, GCE, ...) that no
# generated config can reach, and Nomad's dependency is refused by the proxy.
PROMETHEUS_SD = ("kubernetes",)

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


def required_module_version(name: str, module: str | None = None) -> str:
    """The version ``tools/go/<name>/go.mod`` requires of ``module`` (default: its one direct requirement)."""
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
    if module is not None:
        (require,) = (r for r in gomod["Require"] if r["Path"] == module)
    else:
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
    # Tools build side by side: every line says which build it came from.
    print(f"[tools] {cwd.name}$ {' '.join(cmd)}", file=sys.stderr, flush=True)
    with subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            print(f"[tools] {cwd.name}: {line}", end="", file=sys.stderr, flush=True)
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, cmd)


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


def _replace_with_writable_copy(work: Path, module: str, version: str, env: dict[str, str]) -> Path:
    """A writable copy of ``module@version`` in ``work/module-src``, which the go.mod there now uses.

    For a module zip that lacks a file upstream generates before building: the
    copy is completed in the scratch directory, never in the repository.
    """
    copy = work / "module-src"
    shutil.copytree(_module_dir(f"{module}@{version}", env), copy)
    for path in [copy, *copy.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    _run(["go", "mod", "edit", f"-replace={module}=./module-src"], work, env)
    return copy


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
    env = _go_env(GOFLAGS=f"-mod={mod}")
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
        copy = _replace_with_writable_copy(work, "github.com/prometheus/alertmanager", module_version, env)
        dist = copy / "ui" / "app" / "dist"
        dist.mkdir(parents=True, exist_ok=True)
        (dist / "index.html.gz").write_bytes(gzip.compress(b"<html>alertmanager (API only)</html>"))

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


PULUMI_PKG = "github.com/pulumi/pulumi/pkg/v3"
KUBERNETES_PROVIDER = "github.com/pulumi/pulumi-kubernetes/provider/v4"
KUBERNETES_SDK = "github.com/pulumi/pulumi-kubernetes/sdk/v4"


def pulumi_release() -> str:
    """The CLI's release: the pkg/v3 version tools/go/pulumi requires (e.g. v3.276.0)."""
    return required_module_version("pulumi", PULUMI_PKG)


def kubernetes_provider_release() -> str:
    """The provider's release, e.g. 4.25.0.

    The proxy serves the provider module only under the pseudo-version of its
    release commit, so the release is the sdk/v4 version tools/go/pulumi-kubernetes
    pins beside it (the same one requirements.txt pins for Python).
    """
    return required_module_version("pulumi-kubernetes", KUBERNETES_SDK).lstrip("v")


def build_pulumi(tool: Tool, out: Path, scratch: Path) -> None:
    flag = f"-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version={pulumi_release()}"
    _go_build(tool, out, scratch, [f"{PULUMI_PKG}/cmd/pulumi"], ldflags=flag)


def build_pulumi_kubernetes(tool: Tool, out: Path, scratch: Path) -> None:
    release = kubernetes_provider_release()
    provider_version = required_module_version("pulumi-kubernetes", KUBERNETES_PROVIDER)

    def generate_schema(work: Path, env: dict[str, str]) -> None:
        # main.go embeds schema-embed.json, which upstream's `go generate` writes
        # (schema.json stamped with the release) and the module zip lacks: a
        # writable copy of the module gets it and replaces the module. The copy's
        # `../sdk` replace points nowhere outside upstream's repository, so its
        # go.mod pins the published sdk/v4 instead, as ours does.
        copy = _replace_with_writable_copy(work, KUBERNETES_PROVIDER, provider_version, env)
        _run(
            ["go", "mod", "edit", f"-dropreplace={KUBERNETES_SDK}", f"-require={KUBERNETES_SDK}@v{release}"],
            copy,
            env,
        )
        generate_env = dict(env, VERSION=release, GOFLAGS="-mod=mod")
        _run(["go", "generate", "./main.go"], copy / "cmd" / "pulumi-resource-kubernetes", generate_env)

    _go_build(
        tool,
        out,
        scratch,
        [f"{KUBERNETES_PROVIDER}/cmd/pulumi-resource-kubernetes"],
        ldflags=f"-X {KUBERNETES_PROVIDER}/pkg/version.Version={release}",
        prepare=generate_schema,
    )


def build_gateway_api(tool: Tool, out: Path, scratch: Path) -> None:
    source = _module_dir(f"sigs.k8s.io/gateway-api@{GATEWAY_API_VERSION}", _go_env())
    crds = out / "share" / "crds"
    crds.mkdir(parents=True)
    for crd in sorted((source / "config" / "crd" / "standard").glob("*.yaml")):
        shutil.copyfile(crd, crds / crd.name)


def build_actionlint(tool: Tool, out: Path, scratch: Path) -> None:
    env = _go_env(GOBIN=str(out / "bin"))
    _run(["go", "install", f"github.com/rhysd/actionlint/cmd/actionlint@{ACTIONLINT_VERSION}"], scratch, env)


# Longest cold build first (on 2 cores): tools/build.py starts them in this order,
# so the short ones fill the gaps beside the long ones.
TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        Tool(
            "pulumi-kubernetes",
            kubernetes_provider_release,
            build_pulumi_kubernetes,
            (GO_MODULES / "pulumi-kubernetes",),
        ),
        Tool("pulumi", pulumi_release, build_pulumi, (GO_MODULES / "pulumi",)),
        Tool("kube", lambda: required_module_version("kube"), build_kube, (GO_MODULES / "kube",)),
        Tool(
            "prometheus",
            lambda: prometheus_release(required_module_version("prometheus")),
            build_prometheus,
            (GO_MODULES / "prometheus",),
            {"sd": PROMETHEUS_SD},
        ),
        Tool(
            "jaeger",
            lambda: jaeger_release(required_module_version("jaeger")),
            build_jaeger,
            (GO_MODULES / "jaeger",),
        ),
        Tool("kwok", lambda: required_module_version("kwok"), build_kwok, (GO_MODULES / "kwok",)),
        Tool(
            "alertmanager",
            lambda: required_module_version("alertmanager").lstrip("v"),
            build_alertmanager,
            (GO_MODULES / "alertmanager",),
        ),
        Tool("etcd", lambda: required_module_version("etcd"), build_etcd, (GO_MODULES / "etcd",)),
        Tool(
            "actionlint",
            lambda: ACTIONLINT_VERSION.lstrip("v"),
            build_actionlint,
            recipe={"version": ACTIONLINT_VERSION},
        ),
        Tool(
            "gateway-api",
            lambda: GATEWAY_API_VERSION,
            build_gateway_api,
            recipe={"version": GATEWAY_API_VERSION},
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
        help="build all but these",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="tools built at once (default 2: each Go build uses every core, but"
        " downloads, code generation and linking leave them idle; the largest process of"
        " a cold run peaked at 4.1 GB RSS)",
    )
    parser.add_argument("--print-path", action="store_true", help="print the built tools' bin dirs and exit")
    args = parser.parse_args(argv)
    selected = [TOOLS[name] for name in (args.only or TOOLS) if name not in args.skip]
    if args.print_path:
        print(":".join(str(d / "bin") for d in map(installed, (t.name for t in selected)) if d))
        return 0
    missing = [tool for tool in selected if installed(tool.name) is None]
    if not missing:
        return 0
    # One Go build cache for the run, shared by the builds (the standard library
    # and common dependencies compile once) and deleted at the end: a cold
    # engine build alone grows it to several GB.
    with tempfile.TemporaryDirectory(prefix="perfstack-gocache-") as gocache:
        os.environ["GOCACHE"] = gocache
        missing.sort(key=lambda tool: list(TOOLS).index(tool.name))
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            for future in [pool.submit(ensure, tool) for tool in missing]:
                future.result()
    return 0


if __name__ == "__main__":
    sys.exit(main())
