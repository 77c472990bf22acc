"""jaeger component and its generated files."""
