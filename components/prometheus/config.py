"""prometheus.yml for both platforms.

Scrape contract: what each platform must provide
-------------------------------------------------

Every app series must be told apart by service and track, so scraping adds two
target labels: ``service`` (the app service, e.g. ``api``) and ``track``
(``stable`` or ``canary``). Infrastructure targets get ``service`` only; the
absence of ``track`` is how rules tell app targets from the rest
(``up{track!=""}``).

Docker (static targets, container name as host):
    ``DockerTargets.apps`` lists one ``AppTarget(service, track, "host:port")``
    per app container; the labels are attached here. Infrastructure targets
    default to ``redis-exporter:9121``, ``jaeger:8888`` (Jaeger v2's own
    metrics), the alertmanagers given, and Prometheus itself on
    ``localhost:9090``.

Kubernetes (``kubernetes_sd_configs``, role ``pod``, one namespace; every pod
is its own target, no Service in between). A pod is scraped only if it has:

    annotations:
      prometheus.io/scrape: "true"     # required, exactly "true"
      prometheus.io/port: "8000"       # required: the metrics port
      prometheus.io/path: /metrics     # optional, default /metrics
    labels:
      app.kubernetes.io/name: api      # becomes `service`
      perfstack.dev/track: stable      # app pods only: stable | canary -> `track`

Ports to annotate: app (its own port), redis_exporter 9121 (label
``app.kubernetes.io/name: redis`` so Redis alerts name the service ``redis``),
Jaeger 8888, Alertmanager 9093. Do not annotate Prometheus pods: each replica
scrapes itself on localhost:9090. Prometheus' ServiceAccount needs get/list/
watch on pods in the namespace. Pods also get ``namespace`` and ``pod`` labels.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from components.platform.settings import duration_seconds
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
class DockerTargets:
    """Static targets by container name (platform docker)."""

    apps: tuple[AppTarget, ...]
    """Every app container of every track that exists (a listed but absent one raises ApplicationDown)."""
    redis_exporters: tuple[str, ...] = (f"redis-exporter:{REDIS_EXPORTER_PORT}",)
    """redis_exporter host:port targets."""
    jaeger: tuple[str, ...] = (f"jaeger:{JAEGER_METRICS_PORT}",)
    """Jaeger v2 internal-metrics host:port targets."""

    def __post_init__(self) -> None:
        for address in (*self.redis_exporters, *self.jaeger):
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
        jobs.append(_static_job("redis", targets.redis_exporters, "redis"))
    if targets.jaeger:
        jobs.append(_static_job("jaeger", targets.jaeger, "jaeger"))
    if alertmanagers:
        jobs.append(_static_job("alertmanager", alertmanagers, "alertmanager"))
    return jobs


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
        jobs = _docker_jobs(settings.targets, settings.alertmanagers)
    else:
        jobs = _kubernetes_jobs(settings.targets)
    own = _static_job("prometheus", (f"localhost:{PORT}",), "prometheus")
    config: dict[str, Any] = {"global": global_, "rule_files": list(settings.rule_files)}
    if settings.alertmanagers:
        config["alerting"] = {
            "alertmanagers": [{"static_configs": [{"targets": list(settings.alertmanagers)}]}]
        }
    config["scrape_configs"] = [*jobs, own]
    return config


def render_prometheus_config(settings: PrometheusSettings) -> str:
    """prometheus.yml text for the platform `settings.targets` describes."""
    header = "# Generated by perfstack (components/prometheus/config.py).\n"
    return header + yaml.safe_dump(prometheus_config(settings), sort_keys=False, width=4096)
