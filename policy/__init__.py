"""The perfstack Pulumi policy pack (see README.md); a package so tests can import `policy.rules`."""
