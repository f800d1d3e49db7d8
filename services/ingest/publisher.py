"""Non-blocking, bounded publishing of ingest records.

Live media is dropped rather than queued: a send never blocks the decode loop. A record is
dropped (and counted, by reason) when the camera already has ``max_inflight`` unacknowledged
records, when the producer's buffer is full, or when the bus refuses it. Memory is bounded by
``max_inflight`` per camera plus the producer's own buffer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from services.ingest.metrics import IngestMetrics
from streaming.bus import BusError, Delivered, Producer, ProducerFull
from streaming.config import TopicsConfig
from streaming.contracts import AudioChunk, VideoFrame, encode

log = logging.getLogger(__name__)


class MediaPublisher:
    """Publishes :class:`VideoFrame` and :class:`AudioChunk` records keyed by camera id."""

    def __init__(
        self,
        producer: Producer,
        topics: TopicsConfig,
        metrics: IngestMetrics,
        *,
        max_inflight_per_camera: int,
        max_record_bytes: int = 1_000_000,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._producer = producer
        self._topics = topics
        self._metrics = metrics
        self._max_inflight = max_inflight_per_camera
        self._max_bytes = max_record_bytes
        self._wall_ns = wall_ns
        self._lock = threading.Lock()
        self._inflight: dict[str, int] = {}
        self.last_error: str | None = None  # last bus-level failure (readiness)
        self.last_error_mono: float = 0.0
        self.last_ack_mono: float = 0.0

    def inflight(self, camera_id: str) -> int:
        """Unacknowledged records of ``camera_id``."""
        with self._lock:
            return self._inflight.get(camera_id, 0)

    def publish(self, record: VideoFrame | AudioChunk) -> bool:
        """Send ``record`` without blocking; False if it was dropped (and counted)."""
        stream = "video" if isinstance(record, VideoFrame) else "audio"
        topic = self._topics.video if stream == "video" else self._topics.audio
        camera = record.camera_id
        value = encode(record)
        if len(value) > self._max_bytes:
            self._drop(camera, stream, "too_large")
            return False
        with self._lock:
            n = self._inflight.get(camera, 0)
            if n >= self._max_inflight:
                full = True
            else:
                full = False
                self._inflight[camera] = n + 1
        if full:
            self._drop(camera, stream, "inflight")
            return False
        try:
            future = self._producer.send(topic, value, key=camera.encode(), block=False)
        except ProducerFull:
            self._release(camera)
            self._drop(camera, stream, "producer_full")
            return False
        except BusError as exc:
            self._release(camera)
            self._note_error(f"send to {topic} failed: {type(exc).__name__}: {exc}")
            self._drop(camera, stream, "bus_error")
            return False
        self._metrics.publish_inflight.labels(camera).set(self.inflight(camera))
        size, capture_ns = len(value), record.capture_ns

        def acked(_: Delivered) -> None:
            self._release(camera)
            self.last_ack_mono = time.monotonic()
            self._metrics.published.labels(camera, stream).inc()
            self._metrics.published_bytes.labels(camera, stream).inc(size)
            latency = (self._wall_ns() - capture_ns) / 1e9
            if latency >= 0:  # replayed files without pacing carry future capture times
                self._metrics.capture_to_publish.labels(camera).observe(latency)

        def failed(exc: BaseException) -> None:
            self._release(camera)
            self._note_error(f"delivery to {topic} failed: {type(exc).__name__}: {exc}")
            self._drop(camera, stream, "delivery_failed")

        future.add_callback(acked)
        future.add_errback(failed)
        return True

    def flush(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for in-flight records (at shutdown)."""
        try:
            self._producer.flush(timeout=timeout_s)
        except BusError as exc:
            log.warning("flushing the producer: %s", exc)

    def _release(self, camera: str) -> None:
        with self._lock:
            n = max(0, self._inflight.get(camera, 0) - 1)
            self._inflight[camera] = n
        self._metrics.publish_inflight.labels(camera).set(n)

    def _drop(self, camera: str, stream: str, reason: str) -> None:
        self._metrics.dropped.labels(camera, stream, reason).inc()

    def _note_error(self, message: str) -> None:
        now = time.monotonic()
        if now - self.last_error_mono > 10.0:  # one line per 10 s, not one per frame
            log.warning("bus: %s (dropping live records until it recovers)", message)
        self.last_error, self.last_error_mono = message, now
