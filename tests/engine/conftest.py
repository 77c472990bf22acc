"""The local Kubernetes cluster the engine tests deploy to: started once per session."""

from collections.abc import Iterator

import pytest

from tests.conftest import built_tool
from tests.engine.cluster import ClusterTools, LocalCluster


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    """A started `LocalCluster` (Nodes Ready, PVs Available, Gateway created), torn down after the session.

    Skips when a tool is not built, or fails under ``PERFSTACK_REQUIRE_TOOLS=1``.
    """
    tools = ClusterTools.from_cache_dirs(
        kube=built_tool("kube"),
        etcd=built_tool("etcd"),
        kwok=built_tool("kwok"),
        gateway_api=built_tool("gateway-api"),
    )
    with LocalCluster(tools) as started:
        yield started
