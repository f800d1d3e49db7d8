"""Dead letters: a record a service cannot process is parked, with the reason, and counted.

It never stops a service. The consumer-side pattern every service uses::

    sink = DeadLetterSink(producer, config.topics.dead_letter, "fusion", registry)
    for record in consumer.poll(1.0):
        item = decode_or_dead_letter(record, sink)
        if item is None:
            continue  # parked and counted; its offset is still committed once the DLQ send is acked
        ...
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import weakref

from prometheus_client import REGISTRY, CollectorRegistry, Counter

from streaming import contracts
from streaming.bus import DeliveryFuture, Producer, Record

log = logging.getLogger(__name__)


_counters: weakref.WeakKeyDictionary[CollectorRegistry, Counter] = weakref.WeakKeyDictionary()
_counters_lock = threading.Lock()


def dead_letter_counter(registry: CollectorRegistry | None = None) -> Counter:
    """``vigil_dead_letters_total`` in ``registry``: one per registry, shared by every sink in it."""
    registry = REGISTRY if registry is None else registry
    with _counters_lock:
        counter = _counters.get(registry)
        if counter is None:
            counter = Counter(
                "vigil_dead_letters",
                "Records parked on the dead-letter topic, by source topic and reason type.",
                ["service", "topic", "reason_type"],
                registry=registry,
            )
            _counters[registry] = counter
        return counter


def camera_id_from_key(key: bytes | None) -> str:
    """The camera id a record was keyed by, or "" when there is none or it is not UTF-8."""
    if not key:
        return ""
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return ""


class DeadLetterSink:
    """Sends undecodable or unprocessable records to the dead-letter topic and counts them.

    The counter is ``vigil_dead_letters_total{service,topic,reason_type}``, ``topic`` being the
    source topic and ``reason_type`` a small fixed vocabulary (by default the error's class name).
    Several sinks (services) in one process may share a registry.
    """

    def __init__(
        self,
        producer: Producer,
        topic: str,
        service: str,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._producer = producer
        self.topic = topic
        self.service = service
        self._seq = itertools.count()
        self.counter = dead_letter_counter(registry)

    def send(
        self, record: Record, reason: str, error: BaseException, *, reason_type: str | None = None
    ) -> DeliveryFuture:
        """Park ``record`` with ``reason``; return the delivery (commit its offset once acknowledged)."""
        kind = reason_type or type(error).__name__
        camera_id = camera_id_from_key(record.key)
        letter = contracts.DeadLetter(
            camera_id=camera_id,
            session_id="",
            seq=next(self._seq),
            capture_ns=time.time_ns(),
            service=self.service,
            source_topic=record.topic,
            source_partition=record.partition,
            source_offset=record.offset,
            reason=reason,
            error_type=type(error).__name__,
            payload=record.value,
        )
        future = self._producer.send(self.topic, contracts.encode(letter), key=record.key)
        self.counter.labels(self.service, record.topic, kind).inc()
        log.warning(
            "dead letter from %s[%d]@%d (camera %r): %s",
            record.topic,
            record.partition,
            record.offset,
            camera_id,
            reason,
        )
        return future


def decode_or_dead_letter(record: Record, sink: DeadLetterSink) -> contracts.Record | None:
    """Decode ``record``; on :class:`~streaming.contracts.ContractError` park it and return None."""
    try:
        return contracts.decode(record.value)
    except contracts.ContractError as exc:
        sink.send(record, str(exc), exc, reason_type="contract")
        return None
