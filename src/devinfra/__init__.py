"""Local Kafka and PostgreSQL for development and tests. No runtime package imports this one."""
