"""Tests of the rollout judge's inputs: synthetic app series served by the real, pinned Prometheus."""
