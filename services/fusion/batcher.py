"""Dynamic batching across cameras: a batch leaves when it is full or its oldest window waited long enough."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Batcher(Generic[T]):
    """A thread-safe queue handing out batches of up to ``max_batch`` items.

    :meth:`next_batch` returns as soon as ``max_batch`` items are queued, or when the oldest queued
    item has waited ``max_wait_s``, or when ``timeout_s`` passes with nothing queued (empty list).
    """

    def __init__(
        self, max_batch: int, max_wait_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, not {max_batch}")
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0, not {max_wait_s}")
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._items: deque[tuple[float, T]] = deque()
        self._cond = threading.Condition()
        self._closed = False

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def put(self, item: T) -> None:
        """Queue one item."""
        with self._cond:
            self._items.append((self._clock(), item))
            self._cond.notify_all()

    def close(self) -> None:
        """Wake waiters; :meth:`next_batch` then returns what is queued without waiting."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def ready(self) -> bool:
        """True if a batch would be handed out now."""
        with self._cond:
            return self._ready_locked()

    def _ready_locked(self) -> bool:
        if not self._items:
            return False
        if len(self._items) >= self.max_batch or self._closed:
            return True
        return self._clock() - self._items[0][0] >= self.max_wait_s

    def take(self) -> list[T]:
        """Take up to ``max_batch`` items now, ready or not."""
        with self._cond:
            n = min(self.max_batch, len(self._items))
            return [self._items.popleft()[1] for _ in range(n)]

    def next_batch(self, timeout_s: float) -> list[T]:
        """Block until a batch is ready (see class doc) or ``timeout_s`` passes with none; return it."""
        deadline = self._clock() + timeout_s
        with self._cond:
            while not self._ready_locked():
                now = self._clock()
                if self._items:
                    wait = self._items[0][0] + self.max_wait_s - now
                else:
                    wait = deadline - now
                    if wait <= 0 or self._closed:
                        return []
                self._cond.wait(max(0.0005, min(wait, max(deadline - now, 0.0005))))
                if not self._items and self._clock() >= deadline:
                    return []
            n = min(self.max_batch, len(self._items))
            return [self._items.popleft()[1] for _ in range(n)]
