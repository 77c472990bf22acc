"""grafana component and its generated files."""
