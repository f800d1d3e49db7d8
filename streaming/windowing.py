"""Event-time windows over both modalities of each camera: the pure heart of the fusion service.

Windows lie on a grid aligned to wall-clock (UTC) time: window ``k`` is ``[k*hop, k*hop + length)``.
A video frame belongs to every window whose span contains its capture time; audio samples are
sliced by sample time, so every window holds exactly ``S = window_s * sample_rate`` samples
(zero-filled and flagged where part is missing). Windows are kept per ``(camera, session)``: a
reconnect (new ``session_id``) never mixes two sessions in one window.

A window closes when

- it is **complete**: every expected modality covers its end (a frame at or after the end, audio
  samples up to the end), or
- the **watermark** passes it: the camera's newest event time minus ``lateness`` is at or beyond its
  end *and* each modality that does not cover it has been silent (processing time) for at least
  ``lateness`` — so a catching-up consumer that reads video ahead of audio does not close windows
  early, while an audio stream that really stopped yields video-only windows after the bound.
  When the whole session was silent for ``lateness`` (a broker outage: ingest holds its backlog),
  the silence is forgiven: every modality gets ``lateness`` again from the session's resumption,
  so a backlog whose video arrives a poll ahead of its audio is not cut into video-only windows, or
- the session is **idle**: no record for ``idle_timeout`` of processing time.

A modality with no data in a closed window is masked (``missing``); partial data is flagged.
A window with no data at all cannot be scored: it is counted in :attr:`WindowAssembler.unscored_windows`
(by camera and reason), never dropped silently.

Offsets: the assembler keeps the records still needed by open windows plus, per modality, the last
record *before* the oldest open window (its predecessor). :meth:`WindowAssembler.min_open_offset`
is the lowest offset among them, so a consumer that commits no further re-reads, after a crash, a
record older than every open window. A window is emitted only if each modality was seen from
*before* its start (``first_seen < start``), or from the session's very first record at its start
(``first``: nothing of the session came before): after a restart exactly the windows that were open
are rebuilt in full, windows whose beginning was not re-read are skipped, never emitted partial,
and a file whose capture times start on the grid is scored from its first second.

No I/O and no clocks: callers pass processing time (``now``, monotonic seconds).
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from streaming.bus import TopicPartition

NS: Final = 1_000_000_000
VIDEO: Final = "video"
AUDIO: Final = "audio"
Modality = Literal["video", "audio"]
ClosedBy = Literal["complete", "watermark", "idle", "flush"]

# flags carried into WindowScore.flags
FLAG_WATERMARK: Final = "watermark"  # closed by the watermark (a modality was late or stopped)
FLAG_IDLE: Final = "idle"  # closed because the session went quiet
FLAG_FLUSH: Final = "flush"  # closed by an explicit flush (end of replay, shutdown)
FLAG_PARTIAL_VIDEO: Final = "partial_video"  # some frame slots had no frame of their own
FLAG_PARTIAL_AUDIO: Final = "partial_audio"  # some samples were missing (zero-filled)
FLAG_NO_AUDIO_TRACK: Final = "no_audio_track"  # the camera has no audio (not a fault)


@dataclass(frozen=True, slots=True)
class WindowParams:
    """Window geometry (from the model contract) and closing bounds (from config)."""

    window_ns: int
    hop_ns: int
    frames_per_window: int  # T
    sample_rate: int
    samples_per_window: int  # S
    lateness_ns: int
    stall_s: float  # processing-time silence after which a modality is considered stopped
    idle_timeout_s: float
    closed_sessions_kept: int = 16  # per camera, to count stragglers of a finished session as late

    def __post_init__(self) -> None:
        if self.window_ns <= 0 or self.hop_ns <= 0 or self.frames_per_window <= 0:
            raise ValueError(f"bad window geometry: {self}")
        if self.samples_per_window <= 0 or self.sample_rate <= 0:
            raise ValueError(f"bad audio geometry: {self}")

    @classmethod
    def create(
        cls,
        *,
        window_s: float,
        hop_s: float,
        fps: int,
        sample_rate: int,
        lateness_s: float,
        idle_timeout_s: float,
    ) -> WindowParams:
        """Build parameters from contract values (seconds, rates) and config bounds."""
        return cls(
            window_ns=round(window_s * NS),
            hop_ns=round(hop_s * NS),
            frames_per_window=round(window_s * fps),
            sample_rate=sample_rate,
            samples_per_window=round(window_s * sample_rate),
            lateness_ns=round(lateness_s * NS),
            stall_s=lateness_s,
            idle_timeout_s=idle_timeout_s,
        )

    def start(self, k: int) -> int:
        """Start (ns) of window ``k``."""
        return k * self.hop_ns

    def end(self, k: int) -> int:
        """End (ns, exclusive) of window ``k``."""
        return k * self.hop_ns + self.window_ns

    def windows_containing(self, t_ns: int) -> range:
        """Indices of the windows whose ``[start, end)`` contains ``t_ns``."""
        return range((t_ns - self.window_ns) // self.hop_ns + 1, t_ns // self.hop_ns + 1)

    def first_window_from(self, t_ns: int) -> int:
        """The lowest ``k`` with ``start(k) >= t_ns``: the first window with nothing missing before ``t_ns``."""
        return -(-t_ns // self.hop_ns)


@dataclass(slots=True)
class _Item:
    """One buffered record: a frame (``data`` [H, W, 3] uint8) or an audio chunk (``data`` [n] float32)."""

    t_ns: int  # capture time (audio: of the first sample)
    end_ns: int  # video: t_ns; audio: time just after the last sample
    tp: TopicPartition
    offset: int
    data: npt.NDArray[np.generic]
    jpeg: bytes = b""  # video: the frame as the camera's JPEG, when it came as one


@dataclass(frozen=True, slots=True)
class AssembledWindow:
    """A closed window, ready for the model.

    Its media are references into the assembler's buffers, not copies (a frame belongs to several
    windows): :meth:`fill` writes them straight into a batch's input rows, the single copy on the
    way to the model; :attr:`frames` and :attr:`audio` build standalone arrays.
    """

    camera_id: str
    session_id: str
    index: int  # k on the grid
    start_ns: int
    end_ns: int
    slot_frames: tuple[npt.NDArray[np.uint8], ...]  # T frames [H, W, 3], one per slot; () if video is missing
    audio_pieces: tuple[tuple[int, npt.NDArray[np.float32]], ...]  # (first sample in the window, samples)
    frames_per_window: int  # T
    frame_shape: tuple[int, int]  # (H, W)
    samples_per_window: int  # S
    missing: tuple[str, ...]  # () / ("audio",) / ("video",)
    flags: tuple[str, ...]
    num_frames: int  # distinct frames in the window
    num_audio_samples: int  # real (not zero-filled) samples
    newest_capture_ns: int  # capture time of the newest record in the window
    closed_by: ClosedBy
    needed_offsets: dict[TopicPartition, int] = field(default_factory=dict)  # min offset per tp
    evidence_jpeg: bytes = b""  # the middle slot's frame as its camera's JPEG ("" when not known)

    @classmethod
    def of_arrays(
        cls,
        frames: npt.NDArray[np.uint8],
        audio: npt.NDArray[np.float32],
        **fields: object,
    ) -> AssembledWindow:
        """A window holding whole arrays (frames [T, H, W, 3], audio [S]), e.g. built by hand in tests."""
        return cls(
            slot_frames=tuple(frames),
            audio_pieces=((0, audio),),
            frames_per_window=int(frames.shape[0]),
            frame_shape=(int(frames.shape[1]), int(frames.shape[2])),
            samples_per_window=int(audio.shape[0]),
            **fields,  # type: ignore[arg-type]
        )

    def fill(self, frames: npt.NDArray[np.uint8], audio: npt.NDArray[np.float32]) -> None:
        """Write the window into ``frames`` [T, H, W, 3] and ``audio`` [S] (zeros where missing)."""
        self.fill_frames(frames)
        self.fill_audio(audio)

    def fill_frames(self, out: npt.NDArray[np.uint8]) -> None:
        """Write the frames into ``out`` [T, H, W, 3] (zeros when video is missing)."""
        if self.slot_frames:
            np.stack(self.slot_frames, out=out)
        else:
            out[...] = 0

    def fill_audio(self, out: npt.NDArray[np.float32]) -> None:
        """Write the samples into ``out`` [S] (zeros where no chunk covers them)."""
        if self.num_audio_samples < self.samples_per_window:
            out[...] = 0.0
        for first, samples in self.audio_pieces:
            out[first : first + samples.shape[0]] = samples

    @property
    def frames(self) -> npt.NDArray[np.uint8]:
        """The window's frames as a new ``[T, H, W, 3]`` uint8 array (zeros when video is missing)."""
        out = np.empty((self.frames_per_window, *self.frame_shape, 3), np.uint8)
        self.fill_frames(out)
        return out

    @property
    def audio(self) -> npt.NDArray[np.float32]:
        """The window's samples as a new ``[S]`` float32 array (zeros where missing)."""
        out = np.empty(self.samples_per_window, np.float32)
        self.fill_audio(out)
        return out

    @property
    def window_id(self) -> str:
        """Same id as :attr:`streaming.contracts.WindowScore.window_id`."""
        return f"{self.camera_id}/{self.session_id}/{self.start_ns}"

    @property
    def modality_mask(self) -> tuple[float, float]:
        """(audio, video): 1.0 present, 0.0 masked."""
        return (0.0 if AUDIO in self.missing else 1.0, 0.0 if VIDEO in self.missing else 1.0)


