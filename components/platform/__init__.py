"""Where workloads run (Docker, Kubernetes) and the types every component shares."""
