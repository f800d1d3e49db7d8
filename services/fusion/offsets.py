"""Which offsets may be committed: never past a record still needed by an open or unacknowledged window."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Mapping

from streaming.bus import TopicPartition


class OffsetTracker:
    """Tracks consumed positions and windows in flight (closed, not yet acknowledged on the scores topic).

    Thread-safe: the consumer loop records positions and emitted windows; producer callbacks
    mark windows acknowledged.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._positions: dict[TopicPartition, int] = {}
        self._inflight: dict[int, dict[TopicPartition, int]] = {}
        self._tokens = itertools.count()

    def consumed(self, last: Mapping[TopicPartition, int]) -> None:
        """The records up to ``last[tp]`` on each partition have been handled (buffered, dropped or
        dead-lettered): one call per poll.
        """
        with self._lock:
            for tp, offset in last.items():
                if offset + 1 > self._positions.get(tp, -1):
                    self._positions[tp] = offset + 1

    def set_position(self, tp: TopicPartition, offset: int) -> None:
        """Set the position after a seek (replay)."""
        with self._lock:
            self._positions[tp] = offset

    def positions(self) -> dict[TopicPartition, int]:
        """Next offset to read, per partition handled so far."""
        with self._lock:
            return dict(self._positions)

    def track(self, needed: Mapping[TopicPartition, int]) -> int:
        """A window was closed; ``needed`` are its lowest offsets. Returns a token for :meth:`done`."""
        with self._lock:
            token = next(self._tokens)
            self._inflight[token] = dict(needed)
            return token

    def done(self, token: int) -> None:
        """The window's score is acknowledged (unknown tokens, e.g. of revoked partitions, are ignored)."""
        with self._lock:
            self._inflight.pop(token, None)

    def inflight(self) -> int:
        """Windows closed and not yet acknowledged."""
        with self._lock:
            return len(self._inflight)

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        """Drop positions and in-flight windows of revoked partitions."""
        gone = set(tps)
        with self._lock:
            for tp in gone:
                self._positions.pop(tp, None)
            for token in [t for t, needed in self._inflight.items() if set(needed) & gone]:
                del self._inflight[token]

    def safe_offsets(self, open_needed: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        """Per consumed partition: the highest offset that may be committed.

        The minimum of the position, the lowest offset an open window needs (``open_needed``,
        from :meth:`streaming.windowing.WindowAssembler.min_open_offsets`) and the lowest offset
        of any window in flight.
        """
        with self._lock:
            safe = dict(self._positions)
            for needed in self._inflight.values():
                for tp, offset in needed.items():
                    if tp in safe:
                        safe[tp] = min(safe[tp], offset)
        for tp, offset in open_needed.items():
            if tp in safe:
                safe[tp] = min(safe[tp], offset)
        return safe
