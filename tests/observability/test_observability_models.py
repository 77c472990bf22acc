"""Stack-config models of the observability sections: bad values fail, naming the user's camelCase key."""

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from components.alertmanager.settings import NotificationsConfig
from components.jaeger.settings import TracingConfig
from components.platform.settings import duration_seconds
from components.prometheus.alerts import AlertsConfig


def error_locs(model: type[BaseModel], data: dict[str, Any]) -> list[tuple[int | str, ...]]:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(data)
    return [tuple(e["loc"]) for e in raised.value.errors()]


@pytest.mark.parametrize(
    ("data", "loc"),
    [
        ({"errorRateCritical": 1.5}, ("errorRateCritical",)),
        ({"cacheHitRateLow": -0.1}, ("cacheHitRateLow",)),
        ({"p95CriticalFor": "5 minutes"}, ("p95CriticalFor",)),
        ({"appDownFor": "0m"}, ("appDownFor",)),
        ({"tokenIncreaseFactor": 0.9}, ("tokenIncreaseFactor",)),
        ({"runbookBaseUrl": "runbooks.example.com"}, ("runbookBaseUrl",)),
        ({"repositoryUrl": "github.com/perfstack/perfstack"}, ("repositoryUrl",)),
        ({"excludedRoutes": ["health"]}, ("excludedRoutes", 0)),
        ({"errorRateMinRequestRate": 0}, ("errorRateMinRequestRate",)),
        ({"redisFailoverWindow": "15 minutes"}, ("redisFailoverWindow",)),
        ({"p95CriticalMs": "2500"}, ("p95CriticalMs",)),  # strict: YAML strings are not numbers
        ({"p95Critical": 2500}, ("p95Critical",)),  # typo: unknown key
    ],
)
def test_alerts_config_rejects_bad_value_at_its_camel_case_key(
    data: dict[str, Any], loc: tuple[str, ...]
) -> None:
    assert error_locs(AlertsConfig, data) == [loc]


def test_alerts_config_rejects_a_warning_threshold_beyond_the_critical_one() -> None:
    with pytest.raises(ValidationError, match="p95WarningMs < p95CriticalMs"):
        AlertsConfig.model_validate({"p95WarningMs": 3000})


def test_alerts_config_accepts_camel_case_overrides() -> None:
    cfg = AlertsConfig.model_validate(
        {"p95CriticalMs": 3000, "canaryFor": "10m", "tokenBaselinePerRequest": 80}
    )
    assert (cfg.p95_critical_ms, cfg.canary_for, cfg.token_baseline_per_request) == (3000, "10m", 80)


def test_duration_seconds_reads_prometheus_durations() -> None:
    assert duration_seconds("1h30m") == 5400
    with pytest.raises(ValueError):
        duration_seconds("30m1h")


@pytest.mark.parametrize(
    ("data", "loc"),
    [
        ({"slack": {"channel": "perf alerts"}}, ("slack", "channel")),
        ({"email": {"to": [], "fromAddress": "a@example.com", "smarthost": "smtp:25"}}, ("email", "to")),
        (
            {"email": {"to": ["x"], "fromAddress": "a@example.com", "smarthost": "smtp:25"}},
            ("email", "to", 0),
        ),
        (
            {"email": {"to": ["b@example.com"], "fromAddress": "a@example.com", "smarthost": "smtp"}},
            ("email", "smarthost"),
        ),
        ({"pagerduty": {"severityMap": {"critical": "urgent"}}}, ("pagerduty", "severityMap", "critical")),
        ({"groupWait": "soon"}, ("groupWait",)),
        ({"deadMansSwitch": {"repeatInterval": "0s"}}, ("deadMansSwitch", "repeatInterval")),
        (
            {"deadMansSwitch": {"url": "https://hc-ping.com/x"}},
            ("deadMansSwitch", "url"),
        ),  # a secret, not config
    ],
)
def test_notifications_config_rejects_bad_value_at_its_camel_case_key(
    data: dict[str, Any], loc: tuple[str | int, ...]
) -> None:
    assert error_locs(NotificationsConfig, data) == [loc]


def test_notifications_config_leaves_every_channel_out_by_default() -> None:
    cfg = NotificationsConfig()
    assert (cfg.slack, cfg.email, cfg.pagerduty) == (None, None, None)


@pytest.mark.parametrize(
    ("data", "loc"),
    [
        ({"samplingProbability": 1.5}, ("samplingProbability",)),
        ({"perService": {"api": -0.1}}, ("perService", "api")),
        ({"storage": {"retention": "3d"}}, ("storage", "retention")),
        ({"storage": {"type": "cassandra"}}, ("storage", "type")),
        ({"storage": {"type": "elasticsearch", "urls": ["es:9200"]}}, ("storage", "urls", 0)),
    ],
)
def test_tracing_config_rejects_bad_value_at_its_camel_case_key(
    data: dict[str, Any], loc: tuple[str | int, ...]
) -> None:
    assert error_locs(TracingConfig, data) == [loc]


def test_tracing_config_requires_urls_for_elasticsearch() -> None:
    with pytest.raises(ValidationError, match="urls: required when type is elasticsearch"):
        TracingConfig.model_validate({"storage": {"type": "elasticsearch"}})


def test_tracing_config_samples_everything_on_badger_by_default() -> None:
    cfg = TracingConfig()
    assert (cfg.sampling_probability, cfg.storage.type) == (1.0, "badger")
