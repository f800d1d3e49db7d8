"""Per-camera supervision: run sessions in a worker thread, watch them, reconnect with backoff.

PyAV/FFmpeg can hang inside open or decode after a network loss; timeouts do not always fire.
So the supervisor watches from outside: when a session has not decoded a frame for
``stall_timeout_s`` it is cancelled and abandoned (its thread ends when FFmpeg returns, and it
publishes nothing more), and a new session with a new ``session_id`` starts after a backoff.
Files end (``eof``) and finish the camera; live streams that end are reconnected.

How long to wait is :class:`ReconnectPolicy`'s call: a session that streamed for a while
(``healthy_stream_s``) ending is an ordinary drop, retried fast; only sessions that fail at once
count toward the crash-loop guard.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from services.ingest.analysis import AnalysisSpec
from services.ingest.backoff import ReconnectDecision, ReconnectPolicy
from services.ingest.metrics import IngestMetrics
from services.ingest.session import CameraSession, SessionOptions, SessionResult, is_file_url
from streaming.config import IngestConfig
from streaming.contracts import AudioChunk, VideoFrame
from streaming.observability import Heartbeat
from streaming.redact import redact_url

log = logging.getLogger(__name__)

WATCH_INTERVAL_S = 0.25


def session_options(config: IngestConfig) -> SessionOptions:
    """Session options from the ingest configuration."""
    return SessionOptions(
        open_timeout_s=config.open_timeout_s,
        # FFmpeg's own timeout only frees an abandoned worker thread; the watchdog (stall_timeout_s)
        # is what detects the stall, so it must fire first.
        read_timeout_s=2 * config.stall_timeout_s,
        decode_threads=config.decode_threads,
        skip_loop_filter=config.skip_loop_filter,
        jpeg_quality=config.jpeg_quality,
        audio_chunk_s=config.audio_chunk_s,
        realtime=config.realtime,
    )


class CameraSupervisor:
    """Keeps one camera streaming: session after session, until stopped (or a file ends)."""

    def __init__(
        self,
        camera_id: str,
        url: str,
        spec: AnalysisSpec,
        config: IngestConfig,
        publish: Callable[[VideoFrame | AudioChunk], bool],
        metrics: IngestMetrics,
        *,
        want_audio: bool = True,
        options: SessionOptions | None = None,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.camera_id = camera_id
        self._wall_ns = wall_ns  # each session's capture-time anchor (a fixed one makes runs repeatable)
        self._url = url
        self.safe_url = redact_url(url)
        self.spec = spec
        self.config = config
        self._publish = publish
        self._metrics = metrics
        self._want_audio = want_audio
        self._options = options or session_options(config)
        self._policy = ReconnectPolicy(
            initial_s=config.backoff_initial_s,
            maximum_s=config.backoff_max_s,
            recovery_max_s=config.recovery_backoff_max_s,
            recovery_window_s=config.recovery_window_s,
            healthy_after_s=config.healthy_stream_s,
            crash_loop_max=config.crash_loop_max,
            crash_loop_window_s=config.crash_loop_window_s,
        )
        self._stop = threading.Event()
        self.finished = threading.Event()
        self.heartbeat = Heartbeat(
            f"camera {camera_id} supervisor", max_age_s=max(30.0, 4 * WATCH_INTERVAL_S)
        )
        self.session: CameraSession | None = None
        self.sessions_started = 0
        self.last_error: str | None = None
        self._up_mono: float | None = None  # first frame of the current session
        self._last_frame_mono: float | None = None  # across sessions: a silent camera's age grows
        self._abandoned: list[threading.Thread] = []  # stalled workers still inside FFmpeg
        self._thread = threading.Thread(target=self._loop, name=f"ingest-{camera_id}", daemon=True)
        metrics.init_camera(camera_id, audio=want_audio)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start supervising in a daemon thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop: cancel the current session; returns at once (see :meth:`join`)."""
        self._stop.set()
        if self.session is not None:
            self.session.cancel()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the supervisor thread; True if it ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def is_alive(self) -> bool:
        """Whether the supervisor thread runs."""
        return self._thread.is_alive()

    # -- the loop ----------------------------------------------------------------------------
    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                result = self._run_session()
                self._metrics.camera_up.labels(self.camera_id).set(0)
                if self._stop.is_set():
                    break
                if result.reason == "eof" and is_file_url(self._url):
                    log.info(
                        "camera %s: file %s ended (%d records)", self.camera_id, self.safe_url, result.records
                    )
                    break
                self._metrics.reconnects.labels(self.camera_id, result.reason).inc()
                delay = self._next_delay(result)
                self._wait(delay)
        except Exception:  # a bug here must not take the other cameras down; log and stop this one
            log.exception("camera %s: supervisor failed", self.camera_id)
        finally:
            self._metrics.camera_up.labels(self.camera_id).set(0)
            self.finished.set()

    def _run_session(self) -> SessionResult:
        session = CameraSession(
            self.camera_id,
            self._url,
            self.spec,
            self._options,
            self._publish,
            self._metrics,
            want_audio=self._want_audio,
            on_up=self._on_up,
            wall_ns=self._wall_ns,
        )
        self.session = session
        self._up_mono = None
        self.sessions_started += 1
        box: list[SessionResult] = []
        worker = threading.Thread(
            target=lambda: box.append(session.run()),
            name=f"ingest-{self.camera_id}-{session.session_id[:8]}",
            daemon=True,
        )
        log.info(
            "camera %s: connecting to %s (session %s)", self.camera_id, self.safe_url, session.session_id
        )
        worker.start()
        stall_s = self.config.stall_timeout_s
        while True:
            worker.join(WATCH_INTERVAL_S)
            self.heartbeat.beat()
            age = time.monotonic() - session.last_frame_mono
            if session.frames_decoded:
                self._last_frame_mono = session.last_frame_mono
            self._report_age()
            self._count_abandoned()
            if not worker.is_alive():
                return box[0] if box else SessionResult("error", "session thread died", 0, 0)
            if self._stop.is_set():
                session.cancel()
                return SessionResult("cancelled", "stopped", session.frames_decoded, session.records)
            if age > stall_s:
                # Abandon the worker: it may be stuck inside FFmpeg; it exits on its own
                # timeout and, being cancelled, publishes nothing more.
                session.cancel()
                self._abandoned.append(worker)
                what = "after its last frame" if session.frames_decoded else "since connecting"
                detail = f"no frame for {age:.1f} s {what} (stalled stream)"
                return SessionResult("stall", detail, session.frames_decoded, session.records)

    def _on_up(self, session: CameraSession) -> None:
        if session is not self.session:
            return
        self._up_mono = time.monotonic()
        self._metrics.camera_up.labels(self.camera_id).set(1)
        self.last_error = None
        log.info(
            "camera %s: streaming (session %s, audio %s)",
            self.camera_id,
            session.session_id,
            "yes" if session.has_audio else "no",
        )

    def _streamed_s(self, result: SessionResult) -> float:
        """How long the ended session delivered frames (first to last frame)."""
        session, up = self.session, self._up_mono
        if session is None or up is None or not result.delivered:
            return 0.0
        return max(0.0, session.last_frame_mono - up)

    def _next_delay(self, result: SessionResult) -> float:
        streamed_s = self._streamed_s(result)
        decision = self._policy.after_session(time.monotonic(), streamed_s)
        self._metrics.crash_looping.labels(self.camera_id).set(1 if decision.crash_loop else 0)
        message = f'camera "{self.camera_id}" ({self.safe_url}): {result.reason}: {result.detail}'
        self.last_error = message
        level, text = _describe(decision, streamed_s, self._policy.guard.window_s)
        log.log(level, "%s; %s", message, text)
        return decision.delay_s

    def _wait(self, delay: float) -> None:
        deadline = time.monotonic() + delay
        while not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._stop.wait(min(remaining, WATCH_INTERVAL_S))
            self.heartbeat.beat()
            self._report_age()
            self._count_abandoned()

    def _count_abandoned(self) -> None:
        self._abandoned = [t for t in self._abandoned if t.is_alive()]
        self._metrics.abandoned_sessions.labels(self.camera_id).set(len(self._abandoned))

    def _report_age(self) -> None:
        if self._last_frame_mono is not None:
            age = time.monotonic() - self._last_frame_mono
            self._metrics.last_frame_age.labels(self.camera_id).set(age)


def _describe(decision: ReconnectDecision, streamed_s: float, guard_window_s: float) -> tuple[int, str]:
    """Log level and the words after a session's end: why this delay."""
    retry = f"reconnecting in {decision.delay_s:.1f} s"
    if decision.healthy:
        return logging.INFO, f"after {streamed_s:.1f} s of streaming; {retry}"
    if decision.recovering:
        return logging.WARNING, f"down for {decision.down_s:.1f} s; {retry}"
    if decision.crash_loop:
        why = (
            f"down for {decision.down_s:.0f} s: crash loop"
            if decision.down_s is not None
            else f"{decision.failures} failures within {guard_window_s:.0f} s: crash loop"
        )
        return logging.ERROR, f"{why}, retrying in {decision.delay_s:.1f} s"
    return logging.WARNING, retry
