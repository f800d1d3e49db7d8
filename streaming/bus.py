"""The small message-bus interface every service is written against.

Two implementations: :mod:`streaming.kafka_bus` (kafka-python 3.x, the real thing) and
:mod:`streaming.memory_bus` (in-process, for logic tests and ``vigil demo``). Semantics follow
Kafka's, so code that works on one works on the other:

- records are keyed; one key always lands on one partition, so a camera's records stay in order;
- a consumer commits only offsets the caller says are processed (``commit``), never automatically;
- ``pause``/``resume`` stop fetching from partitions while ``poll`` keeps the consumer alive;
- a rebalance listener hears about revoked/assigned partitions so callers can flush state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, runtime_checkable


class TopicPartition(NamedTuple):
    """One partition of one topic.

    A named tuple: hashed and compared in C, as the fusion loop looks one up for every record.
    """

    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class Record:
    """A record as a consumer sees it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def tp(self) -> TopicPartition:
        """The record's topic-partition."""
        return TopicPartition(self.topic, self.partition)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """What a topic should look like; creation is idempotent."""

    name: str
    partitions: int = 6
    retention_ms: int | None = None
    extra_config: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Delivered:
    """Where an acknowledged record landed."""

    topic: str
    partition: int
    offset: int


class BusError(RuntimeError):
    """The bus failed in a way the caller should know about (unreachable, refused, timed out)."""


class BusStopped(BusError):
    """A stop was requested (SIGTERM) while the bus was still waiting for the cluster."""


class ProducerFull(BusError):
    """The producer's buffer is full: a non-blocking send refused the record (caller drops and counts)."""


class DeliveryFuture(Protocol):
    """Handle on an in-flight send."""

    def get(self, timeout: float | None = None) -> Delivered:
        """Block until the broker acknowledged the record; raise :class:`BusError` on failure."""
        ...

    def add_callback(self, fn: Callable[[Delivered], None]) -> None:
        """Call ``fn`` once the record is acknowledged."""
        ...

    def add_errback(self, fn: Callable[[BaseException], None]) -> None:
        """Call ``fn`` if delivery fails."""
        ...

    def is_done(self) -> bool:
        """True once acknowledged or failed."""
        ...


@runtime_checkable
class Producer(Protocol):
    """Sends records; durable (acks=all, idempotent) on Kafka."""

    def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
        *,
        block: bool = True,
    ) -> DeliveryFuture:
        """Queue a record. With ``block=False`` raise :class:`ProducerFull` instead of waiting for room."""
        ...

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every queued record is acknowledged (or raise :class:`BusError`)."""
        ...

    def close(self, timeout: float | None = None) -> None:
        """Flush and release resources, within ``timeout`` in all (records still queued then are dropped)."""
        ...


class RebalanceListener(Protocol):
    """Told when partitions move between members of a consumer group."""

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Called before ``revoked`` are taken away: commit what is done, forget their state."""
        ...

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Called after ``assigned`` are given to this member."""
        ...


@runtime_checkable
class Consumer(Protocol):
    """A member of a consumer group that commits only what the caller says is processed."""

    def subscribe(self, topics: Sequence[str], listener: RebalanceListener | None = None) -> None:
        """Join the group for ``topics``."""
        ...

    def poll(self, timeout_s: float, max_records: int | None = None) -> list[Record]:
        """Fetch records (possibly none) from unpaused partitions; keeps the group membership alive."""
        ...

    def commit(self, offsets: Mapping[TopicPartition, int], timeout_s: float | None = None) -> None:
        """Commit, per partition, the offset of the NEXT record to read (last processed + 1).

        Raises :class:`BusError` when not done within ``timeout_s`` (None: the client's request
        timeout); never waits longer, so a stopping service can bound its final commit."""
        ...

    def committed(self, tp: TopicPartition) -> int | None:
        """The group's committed offset for ``tp`` (None if nothing committed)."""
        ...

    def pause(self, partitions: Iterable[TopicPartition]) -> None:
        """Stop fetching from ``partitions`` (backpressure)."""
        ...

    def resume(self, partitions: Iterable[TopicPartition]) -> None:
        """Fetch again from ``partitions``."""
        ...

    def paused(self) -> set[TopicPartition]:
        """Partitions currently paused."""
        ...

    def assignment(self) -> set[TopicPartition]:
        """Partitions currently assigned to this member."""
        ...

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Read ``tp`` from ``offset`` next."""
        ...

    def offsets_for_time(self, tp: TopicPartition, timestamp_ms: int) -> int | None:
        """The earliest offset whose timestamp is at or after ``timestamp_ms`` (None if none)."""
        ...

    def end_offsets(
        self, tps: Iterable[TopicPartition], timeout_s: float | None = None
    ) -> dict[TopicPartition, int]:
        """The log-end offsets (next offset to be written) of ``tps``."""
        ...

    def close(self, timeout_s: float | None = None) -> None:
        """Leave the group without committing anything, waiting at most ``timeout_s`` for the broker."""
        ...


@runtime_checkable
class Bus(Protocol):
    """Factory for producers, consumers and topics on one cluster."""

    def producer(self, *, client_id: str = "vigil") -> Producer:
        """A new producer."""
        ...

    def consumer(
        self, group_id: str, *, client_id: str = "vigil", auto_offset_reset: str = "earliest"
    ) -> Consumer:
        """A new consumer in ``group_id`` (not yet subscribed)."""
        ...

    def ensure_topics(self, specs: Sequence[TopicSpec]) -> None:
        """Create missing topics; existing ones are left alone (idempotent)."""
        ...

    def close(self) -> None:
        """Release shared resources (admin connections)."""
        ...


def partition_for_key(key: bytes | None, num_partitions: int, *, fallback: int = 0) -> int:
    """Kafka's default partitioner: murmur2 of the key, positive, modulo the partition count.

    Using the same function in the in-memory bus keeps a camera on the same partition number
    on every topic with the same partition count, as on Kafka.
    """
    if key is None:
        return fallback % num_partitions
    return (murmur2(key) & 0x7FFFFFFF) % num_partitions


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash (as in the Java client's ``Utils.murmur2``), as a signed 32-bit int."""
    length = len(data)
    seed = 0x9747B28C
    m = 0x5BD1E995
    r = 24
    h = (seed ^ length) & 0xFFFFFFFF
    length4 = length // 4
    for i in range(length4):
        i4 = i * 4
        k = (
            (data[i4] & 0xFF)
            + ((data[i4 + 1] & 0xFF) << 8)
            + ((data[i4 + 2] & 0xFF) << 16)
            + ((data[i4 + 3] & 0xFF) << 24)
        )
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    extra = length % 4
    index = length & ~3
    if extra >= 3:
        h ^= (data[index + 2] & 0xFF) << 16
    if extra >= 2:
        h ^= (data[index + 1] & 0xFF) << 8
    if extra >= 1:
        h ^= data[index] & 0xFF
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h
