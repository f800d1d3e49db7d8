"""Pure timing logic of one camera session: which frames to keep, when they were captured.

All times inside a session are seconds of media time (``pts * time_base``) on the container's
common clock, so audio and video of one connection share one origin and one wall-clock anchor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

NS_PER_S = 1_000_000_000


class SessionClock:
    """Maps media time of one connection to UTC wall-clock nanoseconds.

    The anchor is the wall time at connection start; the origin is the first media time seen
    on either stream. ``capture_ns(t) = anchor_ns + (t - origin) * 1e9``: one anchor and one
    origin for both streams, so their capture times agree as their PTS do.
    """

    def __init__(self, anchor_ns: int) -> None:
        self.anchor_ns = anchor_ns
        self.origin_s: float | None = None

    def capture_ns(self, media_s: float) -> int:
        """Capture wall time of media time ``media_s`` (the first call fixes the origin)."""
        if self.origin_s is None:
            self.origin_s = media_s
        return self.anchor_ns + round((media_s - self.origin_s) * NS_PER_S)

    def offset_s(self, media_s: float) -> float:
        """Seconds since the session's origin (fixes the origin on the first call)."""
        if self.origin_s is None:
            self.origin_s = media_s
        return media_s - self.origin_s


class FrameSampler:
    """Keeps the first frame at or after each point of a ``fps`` grid, by PTS (not every Nth).

    Robust to variable frame rates and dropped frames: a frame is kept when it falls into a
    grid slot later than the last kept one. A backwards jump larger than ``reset_after_s``
    (a PTS discontinuity) restarts the grid.
    """

    def __init__(self, fps: float, *, reset_after_s: float = 1.0) -> None:
        if fps <= 0:
            raise ValueError(f"analysis fps must be positive, got {fps}")
        self.fps = fps
        self.reset_after_s = reset_after_s
        self._origin: float | None = None
        self._last_slot = -1
        self._last_t = -math.inf

    def keep(self, media_s: float) -> bool:
        """Whether the frame at media time ``media_s`` is an analysis frame."""
        if self._origin is None or media_s < self._last_t - self.reset_after_s:
            self._origin = media_s
            self._last_slot = -1
        self._last_t = media_s
        # a microsecond of tolerance: 30 fps PTS rounded to a 90 kHz clock sit a hair early
        slot = math.floor((media_s - self._origin) * self.fps + 1e-6)
        if slot > self._last_slot:
            self._last_slot = slot
            return True
        return False


@dataclass
class SampleBlock:
    """A run of mono samples and the media time of its first sample."""

    start_s: float
    samples: npt.NDArray[np.float32]


@dataclass
class AudioChunker:
    """Cuts a mono sample stream into fixed-size chunks, each stamped with its first sample's time.

    Time follows the sample count from the time of the first input; when an input's own PTS
    disagrees with the count by more than ``resync_s`` (lost packets, a discontinuity), the
    pending partial chunk is emitted and counting restarts at that PTS.
    """

    sample_rate: int
    chunk_samples: int
    resync_s: float = 0.05
    _buffer: list[npt.NDArray[np.float32]] = field(default_factory=list)
    _buffered: int = 0
    _start_s: float | None = None  # media time of the first buffered sample

    def push(self, samples: npt.NDArray[np.float32], media_s: float | None) -> list[SampleBlock]:
        """Add samples whose first one is at ``media_s`` (None: contiguous with the previous)."""
        out: list[SampleBlock] = []
        if media_s is not None:
            expected = None if self._start_s is None else self._start_s + self._buffered / self.sample_rate
            if expected is None:
                self._start_s = media_s
            elif abs(media_s - expected) > self.resync_s:
                out.extend(self.flush())
                self._start_s = media_s
        if self._start_s is None:  # no time known yet: cannot stamp, start at the first PTS we get
            return out
        if samples.size:
            self._buffer.append(np.asarray(samples, dtype=np.float32).reshape(-1))
            self._buffered += samples.size
        while self._buffered >= self.chunk_samples:
            data = np.concatenate(self._buffer)
            out.append(SampleBlock(self._start_s, data[: self.chunk_samples]))
            rest = data[self.chunk_samples :]
            self._buffer = [rest] if rest.size else []
            self._buffered = int(rest.size)
            self._start_s += self.chunk_samples / self.sample_rate
        return out

    def flush(self) -> list[SampleBlock]:
        """Emit the partial chunk still buffered (end of session or discontinuity)."""
        if not self._buffered or self._start_s is None:
            return []
        chunk = SampleBlock(self._start_s, np.concatenate(self._buffer))
        self._start_s += self._buffered / self.sample_rate
        self._buffer, self._buffered = [], 0
        return [chunk]
