"""Where applied scores go: Redis (the query index) and Cassandra (the durable record)."""
