"""Reads both tracks' samples from Prometheus' HTTP API (`/api/v1/query` at a given moment).

The expressions are the recording rules' own (components/prometheus/queries.py)
over the rollout's analysis interval, on the raw series of the metrics
contract, so a verdict can be replayed at any moment Prometheus still holds
(`--at`). An unreachable Prometheus or a failed query is an error, never an
empty (healthy-looking) answer.
"""

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from datetime import datetime
from typing import Any

from components.platform.settings import duration_seconds
from components.platform.slo import SloConfig
from components.prometheus.alerts import AlertsConfig, user_requests
from components.prometheus.queries import track_queries
from components.prometheus.slo import error_ratio, remaining_budget
from rollout.samples import ErrorBudget, ServiceSamples, TrackSample

TIMEOUT_S = 30

Key = tuple[str, str]
"""(service, track)."""


class PrometheusError(Exception):
    """Prometheus could not answer; the message names the URL and what went wrong."""


def _number(text: str) -> float | None:
    value = float(text)
    return None if math.isnan(value) or math.isinf(value) else value


class PrometheusReader:
    """A client of one Prometheus server's query API."""

    def __init__(self, url: str, timeout_s: float = TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def query(self, expr: str, at: datetime) -> list[tuple[dict[str, str], str]]:
        """The instant vector `expr` at `at`: (labels, value as Prometheus wrote it) per sample."""
        params = urllib.parse.urlencode({"query": expr, "time": f"{at.timestamp():.3f}"})
        request = urllib.request.Request(f"{self.url}/api/v1/query", data=params.encode(), method="POST")
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                body: Any = json.load(response)
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:500]
            raise PrometheusError(
                f"Prometheus at {self.url} refused a query: HTTP {error.code} {detail}"
            ) from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            raise PrometheusError(f"Prometheus at {self.url} is unreachable: {reason}") from None
        if body.get("status") != "success" or body.get("data", {}).get("resultType") != "vector":
            raise PrometheusError(f"Prometheus at {self.url} answered {str(body)[:500]} to {expr!r}")
        return [(sample["metric"], sample["value"][1]) for sample in body["data"]["result"]]

    def _by_track(self, expr: str, at: datetime) -> dict[Key, float | None]:
        return {
            (labels.get("service", ""), labels.get("track", "")): _number(value)
            for labels, value in self.query(expr, at)
        }

    def samples(self, alerts: AlertsConfig, window: str, at: datetime) -> dict[str, ServiceSamples]:
        """Every service's two tracks over the `window` before `at`, by service name."""
        queries = track_queries(alerts, window)
        seconds = duration_seconds(window)
        rates = self._by_track(queries.request_rate, at)
        up = self._by_track(queries.instances_up, at)
        errors = self._by_track(queries.error_ratio, at)
        p95 = self._by_track(queries.p95_latency, at)
        quality = self._by_track(queries.quality, at)
        cache = self._by_track(queries.cache_hit_ratio, at)
        tokens = self._by_track(queries.tokens_per_request, at)
        buckets: dict[Key, list[tuple[float, float]]] = defaultdict(list)
        for labels, value in self.query(queries.latency_buckets, at):
            count = _number(value)
            if count is not None:
                key = (labels.get("service", ""), labels.get("track", ""))
                buckets[key].append((float(labels["le"]), count * seconds))

        tracks: dict[str, dict[str, TrackSample]] = defaultdict(dict)
        for key in rates.keys() | up.keys():
            service, track = key
            tracks[service][track] = TrackSample(
                requests=(rates.get(key) or 0.0) * seconds,
                instances_up=int(up.get(key) or 0),
                error_ratio=errors.get(key),
                p95_s=p95.get(key),
                buckets=tuple(sorted(buckets.get(key, []))),
                quality=quality.get(key),
                cache_hit_ratio=cache.get(key),
                tokens_per_request=tokens.get(key),
            )
        return {
            service: ServiceSamples(stable=by_track.get("stable"), canary=by_track.get("canary"))
            for service, by_track in tracks.items()
        }

    def _single(self, expr: str, at: datetime) -> float | None:
        values = [_number(value) for _, value in self.query(expr, at)]
        return values[0] if values else None

    def error_budgets(
        self, alerts: AlertsConfig, service: str, slo: SloConfig, at: datetime
    ) -> tuple[ErrorBudget, ...]:
        """What is left of each of the service's error budgets over its SLO window ending at `at`.

        The expression is the budget recording rule's (components/prometheus/slo.py), on the raw
        counters, so that a past moment replays as Prometheus saw it.
        """
        selector = user_requests("http_requests_total", alerts, f'service="{service}"')
        requests = self._single(f"sum(increase({selector}[{slo.window}]))", at) or 0.0
        return tuple(
            ErrorBudget(
                sli,
                slo.window,
                self._single(
                    remaining_budget(error_ratio(alerts, service, slo, sli, slo.window), objective), at
                ),
                requests,
            )
            for sli, objective in slo.objectives().items()
        )
