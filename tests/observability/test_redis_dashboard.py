"""The Redis dashboard reads each node on its own: data nodes and Sentinels by `redis_kind`."""

import re

from components.grafana.dashboards import REDIS_FILE, render_dashboards
from components.prometheus.alerts import AlertsConfig
from infra.wiring import dashboard_thresholds

from .promql import dashboard_exprs

EXPRS = dashboard_exprs(render_dashboards(dashboard_thresholds(AlertsConfig()))[REDIS_FILE])


def test_every_redis_series_is_selected_by_kind_of_node() -> None:
    # Without it, a panel would mix data nodes with Sentinels (which report no memory or keyspace).
    selectors = [m for e in EXPRS for m in re.findall(r"\bredis_[a-z_]+(?:\{[^}]*\})?", e)]
    assert selectors
    assert [s for s in selectors if 'redis_kind="' not in s] == []


def test_dashboard_shows_whether_redis_has_exactly_one_master() -> None:
    assert any('role="master"' in e and "== bool 1" in e for e in EXPRS)


def test_dashboard_counts_the_sentinels_that_answer() -> None:
    assert 'sum(redis_up{redis_kind="sentinel"})' in EXPRS
