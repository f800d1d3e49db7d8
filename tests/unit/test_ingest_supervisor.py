"""The per-camera supervisor without a network: failures, backoff, crash-loop guard, stop."""

from __future__ import annotations

import itertools
import logging
import random
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from services.ingest import supervisor as supervisor_module
from services.ingest.analysis import AnalysisSpec
from services.ingest.backoff import ReconnectPolicy
from services.ingest.metrics import IngestMetrics
from services.ingest.session import SessionResult
from services.ingest.supervisor import CameraSupervisor
from streaming.config import IngestConfig

SPEC = AnalysisSpec(fps=4, width=32, height=32, sample_rate=16000)


def wait_for(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_failing_camera_backs_off_trips_crash_loop_guard_and_stops_cleanly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="services")
    registry = CollectorRegistry()
    config = IngestConfig(backoff_initial_s=0.02, backoff_max_s=0.1, crash_loop_max=3, crash_loop_window_s=60)
    supervisor = CameraSupervisor(
        "gate-3", str(tmp_path / "missing.mp4"), SPEC, config, lambda r: True, IngestMetrics(registry)
    )
    supervisor.start()
    try:
        assert wait_for(
            lambda: registry.get_sample_value("vigil_ingest_crash_looping", {"camera": "gate-3"}) == 1, 10
        )
        assert supervisor.is_alive()  # a crash loop slows the camera down, it never gives up
        assert supervisor.sessions_started >= 3
    finally:
        supervisor.stop()
        assert supervisor.join(5)
    failures = registry.get_sample_value(
        "vigil_ingest_reconnects_total", {"camera": "gate-3", "reason": "not_found"}
    )
    assert failures is not None and failures >= 3
    assert registry.get_sample_value("vigil_camera_up", {"camera": "gate-3"}) == 0
    assert 'camera "gate-3"' in caplog.text and "crash loop" in caplog.text
    assert supervisor.last_error is not None and "not_found" in supervisor.last_error


def policy(**overrides: float) -> ReconnectPolicy:
    """Defaults of IngestConfig, jitter pinned to the top of its range (delays are nominal)."""
    params: dict[str, Any] = {
        "initial_s": 0.5,
        "maximum_s": 30.0,
        "recovery_max_s": 1.0,
        "recovery_window_s": 60.0,
        "healthy_after_s": 5.0,
        "crash_loop_max": 5,
        "crash_loop_window_s": 60.0,
        "rand": lambda: 1.0,
        **overrides,
    }
    return ReconnectPolicy(**params)


def test_a_camera_that_fails_at_once_backs_off_then_trips_the_guard() -> None:
    p = policy()
    decisions = [p.after_session(float(t), streamed_s=0.0) for t in range(7)]
    assert [d.delay_s for d in decisions[:4]] == [0.5, 1.0, 2.0, 4.0]
    assert [d.crash_loop for d in decisions] == [False] * 4 + [True] * 3
    assert all(d.delay_s == 30.0 for d in decisions[4:])
    assert decisions[-1].failures == 7 and decisions[-1].down_s is None
    assert not any(d.healthy or d.recovering for d in decisions)
    # held off: retries at the cap leave the guard's window with fewer failures; it stays tripped
    later = [p.after_session(100.0 + 30 * t, streamed_s=0.0) for t in range(4)]
    assert all(d.crash_loop and d.delay_s == 30.0 for d in later)


def test_brief_sessions_are_failures_too() -> None:
    p = policy()
    decisions = [p.after_session(float(t), streamed_s=4.9) for t in range(5)]  # under healthy_after_s
    assert decisions[-1].crash_loop and not decisions[-1].healthy


def test_end_of_a_healthy_stream_clears_the_guard_and_retries_fast_with_jitter() -> None:
    p = policy(rand=random.Random(7).random)
    for t in range(6):
        p.after_session(float(t), streamed_s=0.0)
    assert p.guard.recent() == 6  # crash-looping before...
    first = p.after_session(100.0, streamed_s=30.0)  # ...a clip streamed to its end
    assert first.healthy and first.recovering and not first.crash_loop
    assert first.failures == 0 and first.down_s == 0.0
    delays = [first.delay_s] + [p.after_session(100.0 + t, streamed_s=0.0).delay_s for t in range(1, 4)]
    assert 0.25 <= delays[0] <= 0.5 and 0.5 <= delays[1] <= 1.0  # the first retries: sub-second
    assert len(set(delays)) == len(delays)  # jittered


