"""Reconnect pacing: exponential backoff with jitter, and a crash-loop guard."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable


class Backoff:
    """Exponential backoff ``initial * 2**n`` capped at ``maximum``, with "equal jitter".

    The delay is drawn uniformly from ``[d/2, d]`` so cameras that fail together (a switch
    reboot) spread their reconnects without ever retrying sooner than half the nominal delay.
    """

    def __init__(
        self, initial_s: float, maximum_s: float, *, rand: Callable[[], float] = random.random
    ) -> None:
        if initial_s <= 0 or maximum_s < initial_s:
            raise ValueError(f"backoff needs 0 < initial ({initial_s}) <= maximum ({maximum_s})")
        self.initial_s = initial_s
        self.maximum_s = maximum_s
        self._rand = rand
        self.attempt = 0

    def nominal(self) -> float:
        """The un-jittered delay of the next attempt."""
        return min(self.maximum_s, self.initial_s * 2.0 ** min(self.attempt, 60))

    def next_delay(self) -> float:
        """The delay before the next attempt (and count this attempt)."""
        d = self.nominal()
        self.attempt += 1
        return d / 2 + self._rand() * d / 2

    def max_delay(self) -> float:
        """A jittered delay at the cap (used by the crash-loop guard)."""
        return self.maximum_s / 2 + self._rand() * self.maximum_s / 2

    def reset(self) -> None:
        """A session worked: the next failure starts again from the initial delay."""
        self.attempt = 0


class CrashLoopGuard:
    """Trips when ``max_failures`` failures fall within ``window_s`` seconds."""

    def __init__(self, max_failures: int, window_s: float) -> None:
        if max_failures < 1 or window_s <= 0:
            raise ValueError("crash-loop guard needs max_failures >= 1 and window_s > 0")
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: deque[float] = deque()

    def record(self, now_s: float) -> bool:
        """Record a failure at ``now_s`` (monotonic); True if the camera is crash-looping."""
        self._failures.append(now_s)
        while self._failures and now_s - self._failures[0] > self.window_s:
            self._failures.popleft()
        return len(self._failures) >= self.max_failures

    def recent(self) -> int:
        """Failures currently inside the window."""
        return len(self._failures)
