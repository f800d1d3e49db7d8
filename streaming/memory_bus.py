"""An in-process bus with Kafka's semantics: partitions, consumer groups, manual commits, pause.

Used by logic tests and by ``vigil demo`` (no Kafka needed). Thread-safe: services in one process
run in their own threads and share one :class:`MemoryBus`.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from streaming.bus import (
    BusError,
    Delivered,
    RebalanceListener,
    Record,
    TopicPartition,
    TopicSpec,
    partition_for_key,
)


class _Done:
    """A delivery future that is already complete (the in-memory log acknowledges at once)."""

    def __init__(self, delivered: Delivered) -> None:
        self._delivered = delivered

    def get(self, timeout: float | None = None) -> Delivered:
        return self._delivered

    def add_callback(self, fn: Callable[[Delivered], None]) -> None:
        fn(self._delivered)

    def add_errback(self, fn: Callable[[BaseException], None]) -> None:
        return None

    def is_done(self) -> bool:
        return True


@dataclass
class _Partition:
    records: list[Record] = field(default_factory=list)
    start_offset: int = 0  # offsets below were trimmed by retention

    @property
    def end_offset(self) -> int:
        return self.start_offset + len(self.records)


@dataclass
class _Group:
    members: dict[str, MemoryConsumer] = field(default_factory=dict)
    committed: dict[TopicPartition, int] = field(default_factory=dict)
    generation: int = 0


class MemoryBus:
    """The in-memory cluster. ``retention_records`` caps each partition's length (oldest dropped)."""

    def __init__(self, *, default_partitions: int = 6, retention_records: int = 200_000) -> None:
        self._lock = threading.RLock()
        self._data_arrived = threading.Condition(self._lock)
        self._topics: dict[str, list[_Partition]] = {}
        self._groups: dict[str, _Group] = {}
        self._default_partitions = default_partitions
        self._retention = retention_records
        self._ids = itertools.count()
        self._round_robin = itertools.count()

    # -- Bus protocol -------------------------------------------------------------------------
    def producer(self, *, client_id: str = "vigil") -> MemoryProducer:
        """A producer appending straight into the in-memory log."""
        return MemoryProducer(self)

    def consumer(
        self, group_id: str, *, client_id: str = "vigil", auto_offset_reset: str = "earliest"
    ) -> MemoryConsumer:
        """A consumer in ``group_id``."""
        if auto_offset_reset not in ("earliest", "latest"):
            raise ValueError(f"auto_offset_reset must be 'earliest' or 'latest', not {auto_offset_reset!r}")
        return MemoryConsumer(self, group_id, f"{client_id}-{next(self._ids)}", auto_offset_reset)

    def ensure_topics(self, specs: Sequence[TopicSpec]) -> None:
        """Create missing topics (existing ones keep their partitions)."""
        with self._lock:
            for spec in specs:
                if spec.name not in self._topics:
                    self._topics[spec.name] = [_Partition() for _ in range(spec.partitions)]

    def close(self) -> None:
        """Nothing to release."""

    # -- helpers used by producers/consumers and tests ----------------------------------------
    def topics(self) -> dict[str, int]:
        """Topic name → partition count."""
        with self._lock:
            return {name: len(parts) for name, parts in self._topics.items()}

    def records(self, topic: str) -> list[Record]:
        """Every retained record of ``topic``, partition by partition (for tests and tools)."""
        with self._lock:
            return [r for p in self._topics.get(topic, []) for r in p.records]

    def _append(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]]
    ) -> Delivered:
        with self._lock:
            if topic not in self._topics:
                # Kafka here runs with auto-create off; the demo wires topics via ensure_topics,
                # so a send to an unknown topic is a wiring bug worth surfacing.
                raise BusError(f"topic {topic!r} does not exist (create it with ensure_topics)")
            parts = self._topics[topic]
            index = partition_for_key(key, len(parts), fallback=next(self._round_robin))
            part = parts[index]
            offset = part.end_offset
            part.records.append(
                Record(topic, index, offset, key, bytes(value), int(time.time() * 1000), tuple(headers))
            )
            if len(part.records) > self._retention:
                drop = len(part.records) - self._retention
                del part.records[:drop]
                part.start_offset += drop
            self._data_arrived.notify_all()
            return Delivered(topic, index, offset)

    def _join(self, member: MemoryConsumer) -> None:
        with self._lock:
            group = self._groups.setdefault(member.group_id, _Group())
            group.members[member.member_id] = member
            self._rebalance(group)

    def _leave(self, member: MemoryConsumer) -> None:
        with self._lock:
            group = self._groups.get(member.group_id)
            if group and group.members.pop(member.member_id, None) is not None:
                self._rebalance(group)

    def _rebalance(self, group: _Group) -> None:
        """Range assignment per topic: partition N of topics with equal counts goes to one member."""
        group.generation += 1
        members = sorted(group.members)
        plan: dict[str, set[TopicPartition]] = {m: set() for m in members}
        topics = sorted({t for m in group.members.values() for t in m.subscription})
        for topic in topics:
            subscribers = [m for m in members if topic in group.members[m].subscription]
            count = len(self._topics.get(topic, []))
            if not subscribers:
                continue
            per, extra = divmod(count, len(subscribers))
            start = 0
            for i, m in enumerate(subscribers):
                n = per + (1 if i < extra else 0)
                plan[m].update(TopicPartition(topic, p) for p in range(start, start + n))
                start += n
        for m in members:
            group.members[m]._pending_assignment = plan[m]

    def _committed(self, group_id: str, tp: TopicPartition) -> int | None:
        with self._lock:
            group = self._groups.get(group_id)
            return None if group is None else group.committed.get(tp)

    def _commit(self, member: MemoryConsumer, offsets: Mapping[TopicPartition, int]) -> None:
        with self._lock:
            group = self._groups[member.group_id]
            for tp, offset in offsets.items():
                if tp not in member._assignment:
                    raise BusError(f"commit for {tp} refused: not assigned to this member (rebalanced)")
                group.committed[tp] = offset


