"""Vigil's streaming layer: record contracts, the bus (Kafka or in-memory), config, observability."""
