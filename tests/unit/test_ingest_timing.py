"""Pure parts of ingest: sampling grid, session clock, audio chunking, backoff, errors, shards."""

from __future__ import annotations

import av.error
import numpy as np
import pytest

from services.ingest.backoff import Backoff, CrashLoopGuard
from services.ingest.service import select_cameras
from services.ingest.session import classify_error, is_file_url
from services.ingest.timing import AudioChunker, FrameSampler, SessionClock
from streaming.config import ConfigError, VigilConfig


def kept(fps: float, times: list[float]) -> list[float]:
    sampler = FrameSampler(fps)
    return [t for t in times if sampler.keep(t)]


def test_sampler_keeps_first_frame_at_or_after_each_grid_point() -> None:
    times = [i / 30 for i in range(31)]  # 30 fps for one second
    assert kept(4, times) == pytest.approx([0.0, 0.2666667, 0.5, 0.7666667, 1.0], abs=1e-6)


def test_sampler_uses_pts_not_frame_count_with_variable_rate() -> None:
    # a 15 fps camera that lost frames between 0.2 s and 0.9 s
    times = [0.0, 0.0667, 0.1333, 0.2, 0.9, 0.9667, 1.0333, 1.1, 1.1667, 1.2333, 1.3]
    assert kept(4, times) == [0.0, 0.9, 1.0333, 1.3]


def test_sampler_tolerates_90khz_rounding_just_before_a_grid_point() -> None:
    assert kept(4, [0.0, 0.2499999, 0.5]) == [0.0, 0.2499999, 0.5]


def test_sampler_restarts_grid_after_backwards_pts_jump() -> None:
    assert kept(1, [10.0, 10.5, 11.0, 0.0, 0.5, 1.0]) == [10.0, 11.0, 0.0, 1.0]


@pytest.mark.parametrize("fps", [0, -1])
def test_sampler_rejects_bad_fps(fps: float) -> None:
    with pytest.raises(ValueError, match="fps"):
        FrameSampler(fps)


def test_clock_anchors_both_streams_on_one_origin() -> None:
    clock = SessionClock(anchor_ns=1_000_000_000_000)
    assert clock.offset_s(5.0) == 0.0  # first media time seen (either stream) is the origin
    assert clock.capture_ns(5.0) == 1_000_000_000_000
    assert clock.capture_ns(9.0) == 1_000_000_000_000 + 4_000_000_000  # video at +4 s
    assert clock.capture_ns(8.999) == 1_000_000_000_000 + 3_999_000_000  # audio 1 ms earlier
    assert clock.capture_ns(4.5) == 1_000_000_000_000 - 500_000_000  # before the origin is fine


def test_chunker_cuts_fixed_chunks_with_sample_accurate_times() -> None:
    chunker = AudioChunker(sample_rate=100, chunk_samples=25)
    out = chunker.push(np.ones(60, np.float32), 2.0) + chunker.push(np.ones(30, np.float32), 2.6)
    assert [c.start_s for c in out] == pytest.approx([2.0, 2.25, 2.5])
    assert all(c.samples.size == 25 for c in out)
    rest = chunker.flush()
    assert len(rest) == 1 and rest[0].samples.size == 15
    assert rest[0].start_s == pytest.approx(2.75)
    assert chunker.flush() == []


def test_chunker_resyncs_on_a_gap_and_emits_the_partial_chunk() -> None:
    chunker = AudioChunker(sample_rate=100, chunk_samples=25)
    assert chunker.push(np.zeros(10, np.float32), 0.0) == []
    out = chunker.push(np.zeros(25, np.float32), 1.0)  # 0.9 s of audio lost
    assert [(c.start_s, c.samples.size) for c in out] == [(0.0, 10), (1.0, 25)]


def test_chunker_small_jitter_does_not_resync() -> None:
    chunker = AudioChunker(sample_rate=100, chunk_samples=20)
    out = chunker.push(np.zeros(10, np.float32), 0.0) + chunker.push(np.zeros(10, np.float32), 0.12)
    assert [(c.start_s, c.samples.size) for c in out] == [(0.0, 20)]


def test_backoff_doubles_with_jitter_up_to_the_cap_and_resets() -> None:
    backoff = Backoff(0.5, 4.0, rand=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    low = Backoff(0.5, 4.0, rand=lambda: 0.0)
    assert [low.next_delay() for _ in range(4)] == [0.25, 0.5, 1.0, 2.0]  # never below half
    backoff.reset()
    assert backoff.next_delay() == 0.5
    assert Backoff(1, 30, rand=lambda: 0.5).max_delay() == 22.5


def test_backoff_rejects_bad_bounds() -> None:
    with pytest.raises(ValueError):
        Backoff(2.0, 1.0)


def test_crash_loop_guard_trips_on_n_failures_in_window_only() -> None:
    guard = CrashLoopGuard(3, 10.0)
    assert not guard.record(0.0)
    assert not guard.record(20.0)  # the first one left the window
    assert not guard.record(25.0)
    assert guard.record(29.0)
    assert guard.recent() == 3


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (av.error.HTTPUnauthorizedError(-825242872, "Server returned 401 Unauthorized"), "unauthorized"),
        (av.error.HTTPNotFoundError(-1330794744, "Server returned 404 Not Found"), "not_found"),
        (av.error.ConnectionRefusedError(111, "Connection refused"), "unreachable"),
        (av.error.TimeoutError(110, "Connection timed out"), "timeout"),
        (av.error.ExitError(-1414092869, "Immediate exit requested"), "timeout"),
        (av.error.InvalidDataError(-1094995529, "Invalid data found"), "error"),
        (RuntimeError("boom"), "error"),
    ],
)
def test_classify_error_reasons(exc: BaseException, reason: str) -> None:
    assert classify_error(exc)[0] == reason


def test_classify_error_never_returns_the_password() -> None:
    url = "rtsp://admin:hunter2@10.0.0.5/stream"
    for exc in (
        av.error.HTTPUnauthorizedError(-825242872, "Server returned 401 Unauthorized", url),
        RuntimeError(f"could not open {url}"),
    ):
        _, message = classify_error(exc, url)
        assert "hunter2" not in message


def test_is_file_url() -> None:
    assert is_file_url("/data/clip.mp4") and is_file_url("file:clip.mp4")
    assert not is_file_url("rtsp://h/x")


def test_select_cameras_by_shard_subset_and_enabled() -> None:
    cams: dict[str, dict[str, object]] = {f"cam{i}": {"url": f"rtsp://h/{i}"} for i in range(5)}
    cams["cam3"]["enabled"] = False
    config = VigilConfig.model_validate({"cameras": cams, "ingest": {"shard_index": 1, "shard_count": 2}})
    assert select_cameras(config) == ["cam1"]  # cam3 is disabled but keeps its shard slot
    config0 = VigilConfig.model_validate({"cameras": cams, "ingest": {"shard_count": 2}})
    assert select_cameras(config0) == ["cam0", "cam2", "cam4"]
    assert select_cameras(config0, ["cam2", "cam1"]) == ["cam2"]
    with pytest.raises(ConfigError, match="unknown camera"):
        select_cameras(config0, ["nope"])
