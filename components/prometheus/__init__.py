"""prometheus component and its generated files."""
