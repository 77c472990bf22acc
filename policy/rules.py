"""The checks behind the perfstack policy pack, as plain functions.

Each check takes what the Pulumi engine hands a resource validation — the
resource type token, the Pulumi resource name and the resource's inputs
(camelCase, as sent to the engine) — and returns one message per violation.
Nothing here imports Pulumi, so the rules are unit-tested on plain dicts and
on the resources a mocked run of the program declares; `__main__.py` wires
them into `pulumi_policy` classes.

The inputs may arrive wrapped in pulumi_policy's proxies (read-only
`Mapping`/`Sequence` objects that raise on values unknown during preview),
so the code only uses the abstract collection protocols and reads the keys
it needs instead of walking whole objects.
"""

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Props = Mapping[str, Any]
Check = Callable[[str, str, Props], list[str]]

# Where each Kubernetes workload keeps its pod spec.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
K8S_STATEFULSET = "kubernetes:apps/v1:StatefulSet"
K8S_SERVICE = "kubernetes:core/v1:Service"
HTTPROUTE_TYPES = frozenset(
    {
        "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
        "kubernetes:gateway.networking.k8s.io/v1beta1:HTTPRoute",
    }
)
DOCKER_REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
DOCKER_CONTAINER = "docker:index/container:Container"

REDIS_NAME = "redis"
REDIS_HA_MIN_REPLICAS = 3
EXTERNAL_SERVICE_TYPES = frozenset({"LoadBalancer", "NodePort"})

# Name parts that mark an environment variable as carrying a secret.
SECRET_NAME_MARKERS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "API_KEY", "APIKEY", "WEBHOOK", "ROUTING_KEY")
# Feature flags are booleans and percentages by design (FEATURE_TOKEN_BUDGET=true
# is no secret), so their families are exempt from the name heuristic.
FEATURE_FLAG_PREFIXES = ("FEATURE_", "FF_")
# Slack incoming webhooks carry their credential in the URL itself; matched on
# any hooks.slack.* host so a test value on a reserved domain is caught too.
SLACK_WEBHOOK = re.compile(r"https?://hooks\.slack(?:-gov)?\.[a-z.]+/(?:services|workflows|triggers)/", re.I)


def _get(node: Any, *path: str) -> Any:
    """The value at ``path`` inside nested mappings, or None where any step is missing."""
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _items(value: Any) -> list[Any]:
    """``value`` as a list when it is a sequence (not a string), else empty."""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    return []


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def workload_name(name: str, props: Props) -> str:
    """The Kubernetes object name (metadata.name), falling back to the Pulumi resource name."""
    explicit = _get(props, "metadata", "name")
    return explicit if isinstance(explicit, str) and explicit else name