@dataclass(slots=True)
class _Session:
    camera_id: str
    session_id: str
    created_at: float
    items: dict[str, list[_Item]] = field(default_factory=lambda: {VIDEO: [], AUDIO: []})
    first_seen_ns: dict[str, int] = field(default_factory=dict)  # per modality, since assignment
    from_session_start: set[str] = field(default_factory=set)  # modalities first seen at their seq 0
    covered_ns: dict[str, int] = field(default_factory=dict)  # per modality: newest end seen
    last_arrival: dict[str, float] = field(default_factory=dict)  # per modality, processing time
    resumed_at: float = float("-inf")  # processing time of the first record after a silence of all
    has_audio: bool = True  # from the newest frame; audio seen also sets it
    next_k: int | None = None  # lowest undecided window
    first_emitted_start: int | None = None
    tps: set[TopicPartition] = field(default_factory=set)
    frame_shape: tuple[int, int] | None = None

    def last_any_arrival(self) -> float:
        return max(self.last_arrival.values(), default=self.created_at)


@dataclass(slots=True)
class _Camera:
    sessions: dict[str, _Session] = field(default_factory=dict)
    closed: OrderedDict[str, None] = field(default_factory=OrderedDict)
    max_event_ns: int | None = None


class WindowAssembler:
    """Assembles windows for every camera of the partitions a worker owns.

    Feed records with :meth:`add_frame` / :meth:`add_audio`, call :meth:`tick` regularly; each call
    returns the windows it closed, in order per session. Late records are counted in
    :attr:`late_records` (by ``(camera, modality)``) and never merged.
    """

    def __init__(self, params: WindowParams, frame_shape: tuple[int, int]) -> None:
        self.params = params
        self.frame_shape = frame_shape  # (H, W) of the model
        self._cameras: dict[str, _Camera] = {}
        self.late_records: dict[tuple[str, str], int] = {}
        self.skipped_windows = 0  # windows whose beginning was not seen (session start, resume)
        # windows on a session's grid that got no score: (camera, "no_data") -> count
        self.unscored_windows: dict[tuple[str, str], int] = {}

    # -- input ------------------------------------------------------------------------------------
    def add_frame(
        self,
        camera_id: str,
        session_id: str,
        capture_ns: int,
        rgb: npt.NDArray[np.uint8],
        *,
        has_audio: bool,
        tp: TopicPartition,
        offset: int,
        now: float,
        jpeg: bytes = b"",
        first: bool = False,
    ) -> list[AssembledWindow]:
        """Add one decoded frame ([H, W, 3] uint8 at the model's size); ``jpeg``: its encoded form, if any.

        The ``jpeg`` of the frame in a window's middle slot becomes the window's ``evidence_jpeg``;
        ``first``: this is the session's first frame (its ``seq`` is 0).
        """
        if rgb.shape != (*self.frame_shape, 3):
            raise ValueError(f"frame shape {rgb.shape} != model's {(*self.frame_shape, 3)}")
        session = self._session(camera_id, session_id, now)
        if session is None:
            self._count_late(camera_id, VIDEO)
            return []
        session.has_audio = has_audio or AUDIO in session.first_seen_ns
        item = _Item(capture_ns, capture_ns, tp, offset, rgb, jpeg)
        return self._add(session, VIDEO, item, now, first)

    def add_audio(
        self,
        camera_id: str,
        session_id: str,
        capture_ns: int,
        samples: npt.NDArray[np.float32],
        *,
        tp: TopicPartition,
        offset: int,
        now: float,
        first: bool = False,
    ) -> list[AssembledWindow]:
        """Add one chunk of mono float32 samples at the model's sample rate, first sample at ``capture_ns``.

        ``first``: this is the session's first chunk (its ``seq`` is 0).
        """
        session = self._session(camera_id, session_id, now)
        if session is None:
            self._count_late(camera_id, AUDIO)
            return []
        session.has_audio = True
        n = int(samples.shape[0])
        end = capture_ns + n * NS // self.params.sample_rate
        item = _Item(capture_ns, end, tp, offset, np.asarray(samples, dtype=np.float32))
        return self._add(session, AUDIO, item, now, first)

    def tick(self, now: float) -> list[AssembledWindow]:
        """Close what the passage of processing time closes (stopped modalities, idle sessions)."""
        out: list[AssembledWindow] = []
        for camera_id in list(self._cameras):
            camera = self._cameras[camera_id]
            for session in list(camera.sessions.values()):
                out.extend(self._close_ready(camera, session, now))
        return out

    def flush(self, now: float) -> list[AssembledWindow]:
        """Close every window that has data (end of a replay, orderly shutdown)."""
        out: list[AssembledWindow] = []
        for camera in list(self._cameras.values()):
            for session in list(camera.sessions.values()):
                out.extend(self._close_ready(camera, session, now, force="flush"))
        return out

    def drop_partitions(self, tps: Iterable[TopicPartition]) -> int:
        """Forget every session fed from ``tps`` (partitions revoked); returns how many were dropped.

        Their open windows are not emitted: the partitions' next owner re-reads them from the
        committed offset, which never passes :meth:`min_open_offset`.
        """
        gone = set(tps)
        dropped = 0
        for camera_id in list(self._cameras):
            camera = self._cameras[camera_id]
            for sid in [s for s, sess in camera.sessions.items() if sess.tps & gone]:
                del camera.sessions[sid]
                dropped += 1
            if not camera.sessions:
                del self._cameras[camera_id]
        return dropped

    # -- state queries ----------------------------------------------------------------------------
    def min_open_offset(self, tp: TopicPartition) -> int | None:
        """Lowest offset on ``tp`` still needed by an open window (None: nothing needed)."""
        return self.min_open_offsets().get(tp)

    def min_open_offsets(self) -> dict[TopicPartition, int]:
        """:meth:`min_open_offset` of every partition with retained records, in one pass."""
        best: dict[TopicPartition, int] = {}
        for camera in self._cameras.values():
            for session in camera.sessions.values():
                for items in session.items.values():
                    for item in items:
                        if item.offset < best.get(item.tp, item.offset + 1):
                            best[item.tp] = item.offset
        return best

    def open_windows(self) -> int:
        """How many windows are open (undecided and touched by some record), over all sessions."""
        total = 0
        p = self.params
        for camera in self._cameras.values():
            for s in camera.sessions.values():
                newest = max((items[-1].end_ns for items in s.items.values() if items), default=None)
                if newest is None or s.next_k is None:
                    continue
                total += max(0, newest // p.hop_ns - s.next_k + 1)
        return total

    def cameras(self) -> list[str]:
        """Cameras with open sessions."""
        return sorted(c for c, camera in self._cameras.items() if camera.sessions)

    # -- internals --------------------------------------------------------------------------------
    def _count_late(self, camera_id: str, modality: str) -> None:
        key = (camera_id, modality)
        self.late_records[key] = self.late_records.get(key, 0) + 1

    def _count_unscored(self, session: _Session, windows: int) -> None:
        key = (session.camera_id, "no_data")
        self.unscored_windows[key] = self.unscored_windows.get(key, 0) + windows

    def _session(self, camera_id: str, session_id: str, now: float) -> _Session | None:
        camera = self._cameras.setdefault(camera_id, _Camera())
        session = camera.sessions.get(session_id)
        if session is None:
            if session_id in camera.closed:
                return None  # straggler of a finished session
            session = _Session(camera_id, session_id, created_at=now)
            camera.sessions[session_id] = session
        return session

    def _add(
        self, session: _Session, modality: str, item: _Item, now: float, first: bool = False
    ) -> list[AssembledWindow]:
        p = self.params
        camera = self._cameras[session.camera_id]
        if session.last_arrival and now - session.last_any_arrival() >= p.stall_s:
            session.resumed_at = now  # the whole session was silent: not one modality's stall
        session.last_arrival[modality] = now
        items = session.items[modality]
        if modality not in session.first_seen_ns:
            session.first_seen_ns[modality] = item.t_ns
            if first:
                session.from_session_start.add(modality)
            if session.next_k is None:
                session.next_k = p.first_window_from(item.t_ns)
        assert session.next_k is not None
        next_start = p.start(session.next_k)
        decided_only = item.t_ns < next_start if modality == VIDEO else item.end_ns <= next_start
        first_emitted = session.first_emitted_start
        overlaps_emitted = first_emitted is not None and (
            item.t_ns >= first_emitted if modality == VIDEO else item.end_ns > first_emitted
        )
        if decided_only and overlaps_emitted:
            # belongs only to windows already emitted: counted, never merged
            self._count_late(session.camera_id, modality)
            return []
        if items and item.t_ns < items[-1].t_ns:
            # out of order within a modality: insert in place (ingest keeps order; be safe)
            keys = [i.t_ns for i in items]
            items.insert(bisect.bisect_right(keys, item.t_ns), item)
        else:
            items.append(item)
        session.tps.add(item.tp)
        session.covered_ns[modality] = max(session.covered_ns.get(modality, item.end_ns), item.end_ns)
        if camera.max_event_ns is None or item.end_ns > camera.max_event_ns:
            camera.max_event_ns = item.end_ns
        self._trim(session)
        out = self._close_ready(camera, session, now)
        # a newer session's time can close older sessions of the same camera by watermark
        for other in list(camera.sessions.values()):
            if other is not session:
                out.extend(self._close_ready(camera, other, now))
        return out

    def _expected(self, session: _Session) -> tuple[str, ...]:
        return (VIDEO, AUDIO) if session.has_audio else (VIDEO,)

    def _closable(self, camera: _Camera, session: _Session, k: int, now: float) -> ClosedBy | None:
        p = self.params
        end = p.end(k)
        uncovered = [m for m in self._expected(session) if session.covered_ns.get(m, -1) < end]
        if not uncovered:
            return "complete"
        if now - session.last_any_arrival() >= p.idle_timeout_s:
            return "idle"
        if camera.max_event_ns is not None and camera.max_event_ns - p.lateness_ns >= end:
            stalled = all(
                now - max(session.last_arrival.get(m, session.created_at), session.resumed_at) >= p.stall_s
                for m in uncovered
            )
            if stalled:
                return "watermark"
        return None

    def _close_ready(
        self, camera: _Camera, session: _Session, now: float, force: ClosedBy | None = None
    ) -> list[AssembledWindow]:
        p = self.params
        out: list[AssembledWindow] = []
        while session.next_k is not None:
            k = session.next_k
            newest = max((items[-1].end_ns for items in session.items.values() if items), default=None)
            if newest is None or newest <= p.start(k):
                break  # no data reaches this window yet
            closed_by = force or self._closable(camera, session, k, now)
            if closed_by is None:
                break
            if not self._has_data(session, k):
                session.next_k = self._after_gap(session, k)
                self._count_unscored(session, session.next_k - k)
                continue
            window = self._assemble(session, k, closed_by)
            session.next_k = k + 1
            if window is not None:
                if session.first_emitted_start is None:
                    session.first_emitted_start = window.start_ns
                out.append(window)
            self._trim(session)
        if force is not None or (
            now - session.last_any_arrival() >= p.idle_timeout_s and not self._has_open(session)
        ):
            self._retire(camera, session)
        return out

    def _has_open(self, session: _Session) -> bool:
        if session.next_k is None:
            return False
        start = self.params.start(session.next_k)
        return any(items and items[-1].end_ns > start for items in session.items.values())

    def _retire(self, camera: _Camera, session: _Session) -> None:
        camera.sessions.pop(session.session_id, None)
        camera.closed[session.session_id] = None
        while len(camera.closed) > self.params.closed_sessions_kept:
            camera.closed.popitem(last=False)

    def _after_gap(self, session: _Session, k: int) -> int:
        """Next window to consider after empty window ``k``: jump a gap every modality has passed."""
        p = self.params
        later = [i.t_ns for items in session.items.values() for i in items if i.end_ns > p.start(k)]
        if not later:
            return k + 1
        t_next = min(later)
        passed = all(session.covered_ns.get(m, -1) >= t_next for m in self._expected(session))
        return max(k + 1, p.windows_containing(t_next).start) if passed else k + 1

    def _has_data(self, session: _Session, k: int) -> bool:
        start, end = self.params.start(k), self.params.end(k)
        video = any(start <= i.t_ns < end for i in session.items[VIDEO])
        audio = any(i.t_ns < end and i.end_ns > start for i in session.items[AUDIO])
        return video or audio

    def _trim(self, session: _Session) -> None:
        """Keep items of undecided windows plus, per modality, one predecessor."""
        if session.next_k is None:
            return
        start = self.params.start(session.next_k)
        for items in session.items.values():
            keep_from = 0
            for i, item in enumerate(items):
                if item.t_ns < start:
                    keep_from = i  # the newest item starting before the window: the predecessor
                else:
                    break
            if keep_from:
                del items[:keep_from]

    def _assemble(self, session: _Session, k: int, closed_by: ClosedBy) -> AssembledWindow | None:
        p = self.params
        start, end = p.start(k), p.end(k)
        # Emit only windows seen from before their start in every modality seen (see module doc).
        if any(
            t > start or (t == start and m not in session.from_session_start)
            for m, t in session.first_seen_ns.items()
        ):
            self.skipped_windows += 1
            return None
        flags: list[str] = []
        missing: list[str] = []
        needed: dict[TopicPartition, int] = {}
        newest = start

        def need(item: _Item) -> None:
            if item.offset < needed.get(item.tp, item.offset + 1):
                needed[item.tp] = item.offset

        # video: nearest frame to each slot centre among the window's frames (items are in time order)
        video = session.items[VIDEO]
        frames_in = [i for i in video if start <= i.t_ns < end]
        if (pred := _last_before(video, start)) is not None:
            need(pred)
        t_count = p.frames_per_window
        slot_frames: tuple[npt.NDArray[np.uint8], ...] = ()
        evidence = b""
        if frames_in:
            times = [i.t_ns for i in frames_in]
            bounds = [start + j * p.window_ns // t_count for j in range(t_count + 1)]  # slot j: [b_j, b_j+1)
            chosen = [frames_in[b] for b in _nearest_per_slot(times, bounds)]
            slot_frames = tuple(i.data for i in chosen)  # type: ignore[misc]
            evidence = chosen[t_count // 2].jpeg
            if any(not (bounds[j] <= i.t_ns < bounds[j + 1]) for j, i in enumerate(chosen)):
                flags.append(FLAG_PARTIAL_VIDEO)
            for item in frames_in:
                need(item)
            newest = max(newest, times[-1])
        else:
            missing.append(VIDEO)

        # audio: exact sample slicing by sample time; the samples no chunk covers stay zero
        s_count = p.samples_per_window
        pieces: list[tuple[int, npt.NDArray[np.float32]]] = []
        spans: list[tuple[int, int]] = []
        audio_items = session.items[AUDIO]
        if (pred := _last_before(audio_items, start)) is not None:
            need(pred)
        for item in audio_items:
            if item.end_ns <= start or item.t_ns >= end:
                continue
            need(item)
            first = _round_div((item.t_ns - start) * p.sample_rate, NS)
            n = int(item.data.shape[0])
            lo, hi = max(0, first), min(s_count, first + n)
            if lo < hi:
                pieces.append((lo, item.data[lo - first : hi - first]))  # type: ignore[arg-type]
                spans.append((lo, hi))
                newest = max(newest, min(item.end_ns, end))
        num_samples = 0
        covered_to = 0  # the size of the union of the spans
        for lo, hi in sorted(spans):
            if hi > covered_to:
                num_samples += hi - max(lo, covered_to)
                covered_to = hi
        if num_samples == 0:
            missing.append(AUDIO)
            if not session.has_audio:
                flags.append(FLAG_NO_AUDIO_TRACK)
        elif num_samples < s_count:
            flags.append(FLAG_PARTIAL_AUDIO)
        if len(missing) == 2:
            self._count_unscored(session, 1)
            return None
        if closed_by == "watermark":
            flags.append(FLAG_WATERMARK)
        elif closed_by == "idle":
            flags.append(FLAG_IDLE)
        elif closed_by == "flush":
            flags.append(FLAG_FLUSH)
        return AssembledWindow(
            camera_id=session.camera_id,
            session_id=session.session_id,
            index=k,
            start_ns=start,
            end_ns=end,
            slot_frames=slot_frames,
            audio_pieces=tuple(pieces),
            frames_per_window=t_count,
            frame_shape=self.frame_shape,
            samples_per_window=s_count,
            missing=tuple(missing),
            flags=tuple(flags),
            num_frames=len(frames_in),
            num_audio_samples=num_samples,
            newest_capture_ns=newest,
            closed_by=closed_by,
            needed_offsets=needed,
            evidence_jpeg=evidence,
        )


def _nearest_per_slot(times: list[int], bounds: list[int]) -> list[int]:
    """For each slot ``[bounds[j], bounds[j + 1])``, the index in ``times`` (sorted) of the time
    nearest the slot's centre; the earliest on a tie.

    Exact integer arithmetic (distances doubled), where float nanoseconds since 1970 would round.
    """
    out: list[int] = []
    last = len(times) - 1
    for j in range(len(bounds) - 1):
        centre2 = bounds[j] + bounds[j + 1]  # twice the centre
        i = bisect.bisect_left(times, (centre2 + 1) // 2)  # the first time at or after the centre
        if i > last:
            b = last
        elif i == 0:
            b = 0
        else:
            left, right = times[i - 1], times[i]
            b = i - 1 if centre2 - 2 * left <= 2 * right - centre2 else i
        out.append(bisect.bisect_left(times, times[b]))  # the first of equal times
    return out


def _last_before(items: list[_Item], t_ns: int) -> _Item | None:
    """The last item (in time order) that starts before ``t_ns``: a window's predecessor."""
    found = None
    for item in items:
        if item.t_ns >= t_ns:
            break
        found = item
    return found


def _round_div(a: int, b: int) -> int:
    """``round(a / b)`` for integers, halves away from zero-ish (floor of a/b + 1/2)."""
    return (2 * a + b) // (2 * b)
