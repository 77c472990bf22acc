"""The Pulumi engine the tests run: the CLI and the Kubernetes provider that tools/build.py builds."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tools.build import installed, kubernetes_provider_release


@dataclass(frozen=True)
class Engine:
    """The built `pulumi` CLI and the plugin home the tests give it."""

    cli_dir: Path
    pulumi_home: Path

    @classmethod
    def with_provider(cls, cli_dir: Path, provider: Path, pulumi_home: Path) -> Engine:
        """The CLI with ``provider`` installed in ``pulumi_home`` at the release the Python SDK pins.

        With that exact version in the plugin home the CLI neither warns nor
        looks for another (the tests turn automatic downloads off).
        """
        subprocess.run(
            [
                str(cli_dir / "pulumi"), "plugin", "install", "resource", "kubernetes",
                kubernetes_provider_release(), "--file", str(provider), "--non-interactive",
            ],
            env={**os.environ, "PULUMI_HOME": str(pulumi_home), "PULUMI_SKIP_UPDATE_CHECK": "true"},
            check=True,
            capture_output=True,
            timeout=120,
        )  # fmt: skip
        return cls(cli_dir, pulumi_home)


def built_engine_dirs() -> tuple[Path, Path] | None:
    """(CLI bin dir, provider binary) when tools/build.py has built both, else None."""
    cli, provider = installed("pulumi"), installed("pulumi-kubernetes")
    if cli is None or provider is None:
        return None
    return cli / "bin", provider / "bin" / "pulumi-resource-kubernetes"
