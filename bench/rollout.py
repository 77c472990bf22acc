"""Rollout benchmark: time-to-safe of a slow canary, from the fault to weight 0 in effect at the router.

Run on demand (not part of the test suite), after
`python3 tools/build.py --only pulumi prometheus alertmanager jaeger` and with
nginx, redis-server and prometheus-redis-exporter installed (the e2e tests' tools):

    python3 bench/rollout.py [--rounds 5] [--walk]

It runs tests/e2e/test_rollout.py's rollback test `--rounds` times in one e2e
session (the staging stack's processes on 127.0.0.1 with the background load;
`--walk` adds the walk test, once): each round commits the canary at 50 %,
deploys it (router rendered from the stack file and reloaded), lets the judge
(`python -m rollout apply`, every analysis interval) see one healthy window,
injects +3000 ms on the canary at a random moment of the judge's cycle, and
applies, commits and deploys the rollback the judge decides. It prints per
round, in seconds from the fault: where it fell in the judge's cycle, when the
judge decided, how long `apply` took, when nginx's new workers (weight 0) took
over, how long commit + render + reload took until the old workers were gone,
and time-to-safe (fault injected -> the last worker with the old split gone),
also in analysis intervals, and the bound the test asserts; then the median,
min and max. The numbers are the test's own (its `record_property`, read back
from a JUnit XML file). Exit status: pytest's.
"""

import argparse
import statistics
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

MODULE = "tests/e2e/test_rollout.py"
ROLLBACK = "test_a_slow_canary_is_rolled_back_and_nginx_then_sends_it_nothing"
WALK = "test_a_healthy_canary_walks_10_50_100_and_completes"
COLUMNS = (
    ("fault_phase_s", "fault in cycle"),
    ("decided_after_s", "decided after"),
    ("apply_s", "apply"),
    ("new_split_after_s", "new split"),
    ("deploy_s", "commit+render+reload"),
    ("time_to_safe_s", "time-to-safe"),
    ("time_to_safe_intervals", "intervals"),
    ("bound_s", "bound"),
)
WIDTHS = [("round", 7)] + [(title, max(len(title), 6)) for _, title in COLUMNS]


class Rounds:
    """A pytest plugin that runs the rollback test `count` times (as pytest-repeat would)."""

    def __init__(self, count: int) -> None:
        self.count = count

    @pytest.hookimpl(trylast=True)
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if metafunc.function.__name__ == ROLLBACK and self.count > 1:
            metafunc.fixturenames.append("bench_round")
            metafunc.parametrize("bench_round", range(1, self.count + 1), ids=lambda n: f"round{n}")


def properties(xml: Path) -> list[tuple[str, dict[str, float]]]:
    """(test name, its recorded properties) of every passed or failed test case in the JUnit XML."""
    cases = []
    for case in ET.parse(xml).getroot().iter("testcase"):
        recorded = {p.get("name", ""): float(p.get("value", "nan")) for p in case.iter("property")}
        cases.append((case.get("name", ""), recorded))
    return cases


def row(cells: list[Any]) -> str:
    return "  ".join(f"{cell:>{width}}" for cell, (_, width) in zip(cells, WIDTHS, strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rollbacks in the session (default 5)")
    parser.add_argument("--walk", action="store_true", help="also run the walk 10 -> 50 -> 100 once")
    args = parser.parse_args()
    module = PROJECT_DIR / MODULE
    tests = [f"{module}::{WALK}"] if args.walk else []
    tests.append(f"{module}::{ROLLBACK}")
    with tempfile.TemporaryDirectory(prefix="perfstack-bench-") as directory:
        xml = Path(directory) / "rollout.xml"
        code = pytest.main(
            [
                "-q",
                "-p",
                "no:cacheprovider",
                f"--rootdir={PROJECT_DIR}",
                f"--junitxml={xml}",
                "-o",
                "junit_family=xunit1",
                *tests,
            ],
            plugins=[Rounds(args.rounds)],
        )
        cases = properties(xml) if xml.exists() else []
    rounds = [recorded for name, recorded in cases if name.startswith(ROLLBACK) and recorded]
    for name, recorded in cases:
        if name == WALK and recorded:
            soaked = ", ".join(
                f"at {k.rsplit('_', 1)[1]} {v:.1f}s" for k, v in recorded.items() if "soaked" in k
            )
            print(
                f"\nwalk 10 -> 50 -> 100 -> complete in {recorded['walk_s']:.1f}s; "
                f"step in effect -> its verdict: {soaked}"
            )
    if not rounds:
        print("no rollback round recorded its measurements", file=sys.stderr)
        return int(code) or 1
    print(f"\n{row([title for title, _ in WIDTHS])}")
    for number, recorded in enumerate(rounds, 1):
        print(row([number, *(f"{recorded[key]:.2f}" for key, _ in COLUMNS)]))
    for label, pick in (("median", statistics.median), ("min", min), ("max", max)):
        print(row([label, *(f"{pick(r[key] for r in rounds):.2f}" for key, _ in COLUMNS)]))
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
