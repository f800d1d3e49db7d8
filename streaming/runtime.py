"""Wiring shared by every service: which bus, which topics, with what retention."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from streaming.bus import Bus, TopicSpec
from streaming.config import VigilConfig

log = logging.getLogger(__name__)


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


class ServiceShutdown:
    """SIGTERM/SIGINT handling installed before a service waits for anything.

    Until the service runs, a signal sets :attr:`event`, which ends any wait for an unreachable
    Kafka at once (``make_bus(..., stop=event)``); after :meth:`started` it also calls the
    service's own stop. So a service stops within its grace period even while Kafka is away
    (as PID 1 in a container it would otherwise be killed after the grace period).
    """

    def __init__(self, signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)) -> None:
        self.event = threading.Event()
        self._request_stop: Callable[[], None] | None = None
        self._previous = {sig: signal.signal(sig, self._on_signal) for sig in signals}

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        self.event.set()
        if self._request_stop is not None:
            self._request_stop()

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
        """Put back the signal handlers that were there before."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
