"""Redis cache: redis.conf generation and the component that deploys it."""
