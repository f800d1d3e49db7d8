"""WindowAssembler: exact windows, exact frames and samples, watermark, sessions, late records, offsets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.bus import TopicPartition
from streaming.windowing import (
    FLAG_NO_AUDIO_TRACK,
    FLAG_PARTIAL_AUDIO,
    FLAG_WATERMARK,
    NS,
    AssembledWindow,
    WindowAssembler,
    WindowParams,
    _nearest_per_slot,
)

RATE = 100  # Hz: small, so sample values (their global index) stay exact in float32
FPS = 4
H = W = 2
VTP = TopicPartition("video", 0)
ATP = TopicPartition("audio", 0)
CHUNK = 25  # samples: 0.25 s


def params(lateness_s: float = 1.0, idle_s: float = 30.0) -> WindowParams:
    return WindowParams.create(
        window_s=2.0, hop_s=1.0, fps=FPS, sample_rate=RATE, lateness_s=lateness_s, idle_timeout_s=idle_s
    )


@dataclass(frozen=True)
class Rec:
    """A generated record: video frame i (pixel value i % 256) or audio chunk j (sample values = index)."""

    kind: str
    camera: str
    session: str
    t_ns: int
    offset: int
    index: int
    has_audio: bool = True


def generate(
    t0_ns: int,
    seconds: float,
    *,
    camera: str = "cam",
    session: str = "s1",
    audio: bool = True,
    audio_until_ns: int | None = None,
    voff: int = 0,
    aoff: int = 0,
) -> list[Rec]:
    """Frames every 0.25 s and 0.25 s audio chunks from t0, interleaved by time (as a consumer sees them)."""
    out: list[Rec] = []
    n = int(seconds * FPS)
    for i in range(n):
        t = t0_ns + i * NS // FPS
        out.append(Rec("v", camera, session, t, voff + i, i, has_audio=audio))
        if audio and (audio_until_ns is None or t < audio_until_ns):
            out.append(Rec("a", camera, session, t, aoff + i, i))
    return out


def feed(
    asm: WindowAssembler, recs: list[Rec], now: float = 0.0, *, seq0_first: bool = False
) -> list[AssembledWindow]:
    """Feed ``recs``; ``seq0_first``: index 0 is the session's first record (``first=True``)."""
    out: list[AssembledWindow] = []
    for r in recs:
        first = seq0_first and r.index == 0
        if r.kind == "v":
            rgb = np.full((H, W, 3), r.index % 256, dtype=np.uint8)
            out += asm.add_frame(
                r.camera,
                r.session,
                r.t_ns,
                rgb,
                has_audio=r.has_audio,
                tp=VTP,
                offset=r.offset,
                now=now,
                jpeg=f"jpeg-of-frame-{r.index}".encode(),
                first=first,
            )
        else:
            samples = (np.arange(CHUNK) + r.index * CHUNK).astype(np.float32)
            out += asm.add_audio(
                r.camera, r.session, r.t_ns, samples, tp=ATP, offset=r.offset, now=now, first=first
            )
    return out


