"""The perfstack Pulumi policy pack (see policy/README.md and docs/ci-cd.md); a package so tests can import `policy.rules`."""
