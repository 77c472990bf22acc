"""traffic component and its generated files."""