def expected_frames(start_ns: int, t0_ns: int) -> list[int]:
    """Frame index in each of the T slots: the one frame whose time falls in the slot."""
    slot = 2 * NS // (2 * FPS) * 1  # 0.25 s
    out = []
    for j in range(2 * FPS):
        lo = start_ns + j * slot
        i = -((t0_ns - lo) // (NS // FPS))  # first frame at or after lo
        assert t0_ns + i * NS // FPS < lo + slot
        out.append(i)
    return out


def check_content(w: AssembledWindow, t0_ns: int) -> None:
    frames = expected_frames(w.start_ns, t0_ns)
    assert [int(f[0, 0, 0]) for f in w.frames] == [i % 256 for i in frames]
    assert w.evidence_jpeg == f"jpeg-of-frame-{frames[len(frames) // 2]}".encode()  # the middle slot's
    first_sample = (w.start_ns - t0_ns) * RATE // NS
    assert (w.start_ns - t0_ns) * RATE % NS == 0
    np.testing.assert_array_equal(w.audio, np.arange(first_sample, first_sample + 2 * RATE, dtype=np.float32))


T0 = 1_000 * NS + 100_000_000  # 1000.1 s: not on the grid


def test_params_geometry() -> None:
    p = params()
    assert (p.frames_per_window, p.samples_per_window) == (8, 200)
    assert list(p.windows_containing(1001 * NS)) == [1000, 1001]
    assert list(p.windows_containing(1001 * NS - 1)) == [999, 1000]
    assert p.first_window_from(1000 * NS) == 1000
    assert p.first_window_from(1000 * NS + 1) == 1001


def test_a_session_starting_on_the_grid_is_windowed_from_its_first_record() -> None:
    # a file anchored on the grid (vigil evaluate): its first window starts with its first records
    t0 = 1000 * NS
    asm = WindowAssembler(params(), (H, W))
    out = feed(asm, generate(t0, 5.0), seq0_first=True) + asm.flush(0.0)
    assert [w.start_ns for w in out][:2] == [t0, t0 + NS]
    check_content(out[0], t0)
    assert asm.skipped_windows == 0


def test_a_reread_from_the_grid_still_skips_the_window_it_did_not_see_begin() -> None:
    # the same records re-read by a restarted consumer (not the session's first): nothing proves
    # that no record of the session came before, so the window at the first record is skipped
    t0 = 1000 * NS
    recs = generate(t0, 5.0)
    asm = WindowAssembler(params(), (H, W))
    out = feed(asm, recs) + asm.flush(0.0)
    assert out[0].start_ns == t0 + NS
    assert asm.skipped_windows == 1


def test_exact_windows_and_content() -> None:
    asm = WindowAssembler(params(), (H, W))
    recs = generate(T0, 10.0)  # data in [1000.1, 1010.1)
    windows = feed(asm, recs)
    # first window starts after the first record (1001); complete = a frame at/after the end
    # and audio to the end: the last frame is at 1009.85, so the last complete window ends at 1009
    assert [w.index for w in windows] == list(range(1001, 1008))
    for w in windows:
        assert w.closed_by == "complete"
        assert (w.missing, w.flags) == ((), ())
        assert (w.num_frames, w.num_audio_samples) == (8, 200)
        assert w.end_ns - w.start_ns == 2 * NS
        check_content(w, T0)
    # the rest is closed by an explicit flush, flagged partial where data ends
    rest = asm.flush(now=0.0)
    assert [w.index for w in rest] == [1008, 1009, 1010]
    assert "partial_video" in rest[1].flags and FLAG_PARTIAL_AUDIO in rest[1].flags
    # [1010, 1012) holds only the tail of the last audio chunk (1009.85 + 0.25 s): video masked
    assert rest[2].missing == ("video",) and rest[2].num_audio_samples == 10
    check_content(rest[0], T0)


def test_grid_aligned_start_first_window_is_after_first_record() -> None:
    asm = WindowAssembler(params(), (H, W))
    windows = feed(asm, generate(1000 * NS, 6.0))
    assert [w.index for w in windows] == [1001, 1002, 1003]
    for w in windows:
        check_content(w, 1000 * NS)


def test_audio_stops_video_only_windows_after_lateness() -> None:
    stop = 1004 * NS
    asm = WindowAssembler(params(lateness_s=1.0), (H, W))
    recs = generate(T0, 10.0, audio_until_ns=stop)
    # catching up (processing time frozen): audio is not stalled, nothing closes early
    windows = feed(asm, recs, now=0.0)
    assert [w.index for w in windows] == [1001, 1002]  # audio ends at 1004.1: covers [1002, 1004)
    assert asm.tick(now=0.5) == []
    # after the lateness bound in processing time, the watermark (1009.85 - 1 s) closes them
    late = asm.tick(now=1.0)
    assert [w.index for w in late] == list(range(1003, 1007))  # end <= 1009.85 - 1
    assert all(FLAG_WATERMARK in w.flags for w in late)
    assert [w.num_audio_samples for w in late[:2]] == [110, 10]  # [1003, 1004.1), [1004, 1004.1)
    assert all(FLAG_PARTIAL_AUDIO in w.flags and w.missing == () for w in late[:2])
    np.testing.assert_array_equal(late[0].audio[:110], np.arange(290, 400, dtype=np.float32))
    assert not late[0].audio[110:].any()  # zero-filled
    video_only = late[2:]
    assert video_only and all(w.missing == ("audio",) for w in video_only)
    assert all(w.modality_mask == (0.0, 1.0) and not w.audio.any() for w in video_only)


def test_camera_without_audio_track() -> None:
    asm = WindowAssembler(params(), (H, W))
    windows = feed(asm, generate(T0, 5.0, audio=False))
    assert [w.index for w in windows] == [1001, 1002]
    assert all(w.missing == ("audio",) and FLAG_NO_AUDIO_TRACK in w.flags for w in windows)
    assert all(FLAG_WATERMARK not in w.flags for w in windows)


def test_session_change_never_mixes_sessions() -> None:
    asm = WindowAssembler(params(lateness_s=1.0, idle_s=5.0), (H, W))
    first = generate(T0, 4.0, session="s1")  # [1000.1, 1004.1)
    second = generate(T0 + 4 * NS + 300_000_000, 6.0, session="s2", voff=100, aoff=100)
    out = feed(asm, first, now=0.0) + feed(asm, second, now=0.5)
    out += asm.tick(now=2.0)  # s1 has been silent beyond the lateness bound
    by_session: dict[str, list[int]] = {}
    for w in out:
        by_session.setdefault(w.session_id, []).append(w.index)
    # [1003, 1005) closed partial by the watermark; [1004, 1006) holds only the last chunk's tail
    assert by_session["s1"] == [1001, 1002, 1003, 1004]
    assert by_session["s2"][0] == 1005  # first start after 1004.4
    s1_last = next(w for w in out if w.session_id == "s1" and w.index == 1003)
    assert FLAG_WATERMARK in s1_last.flags and "partial_video" in s1_last.flags
    tail = next(w for w in out if w.session_id == "s1" and w.index == 1004)
    assert tail.missing == ("video",) and tail.num_audio_samples == 10
    # s1's window holds no frame of s2 (s2 frames are indices 0.. at 1004.4+, s1 ends at index 15)
    assert max(int(f[0, 0, 0]) for f in s1_last.frames) <= 15
    assert s1_last.window_id != next(w for w in out if w.session_id == "s2").window_id


def test_late_records_are_counted_not_merged() -> None:
    asm = WindowAssembler(params(), (H, W))
    recs = generate(T0, 6.0)
    windows = feed(asm, recs)
    assert windows
    emitted = windows[0]
    stale = Rec("a", "cam", "s1", emitted.start_ns + 100_000_000, 999, 999)
    assert feed(asm, [stale]) == []
    assert asm.late_records == {("cam", "audio"): 1}
    stale_v = Rec("v", "cam", "s1", emitted.start_ns, 998, 998)
    assert feed(asm, [stale_v]) == []
    assert asm.late_records[("cam", "video")] == 1


def test_straggler_of_retired_session_is_late() -> None:
    asm = WindowAssembler(params(idle_s=2.0), (H, W))
    feed(asm, generate(T0, 4.0), now=0.0)
    flushed = asm.tick(now=3.0)
    assert flushed and all("idle" in w.flags for w in flushed)
    assert asm.cameras() == []
    feed(asm, [Rec("v", "cam", "s1", T0 + 5 * NS, 50, 50)], now=3.1)
    assert asm.late_records == {("cam", "video"): 1}


@pytest.mark.parametrize("crash_after", [1, 7, 18, 31, 40, 55, 63, 79])
def test_restart_from_min_open_offset_rebuilds_exactly_the_open_windows(crash_after: int) -> None:
    """Crash after ``crash_after`` records, commit = min_open_offset (or position), re-read from there."""
    recs = generate(T0, 10.0) + generate(T0 + 10 * NS, 0.0)
    reference = {w.index: w for w in feed(WindowAssembler(params(), (H, W)), recs)}
    a = WindowAssembler(params(), (H, W))
    before = feed(a, recs[:crash_after])
    seen = recs[:crash_after]
    committed = {}
    for tp, kind in ((VTP, "v"), (ATP, "a")):
        pos = max((r.offset + 1 for r in seen if r.kind == kind), default=0)
        needed = a.min_open_offset(tp)
        committed[kind] = pos if needed is None else min(needed, pos)
    b = WindowAssembler(params(), (H, W))
    after = feed(b, [r for r in recs if r.offset >= committed[r.kind]])
    got = [w.index for w in before] + [w.index for w in after]
    assert sorted(got) == sorted(reference)  # nothing lost, nothing scored twice
    for w in before + after:
        ref = reference[w.index]
        np.testing.assert_array_equal(w.frames, ref.frames)
        np.testing.assert_array_equal(w.audio, ref.audio)
        assert w.window_id == ref.window_id


def test_min_open_offset_and_needed_offsets() -> None:
    asm = WindowAssembler(params(), (H, W))
    assert asm.min_open_offset(VTP) is None
    windows = feed(asm, generate(T0, 6.0))
    w = windows[-1]  # [1003, 1005): frames from 1003.1 (index 12); predecessor index 11
    assert w.needed_offsets[VTP] == 11 and w.needed_offsets[ATP] == 11
    # open window [1004, 1006): predecessor frame 1003.85 (index 15)
    assert asm.min_open_offset(VTP) == 15
    assert asm.min_open_offsets() == {VTP: 15, ATP: 15}


def test_drop_partitions_forgets_open_windows() -> None:
    asm = WindowAssembler(params(), (H, W))
    feed(asm, generate(T0, 3.0))
    assert asm.open_windows() > 0
    assert asm.drop_partitions({VTP, ATP}) == 1
    assert asm.min_open_offset(VTP) is None and asm.flush(now=0.0) == []


def test_rejects_wrong_frame_shape() -> None:
    asm = WindowAssembler(params(), (H, W))
    with pytest.raises(ValueError, match="frame shape"):
        asm.add_frame(
            "cam", "s", T0, np.zeros((3, 3, 3), np.uint8), has_audio=True, tp=VTP, offset=0, now=0.0
        )


@pytest.mark.parametrize("crash_after", [9, 25, 48, 70, 101, 130])
def test_restart_with_two_cameras_on_one_partition(crash_after: int) -> None:
    """The commit is the minimum over cameras: the other camera re-reads some emitted windows.

    Nothing is lost and every re-emitted window is identical to its first emission (same id,
    same frames and samples): a recognisable duplicate.
    """
    a_recs = generate(T0, 10.0, camera="a", session="a1")
    b_recs = generate(T0 + 600_000_000, 10.0, camera="b", session="b1")
    merged = sorted(a_recs + b_recs, key=lambda r: (r.t_ns, r.camera, r.kind))
    counters = {"v": 0, "a": 0}
    recs = []
    for r in merged:  # one video and one audio partition shared by both cameras
        recs.append(Rec(r.kind, r.camera, r.session, r.t_ns, counters[r.kind], r.index))
        counters[r.kind] += 1
    reference = {w.window_id: w for w in feed(WindowAssembler(params(), (H, W)), recs)}
    first = WindowAssembler(params(), (H, W))
    before = feed(first, recs[:crash_after])
    committed = {}
    for tp, kind in ((VTP, "v"), (ATP, "a")):
        pos = max((r.offset + 1 for r in recs[:crash_after] if r.kind == kind), default=0)
        needed = first.min_open_offset(tp)
        committed[kind] = pos if needed is None else min(needed, pos)
    after = feed(WindowAssembler(params(), (H, W)), [r for r in recs if r.offset >= committed[r.kind]])
    assert {w.window_id for w in before + after} == set(reference)
    for w in before + after:
        ref = reference[w.window_id]
        np.testing.assert_array_equal(w.frames, ref.frames)
        np.testing.assert_array_equal(w.audio, ref.audio)
        assert (w.missing, w.flags) == ((), ())


@settings(max_examples=300, deadline=None)
@given(
    offsets=st.lists(st.integers(0, 2 * NS - 1), min_size=1, max_size=12),
    start=st.integers(1_600_000_000, 1_900_000_000).map(lambda s: s * NS),
)
def test_nearest_frame_per_slot_matches_brute_force(offsets: list[int], start: int) -> None:
    times = sorted(start + o for o in offsets)
    bounds = [start + j * 2 * NS // 8 for j in range(9)]
    expected = [
        min(range(len(times)), key=lambda i: (abs(2 * times[i] - (bounds[j] + bounds[j + 1])), i))
        for j in range(8)
    ]
    assert _nearest_per_slot(times, bounds) == expected


def test_window_fill_writes_the_same_media_as_its_arrays() -> None:
    asm = WindowAssembler(params(), (H, W))
    t0 = 1_000 * NS + NS // 10
    windows = feed(asm, generate(t0, 6.0, audio_until_ns=t0 + 3 * NS)) + asm.flush(0.0)
    assert any(w.missing == ("audio",) for w in windows) and any(not w.missing for w in windows)
    for w in windows:
        frames = np.full((8, H, W, 3), 7, np.uint8)  # garbage that fill must overwrite
        audio = np.full(2 * RATE, 7.0, np.float32)
        w.fill(frames, audio)
        np.testing.assert_array_equal(frames, w.frames)
        np.testing.assert_array_equal(audio, w.audio)
        assert frames.shape == (w.frames_per_window, H, W, 3)


def test_a_backlog_after_a_silence_of_every_modality_is_not_cut_into_single_modality_windows() -> None:
    """A broker outage: nothing arrives for a while, then the backlog comes video-first."""
    asm = WindowAssembler(params(lateness_s=1.0), (H, W))
    t0 = 100 * NS
    recs = generate(t0, 12.0)
    before = [r for r in recs if r.t_ns < t0 + 4 * NS]
    backlog = [r for r in recs if r.t_ns >= t0 + 4 * NS]
    out = feed(asm, before, now=0.0)
    # 20 s of silence, then the video of the backlog a little before its audio
    out += feed(asm, [r for r in backlog if r.kind == "v"], now=20.0)
    out += asm.tick(20.5)
    out += feed(asm, [r for r in backlog if r.kind == "a"], now=20.6)
    out += asm.tick(25.0)
    assert out and all(w.missing == () for w in out[:-2])
    assert [w.index for w in out] == list(range(out[0].index, out[-1].index + 1))


def test_a_stopped_modality_still_closes_by_the_watermark_after_a_resumption() -> None:
    asm = WindowAssembler(params(lateness_s=1.0), (H, W))
    t0 = 100 * NS
    recs = generate(t0, 8.0, audio_until_ns=t0 + 4 * NS)
    feed(asm, [r for r in recs if r.t_ns < t0 + 4 * NS], now=0.0)
    out = feed(asm, [r for r in recs if r.t_ns >= t0 + 4 * NS], now=20.0)
    assert not [w for w in out if w.missing]  # audio gets `lateness` from the resumption
    out = asm.tick(21.5)
    assert out and all(w.missing == ("audio",) or "partial_audio" in w.flags for w in out)
    assert [w.index for w in out if w.missing] == [104]


def test_windows_without_any_media_are_counted_not_silent() -> None:
    asm = WindowAssembler(params(lateness_s=1.0), (H, W))
    t0 = 100 * NS
    recs = generate(t0, 12.0)
    kept = [r for r in recs if not (t0 + 4 * NS <= r.t_ns < t0 + 8 * NS)]  # 4 s lost upstream
    out = feed(asm, kept, now=0.0) + asm.flush(1.0)
    assert asm.unscored_windows == {("cam", "no_data"): 3}  # windows starting at 4, 5, 6 s
    scored = {w.index for w in out}
    first, last = min(scored), max(scored)
    assert scored | {(t0 + k * NS) // NS for k in (4, 5, 6)} == set(range(first, last + 1))