@pytest.mark.parametrize("outage_s", [3.0, 10.0, 30.0, 55.0])
def test_an_outage_after_healthy_streaming_is_retried_at_least_every_recovery_cap(outage_s: float) -> None:
    p = policy(rand=lambda: 1.0)
    now = 0.0
    decision = p.after_session(now, streamed_s=20.0)
    attempts = []
    while now + decision.delay_s < outage_s + 1.1:
        now += decision.delay_s + 0.01  # a refused connection fails at once
        attempts.append(now)
        decision = p.after_session(now, streamed_s=0.0)
        assert decision.recovering and not decision.crash_loop and decision.delay_s <= 1.0
    assert any(outage_s <= t <= outage_s + 1.1 for t in attempts)  # connected within ~1 s of its return


def test_after_the_recovery_window_the_guard_holds_a_dead_camera_off() -> None:
    p = policy()
    now = 0.0
    p.after_session(now, streamed_s=20.0)
    while now <= 60.0:
        now += 1.0
        decision = p.after_session(now, streamed_s=0.0)
    assert not decision.recovering and decision.crash_loop and decision.delay_s == 30.0
    assert decision.down_s is not None and decision.down_s > 60.0
    back = p.after_session(now + 30, streamed_s=6.0)  # it came back and streamed
    assert back.healthy and back.recovering and back.failures == 0


def test_policy_rejects_bad_bounds() -> None:
    with pytest.raises(ValueError):
        policy(healthy_after_s=0.0)
    with pytest.raises(ValueError):
        policy(recovery_window_s=-1.0)


def test_recovery_cap_never_exceeds_the_ordinary_cap() -> None:
    p = policy(maximum_s=1.0, recovery_max_s=2.0)
    assert p.after_session(0.0, streamed_s=10.0).delay_s <= 1.0
    assert [p.after_session(float(t), streamed_s=0.0).delay_s for t in range(1, 4)] == [1.0, 1.0, 1.0]


class FakeSession:
    """Stands in for CameraSession: streams ``stream_s`` seconds of frames, then ends."""

    def __init__(self, stream_s: float, reason: str, on_up: Callable[[Any], None]) -> None:
        self.session_id = uuid.uuid4().hex
        self.frames_decoded = 0
        self.records = 0
        self.has_audio = False
        self.last_frame_mono = time.monotonic()
        self._stream_s = stream_s
        self._reason = reason
        self._on_up = on_up

    def cancel(self) -> None:
        pass

    def run(self) -> SessionResult:
        if self._stream_s > 0:
            self.frames_decoded = 1
            self.last_frame_mono = time.monotonic()
            self._on_up(self)
            time.sleep(self._stream_s)
            self.frames_decoded = 10
            self.last_frame_mono = time.monotonic()
        return SessionResult(self._reason, "end of stream", self.frames_decoded, self.records)


def test_supervisor_measures_streaming_time_and_resets_the_guard_after_a_healthy_stream(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="services")
    plan = [(0.0, "unreachable")] * 3 + [(0.4, "eof")] + [(0.0, "unreachable")] * 2 + [(0.4, "eof")] * 50
    started: list[float] = []

    def fake_session(camera_id: str, url: str, *args: Any, on_up: Any, **kwargs: Any) -> FakeSession:
        started.append(time.monotonic())
        stream_s, reason = plan[min(len(started) - 1, len(plan) - 1)]
        return FakeSession(stream_s, reason, on_up)

    monkeypatch.setattr(supervisor_module, "CameraSession", fake_session)
    registry = CollectorRegistry()
    config = IngestConfig(
        backoff_initial_s=0.05,
        backoff_max_s=5.0,
        crash_loop_max=3,
        healthy_stream_s=0.3,
        recovery_backoff_max_s=0.1,
    )
    supervisor = CameraSupervisor(
        "cam0", "rtsp://u:pw@cam/x", SPEC, config, lambda r: True, IngestMetrics(registry)
    )
    supervisor.start()
    try:
        # three failures trip the guard (a ~5 s wait); the fourth session is the healthy one
        assert wait_for(lambda: len(started) >= 4, 10)
        assert registry.get_sample_value("vigil_ingest_crash_looping", {"camera": "cam0"}) == 1
        # after it: fast retries, no crash loop however many drops follow
        assert wait_for(lambda: len(started) >= 9, 10)
        assert registry.get_sample_value("vigil_ingest_crash_looping", {"camera": "cam0"}) == 0
    finally:
        supervisor.stop()
        assert supervisor.join(5)
    gaps = [b - a for a, b in itertools.pairwise(started[3:])]
    assert max(gaps) < 1.5, gaps  # stream 0.4 s + a fast retry (a crash-looping one waits >= 2.5 s)
    assert "crash loop" in caplog.text
    assert re.search(r"after 0\.\d s of streaming; reconnecting in 0\.\d s", caplog.text)
    assert "pw" not in caplog.text  # the camera's password never reaches a log line
    assert "pw" not in caplog.text
