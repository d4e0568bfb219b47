"""Kafka consumer loops, sequenced dead letters and the settlement subscriber client."""
