"""Jaeger v2 config and sampling strategies (no Jaeger binary here: checked structurally)."""

import json
from typing import Any

import pytest
import yaml

from components.jaeger.config import (
    CONFIG_PATH,
    SAMPLING_FILE,
    render_jaeger_config,
    render_sampling_strategies,
    render_tracing_files,
)
from components.jaeger.settings import TracingConfig

ELASTIC = TracingConfig.model_validate(
    {"storage": {"type": "elasticsearch", "urls": ["http://es-0:9200", "http://es-1:9200"]}}
)


def load(cfg: TracingConfig, sampling_file: str = SAMPLING_FILE) -> dict[str, Any]:
    return yaml.safe_load(render_jaeger_config(cfg, sampling_file))


@pytest.mark.parametrize("cfg", [TracingConfig(), ELASTIC], ids=["badger", "elasticsearch"])
def test_every_component_the_service_uses_is_defined(cfg: TracingConfig) -> None:
    config = load(cfg)
    service = config["service"]
    assert set(service["extensions"]) <= set(config["extensions"])
    for pipeline in service["pipelines"].values():
        for kind in ("receivers", "processors", "exporters"):
            assert set(pipeline[kind]) <= set(config[kind]), kind


@pytest.mark.parametrize("cfg", [TracingConfig(), ELASTIC], ids=["badger", "elasticsearch"])
def test_query_and_exporter_use_the_configured_backend(cfg: TracingConfig) -> None:
    extensions = load(cfg)["extensions"]
    backends = extensions["jaeger_storage"]["backends"]
    assert extensions["jaeger_query"]["storage"]["traces"] in backends
    assert load(cfg)["exporters"]["jaeger_storage_exporter"]["trace_storage"] in backends


def test_otlp_is_received_on_4317_and_4318_on_all_interfaces() -> None:
    protocols = load(TracingConfig())["receivers"]["otlp"]["protocols"]
    assert protocols == {"grpc": {"endpoint": "0.0.0.0:4317"}, "http": {"endpoint": "0.0.0.0:4318"}}


def test_ui_is_served_on_16686() -> None:
    assert load(TracingConfig())["extensions"]["jaeger_query"]["http"] == {"endpoint": "0.0.0.0:16686"}


def test_own_metrics_are_exposed_for_prometheus_on_8888() -> None:
    (reader,) = load(TracingConfig())["service"]["telemetry"]["metrics"]["readers"]
    assert reader["pull"]["exporter"]["prometheus"] == {"host": "0.0.0.0", "port": 8888}


def test_badger_is_the_default_and_persists_on_its_volume() -> None:
    cfg = TracingConfig.model_validate({"storage": {"retention": "168h"}})
    (backend,) = load(cfg)["extensions"]["jaeger_storage"]["backends"].values()
    assert backend == {
        "badger": {
            "directories": {"keys": "/badger/keys", "values": "/badger/values"},
            "ephemeral": False,
            "ttl": {"spans": "168h"},
        }
    }


def test_elasticsearch_backend_lists_the_configured_servers() -> None:
    (backend,) = load(ELASTIC)["extensions"]["jaeger_storage"]["backends"].values()
    assert list(backend) == ["elasticsearch"]
    assert backend["elasticsearch"]["server_urls"] == ["http://es-0:9200", "http://es-1:9200"]


def test_remote_sampling_reads_the_strategies_file() -> None:
    sampling = load(TracingConfig(), "/conf/strategies.json")["extensions"]["remote_sampling"]
    assert sampling["file"]["path"] == "/conf/strategies.json"
    assert sampling["http"] == {"endpoint": "0.0.0.0:5778"}


def test_strategies_have_a_probabilistic_default_and_sorted_service_overrides() -> None:
    strategies = json.loads(render_sampling_strategies(0.1, {"worker": 0.5, "api": 1.0}))
    assert strategies == {
        "default_strategy": {"type": "probabilistic", "param": 0.1},
        "service_strategies": [
            {"service": "api", "type": "probabilistic", "param": 1.0},
            {"service": "worker", "type": "probabilistic", "param": 0.5},
        ],
    }


def test_strategies_reject_a_probability_above_one() -> None:
    with pytest.raises(ValueError, match="'api'"):
        render_sampling_strategies(0.1, {"api": 1.5})


def test_tracing_files_carry_the_stack_sampling_rate_where_the_config_looks() -> None:
    files = render_tracing_files(TracingConfig.model_validate({"samplingProbability": 0.1}))
    config = yaml.safe_load(files[CONFIG_PATH])
    path = config["extensions"]["remote_sampling"]["file"]["path"]
    assert json.loads(files[path])["default_strategy"]["param"] == 0.1
