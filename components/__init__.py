"""Reusable Pulumi components with a platform-neutral API."""
