"""Wiring shared by every service: which bus, which topics, with what retention."""

from __future__ import annotations

from streaming.bus import Bus, TopicSpec
from streaming.config import VigilConfig


def topic_specs(config: VigilConfig) -> list[TopicSpec]:
    """Every topic Vigil uses, with partitions and retention from config.

    Video and audio share one partition count so partition N of both holds the same cameras and
    one fusion worker gets both modalities of a camera.
    """
    k, t = config.kafka, config.topics
    media = {"max.message.bytes": str(k.max_request_size)}
    return [
        TopicSpec(t.video, k.partitions, k.retention_ms, media),
        TopicSpec(t.audio, k.partitions, k.retention_ms, media),
        TopicSpec(t.scores, k.partitions, k.scores_retention_ms),
        TopicSpec(t.dead_letter, k.partitions, k.scores_retention_ms),
    ]


def make_bus(config: VigilConfig, *, client_id: str = "vigil") -> Bus:
    """The bus the configuration asks for. ``memory`` only makes sense inside one process (demo)."""
    if config.bus == "memory":
        from streaming.memory_bus import MemoryBus

        return MemoryBus(default_partitions=config.kafka.partitions)
    from streaming.kafka_bus import KafkaBus

    bus: Bus = KafkaBus(config.kafka, client_id=client_id)
    return bus
