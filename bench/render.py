"""Render benchmark: `python -m infra render` against the bare import of the SDKs it uses, same run.

Run on demand (not part of the test suite):

    python3 bench/render.py [--runs 5] [--services 1 10 50]

For each stack file, and for production-like stack files with 1, 10 and 50
app services (generated from `Pulumi.production.yaml`), it runs the render
and the bare SDK import alternately (paired runs, so a busy machine slows
both alike) and reports the median CPU time (user + system of the child
process) of each and their ratio. CPU, not wall time: the render is one
process and its waiting is not work.
"""

import argparse
import copy
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
BARE_IMPORT = "import pulumi, pulumi_kubernetes.apps.v1, pulumi_kubernetes.core.v1, pulumi_docker"
GOAL = 1.5


def cpu_seconds(command: list[str]) -> float:
    """User + system CPU of one run of ``command`` (which must succeed)."""
    process = subprocess.Popen(command, cwd=PROJECT_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(command)} failed:\n{process.stderr.read().decode() if process.stderr else ''}")
    return usage.ru_utime + usage.ru_stime


def paired(render: list[str], runs: int) -> tuple[float, float]:
    """Median CPU seconds of the render and of the bare import, over ``runs`` alternating pairs."""
    bare = [sys.executable, "-c", BARE_IMPORT]
    cpu_seconds(bare), cpu_seconds(render)  # warm the file cache once
    pairs = [(cpu_seconds(render), cpu_seconds(bare)) for _ in range(runs)]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def stack_with_services(count: int, directory: Path) -> Path:
    """A production stack file whose `api` service is repeated ``count`` times (svc-0 ... svc-N)."""
    document = yaml.safe_load((PROJECT_DIR / "Pulumi.production.yaml").read_text())
    api = document["config"]["perfstack:services"]["api"]
    services = {}
    for index in range(count):
        service = copy.deepcopy(api)
        service["route"]["pathPrefix"] = "/" if index == 0 else f"/svc-{index}"
        services[f"svc-{index}"] = service
    document["config"]["perfstack:services"] = services
    path = directory / f"Pulumi.production-{count}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="paired runs per case (default 5)")
    parser.add_argument("--services", type=int, nargs="*", default=[1, 10, 50], help="service counts")
    args = parser.parse_args()
    failed = False
    with tempfile.TemporaryDirectory(prefix="perfstack-bench-") as directory:
        work = Path(directory)
        cases = [(stack, stack, None) for stack in ("staging", "production")]
        cases += [
            (f"production, {n} services", "production", stack_with_services(n, work)) for n in args.services
        ]
        print(f"median CPU over {args.runs} paired runs; bare import: {BARE_IMPORT}")
        print(f"{'case':<28} {'render':>8} {'bare':>8} {'ratio':>6}")
        for label, stack, stack_file in cases:
            render = [sys.executable, "-m", "infra", "render", stack, "--out", str(work / "out")]
            if stack_file:
                render += ["--stack-file", str(stack_file)]
            started = time.monotonic()
            render_cpu, bare_cpu = paired(render, args.runs)
            ratio = render_cpu / bare_cpu
            print(f"{label:<28} {render_cpu:>7.2f}s {bare_cpu:>7.2f}s {ratio:>6.2f}"
                  f"   ({time.monotonic() - started:.0f}s)")  # fmt: skip
            failed |= stack_file is None and stack == "production" and ratio > GOAL
    print(f"goal: render production <= {GOAL} x the bare import")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
