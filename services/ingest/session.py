"""One connection to one camera: open, demux video and audio together, sample, stamp, publish.

A :class:`CameraSession` is single-use: it gets a fresh ``session_id`` and its own clock anchor,
runs until the stream ends, fails, or is cancelled, and returns a :class:`SessionResult`. It
never raises: the supervisor decides what to do next. It runs in a worker thread the
supervisor can abandon when PyAV hangs (``cancel`` stops it at its next packet).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av
import av.error
import numpy as np
from av.video.reformatter import VideoReformatter

from services.ingest.analysis import AnalysisSpec
from services.ingest.metrics import IngestMetrics
from services.ingest.timing import AudioChunker, FrameSampler, SessionClock
from streaming.contracts import AudioChunk, VideoFrame
from streaming.redact import redact_text, redact_url

log = logging.getLogger(__name__)

# Scaler for the one-step convert + resize of sampled frames. AREA averages the source pixels,
# which a heavy 720p -> 112 downscale needs against aliasing. Measured (bench/bench_ingest.py):
# with one VideoReformatter kept per session, 720p -> 112x112 rgb24 costs ~0.6 ms (AREA),
# ~0.3 ms (FAST_BILINEAR), ~0.9 ms (BILINEAR); frame.to_ndarray(width=, height=) builds a new
# swscale context on every call and costs ~3.9 ms with AREA, 6x more.
DEFAULT_INTERPOLATION = "AREA"
MAX_CONSECUTIVE_DECODE_ERRORS = 100


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """Decoder, timeout and record options of a session (from :class:`IngestConfig`)."""

    open_timeout_s: float = 8.0
    read_timeout_s: float = 8.0
    decode_threads: int = 1
    skip_loop_filter: bool = True
    skip_nonref: bool = False  # skip_frame=NONREF: nothing to skip without B-frames (measured)
    jpeg_quality: int = 80
    audio_chunk_s: float = 0.25
    realtime: bool = False  # pace file inputs at their own rate
    interpolation: str = DEFAULT_INTERPOLATION
    video_codec: str = "jpeg"


@dataclass(frozen=True, slots=True)
class SessionResult:
    """How a session ended. ``detail`` is safe to log (no credentials)."""

    reason: str  # "eof", "cancelled", or an error reason (see classify_error)
    detail: str
    frames_decoded: int
    records: int

    @property
    def delivered(self) -> bool:
        """True if the session decoded anything at all (the connection worked)."""
        return self.frames_decoded > 0


class SessionError(Exception):
    """A session-level failure with a reason word and a credential-free message."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def is_file_url(url: str) -> bool:
    """Whether ``url`` names a local file (replay) rather than a network stream."""
    return "://" not in url or url.startswith("file:")


