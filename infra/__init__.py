"""perfstack's own deployment: typed stack config, wiring and catalogs."""
