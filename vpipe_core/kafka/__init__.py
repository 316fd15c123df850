"""confluent-kafka building blocks: client settings, delivery tracking, offset tracking."""
