"""alertmanager component and its generated files."""
