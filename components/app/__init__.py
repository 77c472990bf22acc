"""app component and its generated files."""
