"""prometheus.yml for both platforms.

Scrape contract: what each platform must provide
-------------------------------------------------

Every app series must be told apart by service and track, so scraping adds two
target labels: ``service`` (the app service, e.g. ``api``) and ``track``
(``stable`` or ``canary``). Infrastructure targets get ``service`` only; the
absence of ``track`` is how rules tell app targets from the rest
(``up{track!=""}``).

Redis (both platforms, static): every data node and every Sentinel is its own
target, scraped through redis_exporter's multi-target endpoint
(``http://<exporter>/scrape?target=redis://host:port``; the exporter runs
with an empty ``--redis.addr``), so a series always comes from the node its
``instance`` names, never from whichever node a Service picked. Targets get
``service`` and ``redis_kind`` (``data`` or ``sentinel``); the exporter adds
the master/replica role as ``redis_instance_info{role}``.

Docker (static targets, container name as host):
    ``DockerTargets.apps`` lists one ``AppTarget(service, track, "host:port")``
    per app container; the labels are attached here. Infrastructure targets
    default to ``redis-exporter:9121`` (the exporter's own metrics),
    ``jaeger:8888`` (Jaeger v2's own metrics), ``grafana:3000``, the
    alertmanagers given, and Prometheus itself on ``localhost:9090``.

Kubernetes (``kubernetes_sd_configs``, role ``pod``, one namespace; every pod
is its own target, no Service in between). A pod is scraped only if it has:

    annotations:
      prometheus.io/scrape: "true"     # required, exactly "true"
      prometheus.io/port: "8000"       # required: the metrics port
      prometheus.io/path: /metrics     # optional, default /metrics
    labels:
      app.kubernetes.io/name: api      # becomes `service`
      perfstack.dev/track: stable      # app pods only: stable | canary -> `track`

Ports to annotate: app (its own port), redis_exporter 9121, Jaeger 8888,
Alertmanager 9093, Grafana 3000, Prometheus 9090: every Prometheus replica
scrapes every replica, so one can alert when another fails (a replica alone
cannot report that it reaches no Alertmanager). Prometheus' ServiceAccount
needs get/list/watch on pods in the namespace. Pods also get ``namespace`` and
``pod`` labels.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from components.platform.settings import duration_seconds
from components.platform.telemetry import REDIS_DATA_NODE, REDIS_KIND_LABEL, REDIS_SENTINEL
from components.prometheus.rules import RULES_FILE_NAME

CONFIG_PATH = "/etc/prometheus/prometheus.yml"
"""Where prometheus.yml is mounted (`--config.file`)."""
RULES_DIR = "/etc/prometheus/rules"
"""Where the rule file is mounted; prometheus.yml refers to it by absolute path."""
DATA_DIR = "/prometheus"
"""TSDB directory of the official image (`--storage.tsdb.path`); put the volume here."""
PORT = 9090
"""Prometheus web/API port."""

REDIS_EXPORTER_PORT = 9121
JAEGER_METRICS_PORT = 8888
ALERTMANAGER_PORT = 9093
GRAFANA_PORT = 3000
REDIS_SCRAPE_PATH = "/scrape"
"""redis_exporter's multi-target endpoint: `?target=redis://host:port` names the node to scrape."""

SCRAPE_ANNOTATION = "prometheus.io/scrape"
PORT_ANNOTATION = "prometheus.io/port"
PATH_ANNOTATION = "prometheus.io/path"
SERVICE_POD_LABEL = "app.kubernetes.io/name"
TRACK_POD_LABEL = "perfstack.dev/track"

Track = Literal["stable", "canary"]

