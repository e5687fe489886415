"""Code every lapor-hub service shares: event contracts, settings, Kafka and PostgreSQL adapters."""
