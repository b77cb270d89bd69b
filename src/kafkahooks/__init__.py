"""kafkahooks: Kafka events to signed HTTP webhooks, delivered at least once."""

__version__ = "0.1.0"
