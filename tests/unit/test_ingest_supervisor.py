"""The per-camera supervisor without a network: failures, backoff, crash-loop guard, stop."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from services.ingest.analysis import AnalysisSpec
from services.ingest.metrics import IngestMetrics
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
