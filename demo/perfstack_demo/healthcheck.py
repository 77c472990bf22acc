"""Probe the local app over HTTP: ``python -m perfstack_demo.healthcheck [/health]``, exit 0 on a 200.

For a Docker HEALTHCHECK: the slim Python image has neither wget nor curl.
"""

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 2.0


def probe(path: str = "/health", port: int | None = None) -> bool:
    """Whether ``http://127.0.0.1:<port><path>`` answers 200 (port from ``$PORT``, default 8080)."""
    port = int(os.environ.get("PORT", "8080")) if port is None else port
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=TIMEOUT_SECONDS) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def main() -> None:
    """Exit 0 when the probe succeeds, 1 otherwise."""
    sys.exit(0 if probe(sys.argv[1] if len(sys.argv) > 1 else "/health") else 1)


if __name__ == "__main__":
    main()
