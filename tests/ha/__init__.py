"""Redis high availability: Sentinel failover with the real redis-server and redis-sentinel."""
