"""Tests that deploy the stacks with the real Pulumi engine to a local Kubernetes control plane."""
