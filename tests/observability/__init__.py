"""Tests of the observability files: rules, prometheus.yml, alertmanager.yml, Jaeger, Grafana."""
