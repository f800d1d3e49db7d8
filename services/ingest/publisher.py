"""Non-blocking publishing of ingest records, with a bounded backlog per camera.

A send never blocks the decode loop. Each camera hands at most ``max_inflight`` records to the
producer at a time; records beyond that (a slow or absent broker, a full producer buffer) wait in
the camera's backlog, in order, and go as soon as acknowledgements make room. The backlog is
bounded by a span of capture time (``backlog_s``) and by bytes (``backlog_bytes``): only when it
is full is its *oldest* record dropped, and counted (``reason="backlog_full"``). So a broker
outage shorter than the backlog loses nothing, and the producer itself retries what it holds for
``kafka.delivery_timeout_s``. Memory is bounded by the backlog plus ``max_inflight`` records per
camera.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from services.ingest.metrics import IngestMetrics
from streaming.bus import BusError, Delivered, Producer, ProducerFull
from streaming.config import TopicsConfig
from streaming.contracts import AudioChunk, VideoFrame, encode

log = logging.getLogger(__name__)

PUMP_INTERVAL_S = 0.2  # the pump also wakes on every publish and acknowledgement


@dataclass(frozen=True, slots=True)
class _Pending:
    """An encoded record waiting in a camera's backlog."""

    stream: str
    topic: str
    value: bytes
    capture_ns: int


@dataclass(slots=True)
class _Camera:
    backlog: deque[_Pending] = field(default_factory=deque)
    backlog_bytes: int = 0
    inflight: int = 0


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
        backlog_s: float = 60.0,
        backlog_bytes: int = 8 * 1024 * 1024,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._producer = producer
        self._topics = topics
        self._metrics = metrics
        self._max_inflight = max_inflight_per_camera
        self._max_bytes = max_record_bytes
        self._backlog_ns = round(backlog_s * 1e9)
        self._backlog_bytes = backlog_bytes
        self._wall_ns = wall_ns
        self._lock = threading.Lock()  # camera state; never held while calling the producer
        self._send_lock = threading.Lock()  # one drainer at a time keeps each camera's order
        self._cameras: dict[str, _Camera] = {}
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._pump = threading.Thread(target=self._pump_loop, name="ingest-publisher", daemon=True)
        self._pump.start()
        self.last_error: str | None = None  # last bus-level failure (readiness)
        self.last_error_mono: float = 0.0
        self.last_ack_mono: float = 0.0

    def inflight(self, camera_id: str) -> int:
        """Records of ``camera_id`` handed to the producer and not yet acknowledged."""
        with self._lock:
            state = self._cameras.get(camera_id)
            return state.inflight if state else 0

    def backlog(self, camera_id: str) -> int:
        """Records of ``camera_id`` waiting for the bus to take them."""
        with self._lock:
            state = self._cameras.get(camera_id)
            return len(state.backlog) if state else 0

    def publish(self, record: VideoFrame | AudioChunk) -> bool:
        """Queue ``record`` for the pump thread, never blocking; False if it was dropped (and counted)."""
        stream = "video" if isinstance(record, VideoFrame) else "audio"
        topic = self._topics.video if stream == "video" else self._topics.audio
        camera = record.camera_id
        value = encode(record)
        if len(value) > self._max_bytes:
            self._drop(camera, stream, "too_large")
            return False
        dropped: list[_Pending] = []
        with self._lock:
            state = self._cameras.setdefault(camera, _Camera())
            state.backlog.append(_Pending(stream, topic, value, record.capture_ns))
            state.backlog_bytes += len(value)
            # full: the oldest go first (the newest record is what a live system needs most)
            while len(state.backlog) > 1 and (
                state.backlog_bytes > self._backlog_bytes
                or state.backlog[-1].capture_ns - state.backlog[0].capture_ns > self._backlog_ns
            ):
                old = state.backlog.popleft()
                state.backlog_bytes -= len(old.value)
                dropped.append(old)
            waiting = len(state.backlog)
        self._metrics.backlog_records.labels(camera).set(waiting)
        for old in dropped:
            self._drop(camera, old.stream, "backlog_full")
        # The pump thread sends: a producer may block on metadata while the broker is away, and
        # a decode loop that blocks looks like a stalled camera.
        self._wake.set()
        return True

    def flush(self, timeout_s: float) -> None:
        """Send the backlogs and wait up to ``timeout_s`` for every record (at shutdown)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                waiting = sum(len(s.backlog) for s in self._cameras.values())
            if not waiting:
                break
            self._wake.set()
            time.sleep(0.05)
        try:
            self._producer.flush(timeout=max(0.1, deadline - time.monotonic()))
        except BusError as exc:
            log.warning("flushing the producer: %s", exc)
        with self._lock:
            left = {c: len(s.backlog) for c, s in self._cameras.items() if s.backlog}
        if left:
            log.warning(
                "ingest: %d record(s) never reached the bus at shutdown: %s", sum(left.values()), left
            )

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop the pump thread (after :meth:`flush`), waiting at most ``timeout_s`` for it: a send
        blocked on metadata while the broker is away ends only with the producer (it is a daemon)."""
        self._closed.set()
        self._wake.set()
        self._pump.join(timeout_s)

    # -- internals ---------------------------------------------------------------------------
    def _pump_loop(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(PUMP_INTERVAL_S)
            self._wake.clear()
            with self._lock:
                cameras = [
                    c for c, s in self._cameras.items() if s.backlog and s.inflight < self._max_inflight
                ]
            for camera in cameras:
                self._drain(camera)

    def _drain(self, camera: str) -> None:
        """Hand the camera's backlog to the producer, oldest first, while it has room."""
        with self._send_lock:
            while True:
                with self._lock:
                    state = self._cameras[camera]
                    if not state.backlog or state.inflight >= self._max_inflight:
                        break
                    item = state.backlog.popleft()
                    state.backlog_bytes -= len(item.value)
                    state.inflight += 1
                if not self._send(camera, item):
                    break
            with self._lock:
                state = self._cameras[camera]
                inflight, waiting = state.inflight, len(state.backlog)
        self._metrics.publish_inflight.labels(camera).set(inflight)
        self._metrics.backlog_records.labels(camera).set(waiting)

    def _send(self, camera: str, item: _Pending) -> bool:
        """Send one record; False (record back at the backlog's head) when the producer is full."""
        try:
            future = self._producer.send(item.topic, item.value, key=camera.encode(), block=False)
        except ProducerFull:
            with self._lock:
                state = self._cameras[camera]
                state.inflight -= 1
                state.backlog.appendleft(item)
                state.backlog_bytes += len(item.value)
            return False
        except BusError as exc:
            self._release(camera)
            self._note_error(f"send to {item.topic} failed: {type(exc).__name__}: {exc}")
            self._drop(camera, item.stream, "bus_error")
            return True
        size, capture_ns, stream, topic = len(item.value), item.capture_ns, item.stream, item.topic

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

    def _release(self, camera: str) -> None:
        with self._lock:
            state = self._cameras[camera]
            state.inflight = max(0, state.inflight - 1)
            n = state.inflight
        self._metrics.publish_inflight.labels(camera).set(n)
        self._wake.set()

    def _drop(self, camera: str, stream: str, reason: str) -> None:
        self._metrics.dropped.labels(camera, stream, reason).inc()

    def _note_error(self, message: str) -> None:
        now = time.monotonic()
        if now - self.last_error_mono > 10.0:  # one line per 10 s, not one per frame
            log.warning("bus: %s (holding live records in the backlog until it recovers)", message)
        self.last_error, self.last_error_mono = message, now