def pod_containers(resource_type: str, props: Props) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every (container name, container) of a Kubernetes workload, init containers included."""
    path = POD_SPEC_PATHS.get(resource_type)
    if path is None:
        return
    pod_spec = _get(props, *path)
    for field in ("initContainers", "containers"):
        for index, container in enumerate(_items(_get(pod_spec, field))):
            if isinstance(container, Mapping):
                name = container.get("name")
                yield (name if isinstance(name, str) and name else f"{field}[{index}]"), container


# --- images -----------------------------------------------------------------


def image_reference_problem(image: Any) -> str | None:
    """Why ``image`` is not pinned (no tag, or `latest`), or None when it is.

    A digest (`@sha256:...`) pins an image on its own. The tag is the part
    after the last colon of the last path component, so a registry port
    (`registry:5000/app`) is not mistaken for one.
    """
    if not isinstance(image, str) or not image.strip():
        return "missing"
    name, _, digest = image.strip().partition("@")
    if digest:
        return None
    last_component = name.rsplit("/", 1)[-1]
    if ":" not in last_component:
        return "untagged (it resolves to latest)"
    tag = last_component.rsplit(":", 1)[1]
    if not tag:
        return "tagged with an empty tag"
    if tag == "latest":
        return "tagged latest"
    return None


def check_image(resource_type: str, name: str, props: Props) -> list[str]:
    """Kubernetes container images and Docker RemoteImage names carry a version tag or a digest."""
    violations = []
    if resource_type == DOCKER_REMOTE_IMAGE:
        problem = image_reference_problem(_get(props, "name"))
        if problem:
            violations.append(f"image {_get(props, 'name')!r} is {problem}: pin a version tag or a digest")
    for container_name, container in pod_containers(resource_type, props):
        image = container.get("image")
        problem = image_reference_problem(image)
        if problem:
            violations.append(
                f"container {container_name!r}: image {image!r} is {problem}: pin a version tag or a digest"
            )
    return violations


# --- resources ----------------------------------------------------------------


def check_container_resources(resource_type: str, name: str, props: Props) -> list[str]:
    """Every Kubernetes container requests and limits both cpu and memory."""
    violations = []
    for container_name, container in pod_containers(resource_type, props):
        missing = [
            f"resources.{section}.{resource}"
            for section in ("requests", "limits")
            for resource in ("cpu", "memory")
            if _get(container, "resources", section, resource) in (None, "")
        ]
        if missing:
            violations.append(f"container {container_name!r} has no {', '.join(missing)}")
    return violations


# --- Redis ------------------------------------------------------------------


def check_redis_persistence(resource_type: str, name: str, props: Props) -> list[str]:
    """Redis keeps its data across restarts.

    On Kubernetes, the workload named redis is a StatefulSet whose pods mount
    a volumeClaimTemplate; on Docker, the container named redis mounts a
    named volume or host path.
    """
    if resource_type in POD_SPEC_PATHS and workload_name(name, props) == REDIS_NAME:
        kind = resource_type.rsplit(":", 1)[-1]
        if resource_type != K8S_STATEFULSET:
            return [
                f"Redis runs as a {kind}: it must be a StatefulSet with volumeClaimTemplates "
                "so its data survives a pod restart"
            ]
        claims = {
            claim_name
            for claim in _items(_get(props, "spec", "volumeClaimTemplates"))
            if isinstance(claim_name := _get(claim, "metadata", "name"), str)
        }
        if not claims:
            return ["the Redis StatefulSet has no volumeClaimTemplates: its data is lost with the pod"]
        mounted = {
            _get(mount, "name")
            for _, container in pod_containers(resource_type, props)
            for mount in _items(container.get("volumeMounts"))
        }
        if not claims & mounted:
            return [
                f"no Redis container mounts the claim(s) {sorted(claims)}: data is written to the pod only"
            ]
        return []
    if resource_type == DOCKER_CONTAINER and name == REDIS_NAME:
        persistent = [
            volume
            for volume in _items(_get(props, "volumes"))
            if _get(volume, "volumeName") or _get(volume, "hostPath")
        ]
        if not persistent:
            return ["the Redis container mounts no named volume or host path: its data is lost with it"]
    return []


def check_redis_ha(resource_type: str, name: str, props: Props) -> list[str]:
    """The Redis StatefulSet runs at least three nodes (a master and replicas under a Sentinel quorum)."""
    if resource_type != K8S_STATEFULSET or workload_name(name, props) != REDIS_NAME:
        return []
    replicas = _get(props, "spec", "replicas")
    count = replicas if _is_number(replicas) else 1  # Kubernetes defaults replicas to 1
    if count < REDIS_HA_MIN_REPLICAS:
        return [
            f"the Redis StatefulSet runs {count:g} replica(s): Sentinel HA needs at least "
            f"{REDIS_HA_MIN_REPLICAS} so a quorum can fail over"
        ]
    return []


# --- exposure -----------------------------------------------------------------


def check_service_type(resource_type: str, name: str, props: Props) -> list[str]:
    """No Service of type LoadBalancer or NodePort: traffic enters through the operator's Gateway."""
    if resource_type != K8S_SERVICE:
        return []
    service_type = _get(props, "spec", "type")
    if service_type in EXTERNAL_SERVICE_TYPES:
        return [
            f"Service type {service_type} exposes {workload_name(name, props)!r} outside the cluster: "
            "traffic enters through the cluster operator's Gateway (an HTTPRoute), so use ClusterIP"
        ]
    return []


# --- secrets ------------------------------------------------------------------


def looks_secret(env_name: str) -> bool:
    """Whether an environment variable's name says it carries a secret (REDIS_PASSWORD, SLACK_WEBHOOK_URL)."""
    upper = env_name.upper()
    if upper.startswith(FEATURE_FLAG_PREFIXES):
        return False
    words = "_" + "_".join(part for part in re.split(r"[^A-Z0-9]+", upper) if part) + "_"
    return any(f"_{marker}_" in words for marker in SECRET_NAME_MARKERS)


