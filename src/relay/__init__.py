"""Store to Kafka: the relay, the wire form of every message, the topics and their contracts."""
