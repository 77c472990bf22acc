"""The interface every platform offers to components."""

from abc import abstractmethod
from collections.abc import Sequence

import pulumi

from components.platform.spec import Deployed, Workload


class Platform(pulumi.ComponentResource):
    """Where workloads run; owns the provider and the shared network or namespace.

    Components never create containers or pods themselves: they describe a
    :class:`Workload` and call :meth:`deploy`, so every component works on
    every platform.
    """

    @abstractmethod
    def deploy(
        self, workload: Workload, parent: pulumi.Resource, after: Sequence[pulumi.Resource] = ()
    ) -> Deployed:
        """Declare the resources that run ``workload``, as children of ``parent``.

        Its replicas are created, and replaced, only once the resources in ``after`` are (for two
        workloads that must not roll at the same time)."""

    @abstractmethod
    def address(self, name: str) -> str:
        """The host name other workloads use to reach workload ``name``."""

    @abstractmethod
    def instance_hosts(self, name: str, replicas: int) -> list[str]:
        """The host name of each replica of a workload with volumes, in order.

        For peers that must address each other (an Alertmanager cluster) and
        for scraping each replica on its own. These names resolve while a
        replica is still starting (not ready), unlike :meth:`address`.
        """

    def replica_host(self, name: str, replica_name: str) -> str:
        """The host name of the replica of workload ``name`` called ``replica_name``.

        Spelled like the entries of :meth:`instance_hosts`, so that a
        replica can announce its own address to its peers. On Kubernetes
        ``replica_name`` may be ``$(POD_NAME)``, which the kubelet expands
        from the env var ``Workload.pod_name_env`` names. By default a
        replica's name is its host name (a container on a Docker network).
        """
        return replica_name
