"""Runs the real Pulumi program under mocks and returns its resource graph.

Tests and `python -m infra render` share this: it needs no engine, no
cloud credentials and no cluster. Config comes from a real
`Pulumi.<stack>.yaml` plus overrides; secrets that the stack file holds
encrypted (or not at all) are replaced by values the caller gives, or by
placeholders.
"""

import asyncio
import hashlib
import json
import runpy
import sys
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from google.protobuf import json_format
from pulumi.runtime import rpc, settings
from pulumi.runtime.mocks import MockMonitor, MockResourceArgs, Mocks

from infra.loader import PROJECT
from infra.secrets import ALL_SECRET_KEYS, REDIS_PASSWORD_ALSO_ACCEPTED

PROJECT_DIR = Path(__file__).resolve().parent.parent
SECRET_PLACEHOLDER = "placeholder-secret-value"


@dataclass
class MockedResource:
    """One resource the program declared, as the engine would have received it."""

    type: str
    name: str
    urn: str
    parent: str | None
    inputs: dict[str, Any]
    secret_paths: list[tuple[str | int, ...]]
    delete_before_replace: bool
    protect: bool
    dependencies: list[str]
    ignore_changes: list[str] = field(default_factory=list)
    retain_on_delete: bool = False
    state: dict[str, Any] = field(default_factory=dict)
    """What the mock provider returned (see `_RecordingMocks`), secrets unwrapped."""

    @property
    def custom(self) -> bool:
        return not self.type.startswith("perfstack:")


@dataclass
class ProgramRun:
    """The result of one mocked run: every resource and the stack exports."""

    resources: list[MockedResource]
    exports: dict[str, Any]

    def of_type(self, type_: str) -> list[MockedResource]:
        return [r for r in self.resources if r.type == type_]

    def get(self, type_: str, name: str) -> MockedResource:
        matches = [r for r in self.resources if r.type == type_ and r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources of type {type_} named {name}")
        return matches[0]

    def by_urn(self, urn: str) -> MockedResource | None:
        return next((r for r in self.resources if r.urn == urn), None)

    def component_of(self, resource: MockedResource) -> MockedResource | None:
        """The nearest perfstack component above ``resource`` that is not a platform."""
        parent = resource.parent
        while parent:
            candidate = self.by_urn(parent)
            if candidate is None:
                return None
            if candidate.type.startswith("perfstack:") and not candidate.type.startswith(
                "perfstack:platform:"
            ):
                return candidate
            parent = candidate.parent
        return None


def _strip_secrets(value: Any, path: tuple[str | int, ...], found: list[tuple[str | int, ...]]) -> Any:
    if rpc.is_rpc_secret(value):
        found.append(path)
        return _strip_secrets(rpc.unwrap_rpc_secret(value), path, [])
    if isinstance(value, dict):
        return {k: _strip_secrets(v, (*path, k), found) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_secrets(v, (*path, i), found) for i, v in enumerate(value)]
    return value


def _content_hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:8]


class _RecordingMocks(Mocks):
    """Returns as state what the providers would return that the program reads.

    A Kubernetes object's state is its metadata, with the name the provider
    would generate: the program reads nothing else of it. A Docker resource's
    state is its inputs (the program reads the names it gave) plus, for an
    image, its id. The run is a preview, so the SDK gives the program no
    other output: code that starts to read one sees it unknown, as in the
    first `pulumi preview`, instead of an echo of its own input.
    """

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        if args.typ.startswith("kubernetes:") and isinstance(state.get("metadata"), dict):
            metadata = dict(state["metadata"])
            if "name" not in metadata:
                # Auto-naming: a content change gives a new name, as the provider does on replace.
                metadata["name"] = f"{args.name}-{_content_hash(state)}"
            state = {"metadata": metadata}
        if args.typ == "docker:index/container:Container" and "name" not in state:
            # Auto-naming, as for Kubernetes objects: a replaced container gets a new name.
            state["name"] = f"{args.name}-{_content_hash(state)[:7]}"
        if args.typ == "docker:index/remoteImage:RemoteImage":
            state["imageId"] = f"sha256:{_content_hash(args.inputs.get('name'))}"
        if args.typ == "docker:index/image:Image":
            # A local build's repoDigest is its image id (pulumi-docker 4.4+), new with every build.
            state["repoDigest"] = f"sha256:{_content_hash(args.inputs)}"
        return f"{args.name}-id", state

    def call(self, args: Any) -> tuple[dict[str, Any], None]:
        return {}, None


class _RecordingMonitor(MockMonitor):
    """Keeps what plain mocks drop: parent, options and which inputs are secret."""

    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.recorded: list[MockedResource] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            secret_paths: list[tuple[str | int, ...]] = []
            # Read the wire form: deserializing would lift a nested secret to
            # the whole property, while the engine keeps it where it is.
            inputs = _strip_secrets(json_format.MessageToDict(request.object), (), secret_paths)
            urn = response.urn
            self.recorded.append(
                MockedResource(
                    type=request.type,
                    name=request.name,
                    urn=urn,
                    parent=request.parent or None,
                    inputs=inputs,
                    secret_paths=secret_paths,
                    delete_before_replace=bool(request.deleteBeforeReplace),
                    protect=bool(request.protect),
                    dependencies=list(request.dependencies),
                    ignore_changes=list(request.ignoreChanges),
                    retain_on_delete=bool(request.retainOnDelete),
                    state=_strip_secrets(self.resources[urn].state, (), []) if urn in self.resources else {},
                )
            )
        return response


