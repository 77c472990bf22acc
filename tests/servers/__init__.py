"""The Prometheus, Alertmanager and Jaeger servers at the pinned versions, started with each stack's files."""
