"""The alert service on the in-memory bus: delivery, dead letters, commits that survive a crash."""

from __future__ import annotations

import dataclasses
import io
import threading
import time

from prometheus_client import CollectorRegistry

from services.alert.render import PrintingSink
from services.alert.service import AlertService
from streaming import contracts
from streaming.bus import TopicPartition
from streaming.config import VigilConfig
from streaming.contracts import WindowScore
from streaming.memory_bus import MemoryBus
from streaming.runtime import topic_specs
from tests.unit.test_alert_policy import burst


def make(bus: MemoryBus | None = None) -> tuple[VigilConfig, MemoryBus]:
    config = VigilConfig.model_validate(
        {"bus": "memory", "kafka": {"partitions": 2}, "alert": {"accepted_model_versions": ["m1"]}}
    )
    if bus is None:
        bus = MemoryBus()
        bus.ensure_topics(topic_specs(config))
    return config, bus


def publish(bus: MemoryBus, config: VigilConfig, scores: list[WindowScore]) -> None:
    producer = bus.producer()
    for s in scores:
        producer.send(config.topics.scores, contracts.encode(s), key=s.camera_id.encode())


def drain(service: AlertService, bus: MemoryBus, config: VigilConfig) -> None:
    """Run the service until its group has committed everything it can, then stop it."""
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    ends: dict[TopicPartition, int] = {}
    for r in bus.records(config.topics.scores):
        ends[r.tp] = r.offset + 1
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and service.positions() != ends:
        time.sleep(0.01)
    service.stop()
    thread.join(5)
    assert not thread.is_alive()


def registry_value(registry: CollectorRegistry, name: str, labels: dict[str, str] | None = None) -> float:
    value = registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else value


def test_alerts_delivered_and_metrics_counted() -> None:
    config, bus = make()
    publish(bus, config, burst([0, 0.9, 0.9, 0.9, 0, 0, 0]))
    registry = CollectorRegistry()
    sink = PrintingSink(io.StringIO())
    drain(AlertService(config, bus, registry, sink), bus, config)
    assert [a.type for a in sink.alerts] == ["raised", "resolved"]
    labels = {"type": "raised", "class": "gunshot", "camera": "cam-1"}
    assert registry_value(registry, "vigil_alerts_total", labels) == 1
    assert registry_value(registry, "vigil_alert_capture_to_alert_seconds_count") == 1


def test_garbage_and_unknown_model_version_go_to_dead_letter() -> None:
    config, bus = make()
    producer = bus.producer()
    producer.send(config.topics.scores, b"not a record", key=b"cam-1")
    wrong = burst([0.9])[0]
    publish(bus, config, [dataclasses.replace(wrong, model_version="m-unknown")])
    publish(bus, config, burst([0.9, 0.9], start=5))
    registry = CollectorRegistry()
    sink = PrintingSink(io.StringIO())
    drain(AlertService(config, bus, registry, sink), bus, config)
    letters = [
        contracts.decode_as(r.value, contracts.DeadLetter) for r in bus.records(config.topics.dead_letter)
    ]
    assert sorted(letter.error_type for letter in letters) == ["ContractError", "UnknownModelVersion"]
    assert [a.type for a in sink.alerts] == ["raised"]  # it went on
    assert registry_value(registry, "vigil_alert_scores_total", {"outcome": "dead_letter"}) == 2


def test_restart_replays_from_safe_offset_nothing_lost_nothing_doubled() -> None:
    config, bus = make()
    levels = [0, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.9, 0.9, 0, 0, 0, 0] + [0] * 40
    first_half = burst(levels[:4])
    publish(bus, config, first_half)
    sink = PrintingSink(io.StringIO())  # idempotent on the event id, like Redis
    drain(AlertService(config, bus, CollectorRegistry(), sink), bus, config)
    assert [a.type for a in sink.alerts] == ["raised"]
    # the incident is open: the commit must not pass its first window (offset 1)
    tp = next(r.tp for r in bus.records(config.topics.scores))
    consumer = bus.consumer(config.alert.group_id)
    assert consumer.committed(TopicPartition(tp.topic, tp.partition)) == 1
    consumer.close()
    publish(bus, config, burst(levels[4:], start=4))
    registry = CollectorRegistry()
    drain(AlertService(config, bus, registry, sink), bus, config)
    assert [a.type for a in sink.alerts] == ["raised", "updated", "resolved"]
    assert registry_value(registry, "vigil_alerts_suppressed_total", {"reason": "redelivery"}) == 1