def stack_file_config(stack: str, path: Path | None = None) -> dict[str, Any]:
    """The `perfstack:` keys of `Pulumi.<stack>.yaml` (or `path`), prefix removed, encrypted ones left out."""
    path = path or PROJECT_DIR / f"Pulumi.{stack}.yaml"
    document = yaml.load(path.read_text(), Loader=yaml.CSafeLoader) or {}
    prefix = f"{PROJECT}:"
    return {
        key[len(prefix) :]: value
        for key, value in (document.get("config") or {}).items()
        if key.startswith(prefix) and not (isinstance(value, dict) and set(value) == {"secure"})
    }


def set_path(config: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b.c`` inside ``config`` as `pulumi config set --path` does (a null value deletes it)."""
    *parents, last = dotted.split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ValueError(f"{PROJECT}:{dotted}: {part} is not an object")
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value


def _ensure_event_loop() -> asyncio.AbstractEventLoop:
    # Pulumi's mocks run on the thread's current event loop; asyncio.run() elsewhere
    # in the same process (a test of an async server, say) leaves none behind.
    policy = asyncio.get_event_loop_policy()
    try:
        loop = policy.get_event_loop()
        if not loop.is_closed():
            return loop
    except RuntimeError:
        pass
    loop = policy.new_event_loop()
    policy.set_event_loop(loop)
    return loop


@contextmanager
def _monitor_thread(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """Run the SDK's calls to the mock monitor on one thread whose event loop is closed afterwards.

    The SDK calls the monitor through the loop's default executor, and the mock
    monitor gives each of its threads an event loop that nobody closes: left to
    the garbage collector, such a loop closes its file descriptors whenever it
    is collected, by then perhaps another object's. One thread, torn down here,
    leaves nothing behind and needs no collection.
    """
    thread_loops: list[asyncio.AbstractEventLoop] = []

    def start() -> None:
        thread_loop = asyncio.new_event_loop()
        asyncio.set_event_loop(thread_loop)
        thread_loops.append(thread_loop)

    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mock-monitor", initializer=start)
    loop.set_default_executor(executor)
    try:
        yield
    finally:
        executor.shutdown(wait=True)
        for thread_loop in thread_loops:
            thread_loop.close()
        # Later users of the loop get a fresh executor, as they would have by default.
        loop.set_default_executor(ThreadPoolExecutor())


def run_program(
    stack: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
    config: Mapping[str, Any] | None = None,
    placeholder_secrets: bool = True,
    declared: list[MockedResource] | None = None,
) -> ProgramRun:
    """Run `__main__.py` under mocks for ``stack`` and return what it declared.

    ``config`` replaces the stack file's settings entirely; ``overrides`` are
    dotted paths applied on top (value None removes a key). ``secrets`` maps
    secret keys (`redisPassword`) to values; every other secret key, except
    the rotation-only `redisPasswordAlsoAccepted`, gets a placeholder unless
    ``placeholder_secrets`` is off. A program error is
    raised as is (a ConfigError for bad config); ``declared``, if given,
    receives the resources declared up to then.
    """
    values = json.loads(json.dumps(dict(config) if config is not None else stack_file_config(stack)))
    for dotted, value in (overrides or {}).items():
        set_path(values, dotted, value)
    given = dict(secrets or {})
    if placeholder_secrets:
        # A placeholder for the rotation-only password would render every run mid-rotation.
        for secret in ALL_SECRET_KEYS:
            if secret is not REDIS_PASSWORD_ALSO_ACCEPTED:
                given.setdefault(secret.key, SECRET_PLACEHOLDER)
    all_config = {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
    all_config.update({f"{PROJECT}:{k}": v for k, v in given.items()})

    loop = _ensure_event_loop()
    settings.reset_options(project=PROJECT, stack=stack)
    pulumi.runtime.set_all_config(all_config, secret_keys=[f"{PROJECT}:{k}" for k in given])
    monitor = _RecordingMonitor(_RecordingMocks())
    if declared is not None:
        monitor.recorded = declared
    # A preview: the SDK would otherwise copy each input into the outputs and
    # convert it to the output types, a third of the run for nothing it reads.
    pulumi.runtime.set_mocks(_RecordingMocks(), project=PROJECT, stack=stack, preview=True, monitor=monitor)
    exports: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        sys.path.insert(0, str(PROJECT_DIR))
        try:
            runpy.run_path(str(PROJECT_DIR / "__main__.py"), run_name="__main__")
        finally:
            sys.path.remove(str(PROJECT_DIR))
        outputs = settings.get_root_resource().outputs  # type: ignore[union-attr]
        return pulumi.Output.all(**outputs).apply(exports.update)

    try:
        with _monitor_thread(loop):
            program()
    finally:
        pulumi.runtime.set_all_config({}, secret_keys=[])
    return ProgramRun(resources=monitor.recorded, exports=exports)
