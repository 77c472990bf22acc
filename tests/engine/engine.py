"""The Pulumi engine the tests run: the CLI and the Kubernetes provider that tools/build.py builds."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tools.build import kubernetes_provider_release


@dataclass(frozen=True)
class Engine:
    """The built `pulumi` CLI and the plugin home the tests give it."""

    cli_dir: Path
    pulumi_home: Path

    @classmethod
    def with_provider(cls, cli_dir: Path, provider_dir: Path, pulumi_home: Path) -> Engine:
        """The CLI with the provider built in ``provider_dir`` installed in ``pulumi_home``.

        Installed at the release the Python SDK pins: with that exact version in
        the plugin home the CLI neither warns nor looks for another (the tests
        turn automatic downloads off).
        """
        subprocess.run(
            [
                str(cli_dir / "pulumi"), "plugin", "install", "resource", "kubernetes",
                kubernetes_provider_release(), "--file", str(provider_binary(provider_dir)),
                "--non-interactive",
            ],
            env={**os.environ, "PULUMI_HOME": str(pulumi_home), "PULUMI_SKIP_UPDATE_CHECK": "true"},
            check=True,
            capture_output=True,
            timeout=120,
        )  # fmt: skip
        return cls(cli_dir, pulumi_home)


def provider_binary(provider_dir: Path) -> Path:
    """The plugin binary in the cache directory of tools/build.py's `pulumi-kubernetes`."""
    return provider_dir / "bin" / "pulumi-resource-kubernetes"
