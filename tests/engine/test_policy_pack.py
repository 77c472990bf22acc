"""The policy pack under the real engine: started by the CLI as an executable analyzer, at the stack's level.

The mandatory case (production) is in test_production.py against the live
cluster. Here the production program runs under a stack *named* staging,
rendering to a directory, to prove that the stack name reaches the pack and
makes it advisory: a violation is reported and the preview still succeeds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.engine import Engine
from tests.engine.project import PulumiProject

pytestmark = pytest.mark.engine


def test_on_staging_a_violation_is_reported_as_advisory_and_the_preview_goes_on(
    tmp_path: Path, engine: Engine
) -> None:
    project = PulumiProject(tmp_path, engine, stack="staging", kubeconfig=None, stack_file_of="production")
    project.set_secrets()
    project.set_path("kubernetes.renderYamlTo", str(tmp_path / "manifests"))
    project.set_path("redis.replicas", "2")

    result, preview = project.operate("preview", policy=True)

    assert preview is not None, result.stderr
    assert {(v["policy"], v["level"]) for v in preview.policy_violations} == {
        ("redis-sentinel-ha", "advisory")
    }
