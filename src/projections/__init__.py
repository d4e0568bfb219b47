"""Read models built by following the event store (replay) or Kafka (live), and their stores."""
