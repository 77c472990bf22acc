"""Network isolation: only the listed paths are open between workloads."""

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.platform.base import Platform
from components.platform.kubernetes import KubernetesPlatform
from components.platform.network import Flow, network_policy_specs


@dataclass
class NetworkIsolationArgs:
    """The allowed flows and the platform."""

    flows: list[Flow]
    platform: Platform


class NetworkIsolation(pulumi.ComponentResource):
    """Default-deny NetworkPolicies plus one allow per flow (Kubernetes).

    On Docker the stack's containers share one private bridge network and
    only the published ports (bound to 127.0.0.1 by default) reach the host,
    so there is nothing to declare.
    """

    def __init__(
        self, name: str, args: NetworkIsolationArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("perfstack:network:Isolation", name, None, opts)
        if isinstance(args.platform, KubernetesPlatform):
            platform = args.platform
            for policy, spec in network_policy_specs(args.flows).items():
                k8s.networking.v1.NetworkPolicy(
                    policy,
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=policy,
                        namespace=platform.namespace.metadata.name,
                        labels={"app.kubernetes.io/part-of": "perfstack"},
                    ),
                    spec=spec,
                    opts=platform.child_opts(self),
                )
        self.register_outputs({})
