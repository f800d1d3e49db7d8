"""Wiring shared by every service: which bus, which topics, with what retention."""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

from streaming.bus import Bus, TopicSpec
from streaming.config import VigilConfig

log = logging.getLogger(__name__)

WATCHDOG_MARGIN_S = 2.0  # past the shutdown budget before the watchdog ends the process
EXIT_STOP_OVERRUN = 70  # EX_SOFTWARE: the service overran its shutdown budget (stacks are on stderr)


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


def make_bus(config: VigilConfig, *, client_id: str = "vigil", stop: threading.Event | None = None) -> Bus:
    """The bus the configuration asks for. ``memory`` only makes sense inside one process (demo).

    ``stop`` (a service's shutdown event) ends any wait for an unreachable cluster at once."""
    if config.bus == "memory":
        from streaming.memory_bus import MemoryBus

        return MemoryBus(default_partitions=config.kafka.partitions)
    from streaming.kafka_bus import KafkaBus

    bus: Bus = KafkaBus(config.kafka, client_id=client_id, stop=stop)
    return bus


class StopWatchdog:
    """Ends the process if it has not exited ``budget_s + WATCHDOG_MARGIN_S`` after SIGTERM/SIGINT.

    Python runs signal handlers in the main thread between bytecodes, so a main thread blocked in C
    (``getaddrinfo`` for a container name whose DNS server went away with the stack, a TCP connect)
    never sees the signal, and the orchestrator SIGKILLs it after its grace period. The C-level
    handler still writes the signal number to the wakeup fd at once: this daemon thread waits on it,
    gives the process its budget, then writes ``message`` and (when ``dump_stacks``) every thread's
    stack to stderr, so the log says what hung, and calls ``os._exit(exit_code)``.

    Only signals with a Python handler reach the wakeup fd: install the handlers as well. Once a
    signal came, the countdown runs until the process ends: it also covers what runs after the
    service returned (closing clients, interpreter exit).
    """

    def __init__(self, budget_s: float, *, exit_code: int, message: str, dump_stacks: bool = True) -> None:
        self.budget_s = budget_s
        self.exit_code = exit_code
        self.message = message
        self.dump_stacks = dump_stacks
        self._read, self._write = socket.socketpair()
        self._write.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        threading.Thread(target=self._watch, name="stop-watchdog", daemon=True).start()

    def _watch(self) -> None:
        try:
            signalled = self._read.recv(64)
        except OSError:
            signalled = b""
        finally:
            self._read.close()
        if not signalled:
            return  # closed before any signal came: disarmed
        started = time.monotonic()
        time.sleep(self.budget_s + WATCHDOG_MARGIN_S)  # a process that ends first ends this thread
        took = time.monotonic() - started
        try:
            sys.stderr.write(f"{self.message} (still running {took:.1f} s after the signal; exiting)\n")
            if self.dump_stacks:
                faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
            sys.stderr.flush()
        finally:
            os._exit(self.exit_code)

    def close(self) -> None:
        """Put back the wakeup fd. Before any signal this disarms the watchdog; after one, its
        countdown goes on until the process has ended (or it ends it)."""
        signal.set_wakeup_fd(self._previous_fd)
        self._write.close()  # an idle watchdog's recv returns b"" and it closes its end


class ServiceShutdown:
    """SIGTERM/SIGINT handling installed before a service waits for anything.

    Until the service runs, a signal sets :attr:`event`, which ends any wait for an unreachable
    Kafka at once (``make_bus(..., stop=event)``); after :meth:`started` it also calls the
    service's own stop. So a service stops within its grace period even while Kafka is away
    (as PID 1 in a container it would otherwise be killed after the grace period). The service
    spends at most ``shutdown_timeout_s`` (config) on in-flight work; a :class:`StopWatchdog`
    ends a process still running 2 s after that (exit 70, every thread's stack in the log).
    """

    def __init__(
        self,
        signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT),
        *,
        budget_s: float | None = None,
        name: str = "vigil",
    ) -> None:
        self.event = threading.Event()
        self._request_stop: Callable[[], None] | None = None
        self._previous = {sig: signal.signal(sig, self._on_signal) for sig in signals}
        default = VigilConfig.model_fields["shutdown_timeout_s"].default
        self.watchdog = StopWatchdog(
            budget_s if budget_s is not None else float(default),
            exit_code=EXIT_STOP_OVERRUN,
            message=f"{name}: overran its shutdown budget; every thread's stack follows",
        )

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        self.event.set()
        if self._request_stop is not None:
            self._request_stop()

    def set_budget(self, budget_s: float) -> None:
        """Use the configured ``shutdown_timeout_s`` (known once the configuration is loaded)."""
        self.watchdog.budget_s = budget_s

    def started(self, request_stop: Callable[[], None]) -> bool:
        """The service is built: signals now call ``request_stop``. False when a stop came first."""
        self._request_stop = request_stop
        return not self.event.is_set()

    def started_check(self) -> tuple[bool, str]:
        """Readiness: not ready while the service is still being built (connecting to Kafka)."""
        if self._request_stop is None:
            return False, "starting: connecting to Kafka"
        return True, "running"

    def restore(self) -> None:
        """The service has stopped: put back the signal handlers (a watchdog countdown that a
        signal started goes on, covering the rest of the process's exit)."""
        self.watchdog.close()
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class StopBudget:
    """What is left of a stopping service's ``shutdown_timeout_s``, shared by its shutdown steps.

    Each step (drain, final commit, leaving the group, closing the producer) takes ``left()`` as
    its timeout, so together they end within the budget however many of them wait on a broker
    that is away. The clock starts at :meth:`start` (the stop request; safe from a signal handler)
    or at the first ``left()`` call after a stop nobody announced (end of a replay, an error).
    """

    def __init__(self, budget_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget_s = budget_s
        self._clock = clock
        self._deadline: float | None = None

    def start(self) -> None:
        """The stop was requested now (a second call keeps the first deadline)."""
        if self._deadline is None:
            self._deadline = self._clock() + self.budget_s

    def left(self, floor_s: float = 0.1) -> float:
        """Seconds left, at least ``floor_s`` (a step given 0 would not even try)."""
        self.start()
        assert self._deadline is not None
        return max(floor_s, self._deadline - self._clock())
