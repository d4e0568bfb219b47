"""Kafka side: the relay from the event store to Kafka, consumer loops and subscriber clients."""
