"""Every Kubernetes object of the production stack against the real API schemas."""

import subprocess
from pathlib import Path

import yaml

from infra.mockrun import ProgramRun
from infra.render import manifests
from tests.conftest import require_tool

KUBERNETES_VERSION = "1.34.0"


def test_production_manifests_pass_strict_kubernetes_validation(
    production: ProgramRun, tmp_path: Path
) -> None:
    files = []
    for name, manifest in manifests(production).items():
        path = tmp_path / name
        path.write_text(yaml.safe_dump(manifest))
        files.append(str(path))
    assert len(files) >= 5
    result = subprocess.run(
        [require_tool("kubernetes-validate"), "--strict", "--quiet", "-k", KUBERNETES_VERSION, *files],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # CRDs such as HTTPRoute only warn: make sure nothing else was skipped.
    skipped = [
        line for line in result.stdout.splitlines() if "not validated" in line and "HTTPRoute" not in line
    ]
    assert not skipped, skipped