class MemoryProducer:
    """Producer on a :class:`MemoryBus`; every send is acknowledged immediately."""

    def __init__(self, bus: MemoryBus) -> None:
        self._bus = bus
        self._closed = False

    def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
        *,
        block: bool = True,
    ) -> _Done:
        """Append the record; ``block`` is irrelevant in memory (there is always room)."""
        if self._closed:
            raise BusError("producer is closed")
        return _Done(self._bus._append(topic, key, value, headers))

    def flush(self, timeout: float | None = None) -> None:
        """Nothing is ever pending."""

    def close(self, timeout: float | None = None) -> None:
        """Refuse further sends."""
        self._closed = True


class MemoryConsumer:
    """A consumer-group member on a :class:`MemoryBus`."""

    def __init__(self, bus: MemoryBus, group_id: str, member_id: str, auto_offset_reset: str) -> None:
        self._bus = bus
        self.group_id = group_id
        self.member_id = member_id
        self._reset = auto_offset_reset
        self.subscription: tuple[str, ...] = ()
        self._listener: RebalanceListener | None = None
        self._assignment: set[TopicPartition] = set()
        self._pending_assignment: set[TopicPartition] | None = None
        self._positions: dict[TopicPartition, int] = {}
        self._paused: set[TopicPartition] = set()
        self._closed = False

    def subscribe(self, topics: Sequence[str], listener: RebalanceListener | None = None) -> None:
        """Join the group for ``topics`` (the assignment arrives with the next poll)."""
        self.subscription = tuple(topics)
        self._listener = listener
        self._bus._join(self)

    def _apply_rebalance(self) -> None:
        new = self._pending_assignment
        if new is None:
            return
        self._pending_assignment = None
        revoked = self._assignment - new
        assigned = new - self._assignment
        if revoked and self._listener is not None:
            self._listener.on_partitions_revoked(revoked)
        self._assignment = set(new)
        for tp in revoked:
            self._positions.pop(tp, None)
            self._paused.discard(tp)
        for tp in assigned:
            committed = self._bus._committed(self.group_id, tp)
            if committed is not None:
                self._positions[tp] = committed
            else:
                with self._bus._lock:
                    part = self._bus._topics[tp.topic][tp.partition]
                    self._positions[tp] = part.start_offset if self._reset == "earliest" else part.end_offset
        if assigned and self._listener is not None:
            self._listener.on_partitions_assigned(assigned)

    def poll(self, timeout_s: float, max_records: int | None = None) -> list[Record]:
        """Return up to ``max_records`` records from unpaused assigned partitions, waiting up to ``timeout_s``."""
        if self._closed:
            raise BusError("consumer is closed")
        deadline = time.monotonic() + max(0.0, timeout_s)
        limit = max_records or 500
        while True:
            with self._bus._lock:
                self._apply_rebalance()
                out: list[Record] = []
                for tp in sorted(self._assignment - self._paused):
                    part = self._bus._topics[tp.topic][tp.partition]
                    pos = max(self._positions[tp], part.start_offset)
                    take = part.records[pos - part.start_offset : pos - part.start_offset + limit - len(out)]
                    if take:
                        out.extend(take)
                        self._positions[tp] = pos + len(take)
                    if len(out) >= limit:
                        break
                if out:
                    return out
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._bus._data_arrived.wait(min(remaining, 0.05))

    def commit(self, offsets: Mapping[TopicPartition, int], timeout_s: float | None = None) -> None:
        """Store ``offsets`` (next offset to read) for the group (at once: ``timeout_s`` is moot)."""
        self._bus._commit(self, offsets)

    def committed(self, tp: TopicPartition) -> int | None:
        """The group's committed offset for ``tp``."""
        return self._bus._committed(self.group_id, tp)

    def pause(self, partitions: Iterable[TopicPartition]) -> None:
        """Stop returning records from ``partitions``."""
        self._paused.update(p for p in partitions if p in self._assignment)

    def resume(self, partitions: Iterable[TopicPartition]) -> None:
        """Return records from ``partitions`` again."""
        self._paused.difference_update(partitions)

    def paused(self) -> set[TopicPartition]:
        """Paused partitions."""
        return set(self._paused)

    def assignment(self) -> set[TopicPartition]:
        """Assigned partitions (as of the last poll)."""
        return set(self._assignment)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Read ``tp`` from ``offset`` next."""
        if tp not in self._assignment:
            raise BusError(f"cannot seek {tp}: not assigned")
        self._positions[tp] = offset

    def offsets_for_time(self, tp: TopicPartition, timestamp_ms: int) -> int | None:
        """Earliest offset with a timestamp at or after ``timestamp_ms``."""
        with self._bus._lock:
            part = self._bus._topics[tp.topic][tp.partition]
            for record in part.records:
                if record.timestamp_ms >= timestamp_ms:
                    return record.offset
            return None

    def end_offsets(
        self, tps: Iterable[TopicPartition], timeout_s: float | None = None
    ) -> dict[TopicPartition, int]:
        """Log-end offsets."""
        with self._bus._lock:
            return {tp: self._bus._topics[tp.topic][tp.partition].end_offset for tp in tps}

    def close(self, timeout_s: float | None = None) -> None:
        """Leave the group; nothing is committed."""
        if not self._closed:
            self._closed = True
            self._bus._leave(self)
