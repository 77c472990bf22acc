"""Tests of the demo app (demo/perfstack_demo): the perfstack app contract, in-process and as a server."""

import sys
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
"""The demo app's folder: what the image puts on PYTHONPATH (/app)."""

# The demo app is not an installed package; its folder goes on the path here,
# before any test module of this package imports it.
if str(DEMO_DIR) not in sys.path:
    sys.path.insert(0, str(DEMO_DIR))
