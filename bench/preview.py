"""Engine benchmark: `pulumi preview` and `pulumi up` of production with 1 and 50 app services.

Run on demand (not part of the test suite), after `python3 tools/build.py`; the
program runs inline through the Automation API, as in the engine tests:

    python3 bench/preview.py [--services 1 50] [--runs 3]

For each service count it starts the engine tests' local cluster
(tests/engine/cluster.py), creates a production stack from a generated stack
file (the `api` service repeated, as in bench/render.py), and times, as
wall clock, `pulumi preview` (median of --runs), then one `pulumi up` and
one `pulumi preview` of the deployed stack (nothing to change).
"""

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))
sys.path.insert(0, str(PROJECT_DIR / "bench"))

from render import stack_with_services  # noqa: E402

from tests.engine.cluster import ClusterTools, LocalCluster  # noqa: E402
from tests.engine.engine import Engine  # noqa: E402
from tests.engine.project import PulumiProject  # noqa: E402
from tools.build import installed  # noqa: E402


def timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, nargs="*", default=[1, 50])
    parser.add_argument("--runs", type=int, default=3, help="previews per service count (median)")
    args = parser.parse_args()
    names = ("pulumi", "pulumi-kubernetes", "kube", "etcd", "kwok", "gateway-api")
    dirs = {name: installed(name) for name in names}
    missing = [name for name, path in dirs.items() if path is None]
    if missing:
        sys.exit(f"not built: {', '.join(missing)} (python3 tools/build.py --only {' '.join(missing)})")
    tools = ClusterTools.from_cache_dirs(
        kube=dirs["kube"], etcd=dirs["etcd"], kwok=dirs["kwok"], gateway_api=dirs["gateway-api"]
    )
    print(f"{'services':>8} {'preview':>9} {'up':>8} {'preview (deployed)':>19}")
    for count in args.services:
        with (
            tempfile.TemporaryDirectory(prefix="perfstack-bench-") as directory,
            LocalCluster(tools) as cluster,
        ):
            work = Path(directory)
            engine = Engine.with_provider(
                dirs["pulumi"] / "bin", dirs["pulumi-kubernetes"], work / "pulumi-home"
            )
            project = PulumiProject(work / "stack", engine, stack="production", kubeconfig=cluster.kubeconfig)
            # Keep the encryption salt `pulumi stack init` wrote; take the generated config.
            initialized = yaml.safe_load(project.stack_file.read_text())
            generated = yaml.safe_load(stack_with_services(count, work).read_text())
            project.stack_file.write_text(yaml.safe_dump({**initialized, "config": generated["config"]}))
            project.set_secrets()
            preview = partial(project.preview, policy=False)
            previews = [timed(preview) for _ in range(args.runs)]
            up = timed(project.up)
            again = timed(preview)
            print(f"{count:>8} {statistics.median(previews):>8.1f}s {up:>7.1f}s {again:>18.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
