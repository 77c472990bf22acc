"""Allowed network paths, turned into Kubernetes NetworkPolicy specs (pure).

A stack lists its :class:`Flow` s — who may talk to whom on which ports —
and gets a default-deny policy plus, per flow, an ingress rule on the
receiving pods and an egress rule on the sending pods. Anything not listed
is closed in both directions.
"""

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
NAMESPACE_LABEL = "kubernetes.io/metadata.name"
ALL_NAMESPACES = "*"
"""``Peer.namespace`` for every namespace (an empty namespaceSelector); no namespace can be named so."""


@dataclass(frozen=True)
class Peer:
    """One end of a flow: pods of this namespace by label, pods of another namespace, or an address range.

    ``namespace`` is a namespace's name, or :data:`ALL_NAMESPACES` for pods in
    any namespace; ``labels`` then narrow it down to some of their pods.
    """

    labels: tuple[tuple[str, str], ...] = ()
    namespace: str | None = None
    cidr: str | None = None

    @property
    def local(self) -> bool:
        """Pods of the stack's own namespace (the ones its policies select)."""
        return self.namespace is None and self.cidr is None

    def selector(self) -> dict[str, Any]:
        return {"matchLabels": dict(self.labels)} if self.labels else {}

    def rule_peer(self) -> dict[str, Any]:
        if self.cidr is not None:
            return {"ipBlock": {"cidr": self.cidr}}
        if self.namespace is not None:
            namespaces = (
                {} if self.namespace == ALL_NAMESPACES else {"matchLabels": {NAMESPACE_LABEL: self.namespace}}
            )
            peer: dict[str, Any] = {"namespaceSelector": namespaces}
            if self.labels:
                peer["podSelector"] = self.selector()
            return peer
        return {"podSelector": self.selector()}


def app(name: str) -> Peer:
    """The pods of one app (`app.kubernetes.io/name`)."""
    return Peer(labels=((NAME_LABEL, name),))


def component(name: str) -> Peer:
    """The pods of one component (`app.kubernetes.io/component`), e.g. every app service."""
    return Peer(labels=((COMPONENT_LABEL, name),))


EVERY_POD = Peer()
"""Every pod of the namespace."""

ANYWHERE = Peer(cidr="0.0.0.0/0")
"""Any address: only for egress to services outside the cluster."""


@dataclass(frozen=True)
class Flow:
    """`source` may open connections to `target` on `ports`."""

    name: str
    source: Peer
    target: Peer
    ports: tuple[int, ...]
    protocols: tuple[str, ...] = ("TCP",)

    def port_rules(self) -> list[dict[str, Any]]:
        return [{"protocol": protocol, "port": port} for port in self.ports for protocol in self.protocols]


def network_policy_specs(flows: list[Flow]) -> dict[str, dict[str, Any]]:
    """Policy name to NetworkPolicy spec: default deny, then one policy per selected pod set and direction."""
    specs: dict[str, dict[str, Any]] = {
        "default-deny": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    ingress: dict[Peer, list[dict[str, Any]]] = defaultdict(list)
    egress: dict[Peer, list[dict[str, Any]]] = defaultdict(list)
    names: dict[tuple[str, Peer], list[str]] = defaultdict(list)
    for flow in flows:
        if flow.target.local:
            ingress[flow.target].append({"from": [flow.source.rule_peer()], "ports": flow.port_rules()})
            names[("ingress", flow.target)].append(flow.name)
        if flow.source.local:
            egress[flow.source].append({"to": [flow.target.rule_peer()], "ports": flow.port_rules()})
            names[("egress", flow.source)].append(flow.name)
    for direction, rules_by_peer, policy_type in (
        ("ingress", ingress, "Ingress"),
        ("egress", egress, "Egress"),
    ):
        for peer, rules in rules_by_peer.items():
            label = "-".join(v for _, v in peer.labels) or "all"
            specs[f"allow-{direction}-{label}"] = {
                "podSelector": peer.selector(),
                "policyTypes": [policy_type],
                direction: rules,
            }
    return specs