def env_value_problem(env_name: str, value: Any) -> str | None:
    """Why a plaintext environment value leaks a secret, or None when it does not."""
    if not isinstance(value, str) or not value:
        return None
    if SLACK_WEBHOOK.search(value):
        return f"{env_name} holds a Slack webhook URL in plaintext"
    if not looks_secret(env_name):
        return None
    # A *_FILE variable that points at a mounted file is how secrets are meant to be passed.
    if env_name.upper().endswith("_FILE") and value.startswith("/"):
        return None
    return (
        f"{env_name} looks like a secret but its value is plaintext: mount it as a file and pass "
        f"{env_name.removesuffix('_FILE')}_FILE=/run/secrets/..., or use valueFrom.secretKeyRef"
    )


def _env_pairs(resource_type: str, props: Props) -> Iterator[tuple[str, str, Any]]:
    """(where, name, plaintext value) for every literal env entry of a container resource."""
    for container_name, container in pod_containers(resource_type, props):
        for entry in _items(container.get("env")):
            if isinstance(entry, Mapping) and "value" in entry:
                yield f"container {container_name!r}", str(entry.get("name", "")), entry["value"]
    if resource_type == DOCKER_CONTAINER:
        for entry in _items(_get(props, "envs")):
            if isinstance(entry, str):
                env_name, _, value = entry.partition("=")
                yield "container", env_name, value


def check_plaintext_secrets(resource_type: str, name: str, props: Props) -> list[str]:
    """No secret-looking environment value in plaintext (Kubernetes env `value`, Docker `envs`)."""
    violations = []
    for where, env_name, value in _env_pairs(resource_type, props):
        problem = env_value_problem(env_name, value)
        if problem:
            violations.append(f"{where}: {problem}")
    return violations


# --- traffic ------------------------------------------------------------------


def check_canary_weights(resource_type: str, name: str, props: Props) -> list[str]:
    """HTTPRoute backendRef weights are whole numbers in 0..100, and a split's weights add up to 100.

    A rule with a single backend sends it everything whatever its weight, so
    only the range is checked there; a rule that splits traffic must give
    every backend an explicit weight (the Gateway API default is 1).
    """
    if resource_type not in HTTPROUTE_TYPES:
        return []
    violations = []
    for index, rule in enumerate(_items(_get(props, "spec", "rules"))):
        refs = [ref for ref in _items(_get(rule, "backendRefs")) if isinstance(ref, Mapping)]
        out_of_range = [
            f"rule {index}: backend {ref.get('name', '?')!r} has weight {weight!r}, not a whole number 0..100"
            for ref in refs
            if (weight := ref.get("weight")) is not None
            and not (_is_number(weight) and float(weight).is_integer() and 0 <= weight <= 100)
        ]
        violations.extend(out_of_range)
        if len(refs) < 2 or out_of_range:
            continue
        weights = [ref.get("weight") for ref in refs]
        if None in weights:
            violations.append(f"rule {index}: every backend of a traffic split needs an explicit weight")
            continue
        total = sum(weights)
        if total != 100:
            split = ", ".join(
                f"{ref.get('name', '?')}={weight:g}" for ref, weight in zip(refs, weights, strict=True)
            )
            violations.append(f"rule {index}: backend weights add up to {total:g}, not 100 ({split})")
    return violations


# --- the catalog ----------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One policy of the pack: its name, what it asks for, and its check."""

    name: str
    description: str
    check: Check


RULES: tuple[Rule, ...] = (
    Rule(
        "pinned-image-tags",
        "Container images carry a version tag or digest: no `latest`, no untagged image.",
        check_image,
    ),
    Rule(
        "container-resources",
        "Every Kubernetes container sets resources.requests and resources.limits for cpu and memory.",
        check_container_resources,
    ),
    Rule(
        "redis-persistence",
        "Redis keeps its data: a StatefulSet with volumeClaimTemplates (Kubernetes), a volume (Docker).",
        check_redis_persistence,
    ),
    Rule(
        "redis-sentinel-ha",
        f"The Redis StatefulSet runs at least {REDIS_HA_MIN_REPLICAS} replicas for Sentinel failover.",
        check_redis_ha,
    ),
    Rule(
        "no-external-service-types",
        "No Service of type LoadBalancer or NodePort: the cluster operator's Gateway is the only way in.",
        check_service_type,
    ),
    Rule(
        "no-plaintext-secret-env",
        "No secret-looking environment value (password, token, API key, webhook) in plaintext.",
        check_plaintext_secrets,
    ),
    Rule(
        "canary-weights",
        "HTTPRoute backend weights are within 0..100 and a traffic split adds up to 100.",
        check_canary_weights,
    ),
)