_HOST_PORT = re.compile(r"^[A-Za-z0-9._-]+:\d{1,5}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _check_address(address: str) -> None:
    if not _HOST_PORT.match(address):
        raise ValueError(f"{address!r} is not host:port")


def _sd_meta(kind: str, name: str) -> str:
    # Kubernetes SD turns every character that is invalid in a label name into "_".
    return f"__meta_kubernetes_pod_{kind}_" + re.sub(r"[^a-zA-Z0-9_]", "_", name)


@dataclass(frozen=True)
class AppTarget:
    """One app container to scrape (Docker)."""

    service: str
    """App service name, becomes the `service` label (e.g. 'api')."""
    track: Track
    """'stable' or 'canary', becomes the `track` label."""
    address: str
    """Container name and metrics port, e.g. 'api-stable:8000'."""
    metrics_path: str = "/metrics"
    """HTTP path of the metrics endpoint."""

    def __post_init__(self) -> None:
        _check_address(self.address)
        # Literal is not enforced at run time, and a wrong track would silently skip canary alerts.
        if self.track not in ("stable", "canary"):
            raise ValueError(f"track {self.track!r} must be 'stable' or 'canary'")
        if not _LABEL_VALUE.match(self.service):
            raise ValueError(f"service {self.service!r} must be lowercase letters, digits and '-'")
        if not self.metrics_path.startswith("/"):
            raise ValueError(f"metrics_path {self.metrics_path!r} must start with '/'")


@dataclass(frozen=True)
class RedisTargets:
    """Redis processes scraped one by one through redis_exporter's multi-target endpoint."""

    exporter: str
    """host:port of redis_exporter (started with an empty `--redis.addr`)."""
    data_nodes: tuple[str, ...]
    """host:port of every data node (master or replica): one per pod, never a Service."""
    sentinels: tuple[str, ...] = ()
    """host:port of every Sentinel (sentinel mode)."""
    service: str = "redis"
    """The `service` label of every Redis series."""

    def __post_init__(self) -> None:
        for address in (self.exporter, *self.data_nodes, *self.sentinels):
            _check_address(address)
        if not self.data_nodes:
            raise ValueError("at least one Redis data node is required")
        if not _LABEL_VALUE.match(self.service):
            raise ValueError(f"service {self.service!r} must be lowercase letters, digits and '-'")


@dataclass(frozen=True)
class DockerTargets:
    """Static targets by container name (platform docker)."""

    apps: tuple[AppTarget, ...]
    """Every app container of every track that exists (a listed but absent one raises ApplicationDown)."""
    redis_exporters: tuple[str, ...] = (f"redis-exporter:{REDIS_EXPORTER_PORT}",)
    """redis_exporter host:port targets, for the exporter's own metrics (Redis comes from `redis`)."""
    jaeger: tuple[str, ...] = (f"jaeger:{JAEGER_METRICS_PORT}",)
    """Jaeger v2 internal-metrics host:port targets."""
    grafana: tuple[str, ...] = (f"grafana:{GRAFANA_PORT}",)
    """Grafana host:port targets (Grafana serves /metrics on its HTTP port)."""

    def __post_init__(self) -> None:
        for address in (*self.redis_exporters, *self.jaeger, *self.grafana):
            _check_address(address)
        seen = [(a.service, a.track, a.address) for a in self.apps]
        if len(set(seen)) != len(seen):
            raise ValueError("duplicate app target")


@dataclass(frozen=True)
class KubernetesPods:
    """Pod discovery in one namespace (platform kubernetes); see the module docstring for the contract."""

    namespace: str
    """Namespace whose annotated pods are scraped."""

    def __post_init__(self) -> None:
        if not _LABEL_VALUE.match(self.namespace):
            raise ValueError(f"namespace {self.namespace!r} is not a valid Kubernetes name")


@dataclass(frozen=True)
class PrometheusSettings:
    """Everything prometheus.yml depends on."""

    targets: DockerTargets | KubernetesPods
    """The platform: static Docker targets or Kubernetes pod discovery."""
    alertmanagers: tuple[str, ...]
    """host:port of every Alertmanager replica; list them all (the cluster deduplicates, a load
    balancer would not)."""
    redis: RedisTargets | None = None
    """The Redis nodes to scrape through redis_exporter; None scrapes no Redis."""
    rule_files: tuple[str, ...] = (f"{RULES_DIR}/{RULES_FILE_NAME}",)
    """Rule files to load; relative paths are relative to prometheus.yml."""
    scrape_interval: str = "15s"
    """How often every target is scraped."""
    evaluation_interval: str = "15s"
    """How often rules are evaluated."""
    external_labels: Mapping[str, str] = field(default_factory=dict)
    """Labels added to alerts and remote data, e.g. {'environment': 'production'}."""

    def __post_init__(self) -> None:
        for address in self.alertmanagers:
            _check_address(address)
        for duration in (self.scrape_interval, self.evaluation_interval):
            if duration_seconds(duration) <= 0:
                raise ValueError(f"interval {duration!r} must be positive")


def _static_job(name: str, addresses: tuple[str, ...], service: str) -> dict[str, Any]:
    return {
        "job_name": name,
        "static_configs": [{"targets": list(addresses), "labels": {"service": service}}],
    }


def _docker_jobs(targets: DockerTargets, alertmanagers: tuple[str, ...]) -> list[dict[str, Any]]:
    apps = {
        "job_name": "app",
        "static_configs": [
            {
                "targets": [app.address],
                # __metrics_path__ as a target label sets the path per target.
                "labels": {"service": app.service, "track": app.track, "__metrics_path__": app.metrics_path},
            }
            for app in targets.apps
        ],
    }
    jobs = [apps]
    if targets.redis_exporters:
        jobs.append(_static_job("redis-exporter", targets.redis_exporters, "redis-exporter"))
    if targets.jaeger:
        jobs.append(_static_job("jaeger", targets.jaeger, "jaeger"))
    if alertmanagers:
        jobs.append(_static_job("alertmanager", alertmanagers, "alertmanager"))
    if targets.grafana:
        jobs.append(_static_job("grafana", targets.grafana, "grafana"))
    return jobs


def _redis_job(redis: RedisTargets) -> dict[str, Any]:
    groups = [(REDIS_DATA_NODE, redis.data_nodes), (REDIS_SENTINEL, redis.sentinels)]
    return {
        "job_name": "redis",
        "metrics_path": REDIS_SCRAPE_PATH,
        "static_configs": [
            {
                # The exporter looks up each node's password by this exact URL.
                "targets": [f"redis://{address}" for address in addresses],
                "labels": {"service": redis.service, REDIS_KIND_LABEL: kind},
            }
            for kind, addresses in groups
            if addresses
        ],
        "relabel_configs": [
            # The node goes in the query string, the request to the exporter.
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__address__"], "regex": "redis://(.+)", "target_label": "instance"},
            {"target_label": "__address__", "replacement": redis.exporter},
        ],
    }


def _kubernetes_jobs(pods: KubernetesPods) -> list[dict[str, Any]]:
    relabel = [
        {"source_labels": [_sd_meta("annotation", SCRAPE_ANNOTATION)], "regex": "true", "action": "keep"},
        {"source_labels": [_sd_meta("annotation", PORT_ANNOTATION)], "regex": r"\d+", "action": "keep"},
        # Pods that are not running have no IP or no process to scrape.
        {
            "source_labels": ["__meta_kubernetes_pod_phase"],
            "regex": "Pending|Succeeded|Failed|Unknown",
            "action": "drop",
        },
        # Pod IP with the annotated port. Pod SD yields one target per declared
        # container port; rewritten to the same address they collapse into one.
        {
            "source_labels": ["__address__", _sd_meta("annotation", PORT_ANNOTATION)],
            "regex": r"([^:]+)(?::\d+)?;(\d+)",
            "replacement": "$1:$2",
            "target_label": "__address__",
        },
        {
            "source_labels": [_sd_meta("annotation", PATH_ANNOTATION)],
            "regex": "(.+)",
            "target_label": "__metrics_path__",
        },
        {"source_labels": [_sd_meta("label", SERVICE_POD_LABEL)], "target_label": "service"},
        # Empty for infrastructure pods, and an empty value removes the label.
        {"source_labels": [_sd_meta("label", TRACK_POD_LABEL)], "target_label": "track"},
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
    ]
    return [
        {
            "job_name": "kubernetes-pods",
            "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [pods.namespace]}}],
            "relabel_configs": relabel,
        }
    ]


def prometheus_config(settings: PrometheusSettings) -> dict[str, Any]:
    """prometheus.yml as data (see `render_prometheus_config`)."""
    global_: dict[str, Any] = {
        "scrape_interval": settings.scrape_interval,
        "evaluation_interval": settings.evaluation_interval,
    }
    if settings.external_labels:
        global_["external_labels"] = dict(settings.external_labels)
    if isinstance(settings.targets, DockerTargets):
        # One Prometheus on one host scrapes itself; on Kubernetes pod discovery finds every replica.
        own = _static_job("prometheus", (f"localhost:{PORT}",), "prometheus")
        jobs = [*_docker_jobs(settings.targets, settings.alertmanagers), own]
    else:
        jobs = _kubernetes_jobs(settings.targets)
    if settings.redis is not None:
        jobs.append(_redis_job(settings.redis))
    config: dict[str, Any] = {"global": global_, "rule_files": list(settings.rule_files)}
    if settings.alertmanagers:
        config["alerting"] = {
            "alertmanagers": [{"static_configs": [{"targets": list(settings.alertmanagers)}]}]
        }
    config["scrape_configs"] = jobs
    return config


def render_prometheus_config(settings: PrometheusSettings) -> str:
    """prometheus.yml text for the platform `settings.targets` describes."""
    header = "# Generated by perfstack (components/prometheus/config.py).\n"
    return header + yaml.dump(
        prometheus_config(settings), Dumper=yaml.CSafeDumper, sort_keys=False, width=4096
    )
