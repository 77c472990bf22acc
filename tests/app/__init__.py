"""App services: config validation and the containers' env."""
