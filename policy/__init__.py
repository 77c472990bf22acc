"""The perfstack Pulumi policy pack (policy/README.md); a package so tests can import `policy.rules`."""