def classify_error(exc: BaseException, url: str = "") -> tuple[str, str]:
    """Map an open/demux failure to ``(reason, message)``; the message never contains ``url``."""
    if isinstance(exc, SessionError):
        return exc.reason, exc.detail
    if isinstance(exc, av.error.FFmpegError):
        text = exc.strerror or type(exc).__name__  # strerror never includes the filename
    else:
        text = f"{type(exc).__name__}: {exc}"
    if url:
        text = text.replace(url, redact_url(url))
    text = redact_text(text)
    if isinstance(exc, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
        return "unauthorized", f"{text} (check the user and password in the camera URL)"
    if isinstance(exc, av.error.HTTPNotFoundError | av.error.FileNotFoundError | FileNotFoundError):
        return "not_found", f"{text} (check the stream path)"
    if isinstance(exc, ConnectionRefusedError):
        return "unreachable", f"{text} (is the camera up? check host and port)"
    if isinstance(exc, OSError) and exc.errno in (101, 113, -101, -113):  # ENETUNREACH, EHOSTUNREACH
        return "unreachable", f"{text} (check the network route to the camera)"
    if isinstance(exc, TimeoutError | av.error.ExitError):
        return "timeout", f"{text} (no answer within the timeout)"
    if isinstance(exc, av.error.FFmpegError) and "Name or service not known" in text:
        return "unreachable", f"{text} (check the host name)"
    return "error", text


class CameraSession:
    """One connection to one camera; :meth:`run` decodes until the end and publishes records."""

    def __init__(
        self,
        camera_id: str,
        url: str,
        spec: AnalysisSpec,
        options: SessionOptions,
        publish: Callable[[VideoFrame | AudioChunk], bool],
        metrics: IngestMetrics,
        *,
        want_audio: bool = True,
        on_up: Callable[[CameraSession], None] | None = None,
        wall_ns: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.camera_id = camera_id
        self._url = url
        self.spec = spec
        self.options = options
        self._publish = publish
        self._metrics = metrics
        self._want_audio = want_audio
        self._on_up = on_up
        self._wall_ns = wall_ns
        self._mono = monotonic
        self.session_id = uuid.uuid4().hex
        self.cancelled = threading.Event()
        self.started_mono = monotonic()
        self.last_frame_mono = self.started_mono  # watchdog: progress of open and decode
        self.has_audio = False
        self.frames_decoded = 0
        self.records = 0
        self._video_seq = 0
        self._audio_seq = 0
        self._up = False
        self._reformatter = VideoReformatter()  # keeps its swscale context across frames
        self._passthrough: bool | None = None  # audio already mono float at the model rate
        # labelled children looked up once, not per frame
        self._decoded_video = metrics.frames_decoded.labels(camera_id, "video")
        self._decoded_audio = self._decoded_video  # replaced once an audio track is found
        self._decode_errors = metrics.decode_errors.labels(camera_id)

    # -- public ----------------------------------------------------------------------------
    def cancel(self) -> None:
        """Ask the session to stop at its next packet (and publish nothing more)."""
        self.cancelled.set()

    def run(self) -> SessionResult:
        """Connect, decode and publish until the stream ends; never raises."""
        try:
            self._run()
            reason, detail = (
                ("cancelled", "cancelled") if self.cancelled.is_set() else ("eof", "end of stream")
            )
        except Exception as exc:  # everything becomes a reason for the supervisor
            reason, detail = classify_error(exc, self._url)
            if self.cancelled.is_set():
                reason = "cancelled"
        return SessionResult(reason, detail, self.frames_decoded, self.records)

    # -- internals -------------------------------------------------------------------------
    def _open(self) -> Any:
        opts = self.options
        options: dict[str, str] = {}
        if self._url.startswith(("rtsp://", "rtsps://")):
            options["rtsp_transport"] = "tcp"
            options["timeout"] = str(int(opts.read_timeout_s * 1_000_000))  # socket I/O, microseconds
        return av.open(
            self._url, mode="r", options=options, timeout=(opts.open_timeout_s, opts.read_timeout_s)
        )

    def _run(self) -> None:
        anchor_ns = self._wall_ns()
        container = self._open()
        try:
            self._decode(container, SessionClock(anchor_ns))
        finally:
            container.close()

    def _decode(self, container: Any, clock: SessionClock) -> None:
        if not container.streams.video:
            raise SessionError("error", "the stream has no video track")
        video = container.streams.video[0]
        ctx = video.codec_context
        ctx.thread_count = self.options.decode_threads
        if self.options.decode_threads != 1:
            ctx.thread_type = "AUTO"
        if self.options.skip_loop_filter:
            ctx.options = {"skip_loop_filter": "all"}
        if self.options.skip_nonref:
            ctx.skip_frame = "NONREF"
        audio = container.streams.audio[0] if self._want_audio and container.streams.audio else None
        self.has_audio = audio is not None
        if audio is not None:
            self._decoded_audio = self._metrics.frames_decoded.labels(self.camera_id, "audio")
        self._metrics.camera_has_audio.labels(self.camera_id).set(1 if self.has_audio else 0)

        sampler = FrameSampler(self.spec.fps)
        rate = self.spec.sample_rate
        chunker = AudioChunker(rate, max(1, round(self.options.audio_chunk_s * rate)))
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate) if audio else None
        pace = self.options.realtime and is_file_url(self._url)
        pace_origin: float | None = None
        errors_in_a_row = 0
        streams = [video] if audio is None else [video, audio]
        for packet in container.demux(*streams):
            if self.cancelled.is_set():
                return
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                self._decode_errors.inc()
                errors_in_a_row += 1
                if errors_in_a_row >= MAX_CONSECUTIVE_DECODE_ERRORS:
                    raise SessionError(
                        "error", f"{errors_in_a_row} packets in a row failed to decode (corrupt stream)"
                    ) from None
                continue
            errors_in_a_row = 0
            for frame in frames:
                media_s = frame.time  # pts * time_base as a float, computed in C
                if media_s is None:
                    continue
                offset = clock.offset_s(media_s)
                if pace:
                    if pace_origin is None:
                        pace_origin = self._mono() - offset
                    self._sleep_until(pace_origin + offset)
                    if self.cancelled.is_set():
                        return
                self._progress()
                if isinstance(frame, av.VideoFrame):
                    self._on_video(frame, media_s, sampler, clock)
                elif resampler is not None:
                    self._on_audio(frame, media_s, resampler, chunker, clock)
        if resampler is not None and not self.cancelled.is_set():
            for out in resampler.resample(None):
                self._emit_audio(chunker.push(_mono(out), None), clock)
            self._emit_audio(chunker.flush(), clock)

    def _progress(self) -> None:
        self.frames_decoded += 1
        self.last_frame_mono = self._mono()
        if not self._up and not self.cancelled.is_set():
            self._up = True
            if self._on_up is not None:
                self._on_up(self)

    def _on_video(self, frame: Any, media_s: float, sampler: FrameSampler, clock: SessionClock) -> None:
        self._decoded_video.inc()
        if getattr(frame, "is_corrupt", False):
            self._decode_errors.inc()
        if not sampler.keep(media_s):
            return
        rgb: np.ndarray[Any, np.dtype[np.uint8]] = self._reformatter.reformat(
            frame,
            width=self.spec.width,
            height=self.spec.height,
            format="rgb24",
            interpolation=self.options.interpolation,
        ).to_ndarray()  # type: ignore[assignment]  # rgb24 is always uint8
        record = VideoFrame.from_rgb(
            rgb,
            camera_id=self.camera_id,
            session_id=self.session_id,
            seq=self._video_seq,
            capture_ns=clock.capture_ns(media_s),
            camera_has_audio=self.has_audio,
            codec=self.options.video_codec,
            jpeg_quality=self.options.jpeg_quality,
        )
        self._video_seq += 1
        self._send(record)

    def _on_audio(
        self,
        frame: Any,
        media_s: float,
        resampler: av.AudioResampler,
        chunker: AudioChunker,
        clock: SessionClock,
    ) -> None:
        self._decoded_audio.inc()
        if self._passthrough is None:  # decided on the first audio frame of the session
            self._passthrough = (
                frame.sample_rate == self.spec.sample_rate
                and frame.layout.nb_channels == 1
                and frame.format.name in ("flt", "fltp")
            )
        if self._passthrough and frame.sample_rate == self.spec.sample_rate and frame.layout.nb_channels == 1:
            # already mono float at the model rate (typical AAC at 16 kHz): nothing to resample
            self._emit_audio(chunker.push(_mono(frame), media_s), clock)
            return
        first = True
        for out in resampler.resample(frame):
            self._emit_audio(chunker.push(_mono(out), media_s if first else None), clock)
            first = False

    def _emit_audio(self, blocks: list[Any], clock: SessionClock) -> None:
        for block in blocks:
            record = AudioChunk.from_float32(
                block.samples,
                camera_id=self.camera_id,
                session_id=self.session_id,
                seq=self._audio_seq,
                capture_ns=clock.capture_ns(block.start_s),
                sample_rate=self.spec.sample_rate,
            )
            self._audio_seq += 1
            self._send(record)

    def _send(self, record: VideoFrame | AudioChunk) -> None:
        if self.cancelled.is_set():  # an abandoned session publishes nothing more
            return
        self.records += 1
        self._publish(record)

    def _sleep_until(self, target: float) -> None:
        while not self.cancelled.is_set():
            remaining = target - self._mono()
            if remaining <= 0:
                return
            self.cancelled.wait(min(remaining, 0.25))


def _mono(frame: Any) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Samples of a mono float frame (flt or fltp: one plane either way) as a flat float32 array."""
    # reading the one plane directly skips to_ndarray's per-plane stacking
    return np.frombuffer(frame.planes[0], dtype=np.float32, count=frame.samples).copy()
