"""The real, pinned Prometheus serving backfilled synthetic series (tests/rollout/synthetic.py).

Which timestamps work (checked against Prometheus 3.16 and its tsdb source):

- Past, present and future timestamps are all served: `promtool tsdb
  create-blocks-from openmetrics` cuts the samples into 2 h aligned blocks, and
  the server queries every block it loads, whatever the wall clock says.
- Time retention counts back from the newest block's end, not from now
  (tsdb.BeyondTimeRetention): a block whose end lies RETENTION or more before
  the newest block's end is deleted when the server starts (a lone block of
  30 days ago is served even under the default 15d). With RETENTION at ten
  years, any data spanning less than that is kept, however old.
- Data should still end before now: the server's head only accepts samples
  newer than the newest block's end, so a test that also lets this Prometheus
  scrape or evaluate rules would have its fresh samples rejected as out of
  bounds if the backfilled data reached into the future. `data_end()` gives a
  round moment a few minutes before now for scenarios to end at.
- A query at T sees samples in (T - 5m, T] (the lookback delta and the usual
  5m range), so T at least 5 minutes after a phase starts sees that phase only.
"""

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.observability.tools import assert_ok, run_tool, tool_path
from tests.servers.harness import LOOPBACK, answers_200, free_ports, running

RETENTION = "3650d"
"""Time retention of the test server: relative to the newest sample, so ten years keeps any scenario."""


def data_end(minutes_before_now: int = 5, align_s: int = 300) -> int:
    """Unix seconds `minutes_before_now` minutes before now, rounded down to a multiple of `align_s`.

    Round numbers keep scrape times aligned with phase bounds; being in the past
    keeps the data clear of what the server itself could still ingest.
    """
    return (int(time.time()) // align_s) * align_s - minutes_before_now * 60


@contextmanager
def serving_backfilled(openmetrics_text: str, directory: Path) -> Iterator[str]:
    """A ready Prometheus serving `openmetrics_text` (timestamped OpenMetrics): its base URL.

    The text becomes TSDB blocks through promtool (failing with promtool's
    output when it rejects the text), and the server runs on a free loopback
    port with a config that scrapes nothing; it is stopped when the block ends.
    """
    source = directory / "synthetic.om"
    source.write_text(openmetrics_text)
    data = directory / "data"
    assert_ok(run_tool("promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)))
    config = directory / "prometheus.yml"
    config.write_text("scrape_configs: []\n")
    (port,) = free_ports(1)
    address = f"{LOOPBACK}:{port}"
    argv = [
        tool_path("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--storage.tsdb.retention.time={RETENTION}",
        f"--web.listen-address={address}",
    ]
    with running("prometheus", argv, directory) as server:
        url = f"http://{address}"
        server.wait_until(answers_200(f"{url}/-/ready"), "/-/ready")
        yield url


@pytest.fixture(scope="module")
def backfilled_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], str]]:
    """Start a Prometheus serving the OpenMetrics text it is given; returns its base URL.

    Module-scoped, so a module's own module-scoped fixture can start one server
    for all its tests (block creation and startup take seconds); every server
    started is stopped when the module's tests are done.
    """
    with ExitStack() as stack:

        def start(openmetrics_text: str) -> str:
            directory = tmp_path_factory.mktemp("backfilled-prometheus")
            return stack.enter_context(serving_backfilled(openmetrics_text, directory))

        yield start
