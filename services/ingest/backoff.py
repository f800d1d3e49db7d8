"""Reconnect pacing: exponential backoff with jitter, a crash-loop guard, and the policy that
tells a camera's ordinary drop (after healthy streaming) from a crash loop."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


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

    def reset(self) -> None:
        """Forget every failure (the camera streamed healthily since)."""
        self._failures.clear()


@dataclass(frozen=True, slots=True)
class ReconnectDecision:
    """What to do after a session ended: wait ``delay_s``, then connect again."""

    delay_s: float
    healthy: bool  # the session streamed long enough to count as working (failure count cleared)
    recovering: bool  # within the recovery window after a healthy stream: fast, capped retries
    crash_loop: bool  # the guard tripped: retrying at the slow cap
    failures: int  # failures counted by the guard (inside its window)
    down_s: float | None  # seconds since the last healthy stream ended (None: never healthy)


class ReconnectPolicy:
    """Paces a camera's reconnects, telling an ordinary drop from a crash loop.

    - A session that delivered frames for at least ``healthy_after_s`` was *healthy*: its end
      (the camera's end of stream, a lost connection, a stall) is not a failure. The failure
      count and the backoff start over, and for ``recovery_window_s`` afterwards retries use a
      short backoff (from ``min(initial_s, recovery_max_s)``, capped at ``recovery_max_s``,
      jittered), so a camera is back within seconds of an outage ending.
    - Every other session end is a failure. Failures back off exponentially up to ``maximum_s``;
      ``crash_loop_max`` failures within ``crash_loop_window_s`` (outside a recovery window) trip
      the guard; it stays tripped (every retry waits near ``maximum_s``, which spaces failures
      wider than its window) until a healthy stream clears it.

    Pure: the caller passes the clock; ``rand`` is the jitter source.
    """

    def __init__(
        self,
        *,
        initial_s: float,
        maximum_s: float,
        recovery_max_s: float,
        recovery_window_s: float,
        healthy_after_s: float,
        crash_loop_max: int,
        crash_loop_window_s: float,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if healthy_after_s <= 0 or recovery_window_s < 0:
            raise ValueError("reconnect policy needs healthy_after_s > 0 and recovery_window_s >= 0")
        self.healthy_after_s = healthy_after_s
        self.recovery_window_s = recovery_window_s
        self.backoff = Backoff(initial_s, maximum_s, rand=rand)
        fast_max = min(recovery_max_s, maximum_s)
        self.recovery = Backoff(min(initial_s, fast_max), fast_max, rand=rand)
        self.guard = CrashLoopGuard(crash_loop_max, crash_loop_window_s)
        self._healthy_end_s: float | None = None
        self.crash_looping = False

    def after_session(self, now_s: float, streamed_s: float) -> ReconnectDecision:
        """A session ended at ``now_s`` (monotonic) after delivering frames for ``streamed_s``."""
        healthy = streamed_s >= self.healthy_after_s
        if healthy:
            self._healthy_end_s = now_s
            self.crash_looping = False
            self.guard.reset()
            self.backoff.reset()
            self.recovery.reset()
        else:
            self.guard.record(now_s)
        down_s = None if self._healthy_end_s is None else now_s - self._healthy_end_s
        failures = self.guard.recent()
        if down_s is not None and down_s <= self.recovery_window_s:
            return ReconnectDecision(self.recovery.next_delay(), healthy, True, False, failures, down_s)
        self.crash_looping = self.crash_looping or failures >= self.guard.max_failures
        if self.crash_looping:
            return ReconnectDecision(self.backoff.max_delay(), healthy, False, True, failures, down_s)
        return ReconnectDecision(self.backoff.next_delay(), healthy, False, False, failures, down_s)
