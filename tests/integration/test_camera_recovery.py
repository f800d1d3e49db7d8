"""Cameras come back within seconds of an outage, and a broken camera stays held off.

One private RTSP test server (its own port: the shared one on 8554 stays up for other suites)
serves four live cameras to one ingest service on the real Kafka, with the shipped ingest
defaults. Ten times in a row the server is stopped (SIGTERM, clients attached) for 10 s and
started again; every camera must stream again within 5 s of the server's return. Beside them,
a camera whose port refuses every connection and one that asks for a mount the server does not
have must stay held off by the crash-loop guard throughout.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from streaming.config import IngestConfig, VigilConfig
from tests.integration.conftest import LocalStack, RtspTestServer
from tests.integration.test_ingest_rtsp import free_port, gauge, running, wait_for

ROUNDS = 10
OUTAGE_S = 10.0
BACK_WITHIN_S = 5.0
LIVE = {"cam0": "incident", "cam1": "quiet", "cam2": "noaudio", "cam3": "quiet"}
BROKEN = ("refused", "missing")


class UpWatcher:
    """Samples ``vigil_camera_up`` of every camera every 20 ms: when did each come up?"""

    def __init__(self, registry: CollectorRegistry, cameras: list[str]) -> None:
        self._registry = registry
        self._cameras = cameras
        self.up_since: dict[str, float | None] = dict.fromkeys(cameras)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for camera in self._cameras:
                up = gauge(self._registry, "vigil_camera_up", camera) == 1
                if not up:
                    self.up_since[camera] = None
                elif self.up_since[camera] is None:
                    self.up_since[camera] = now
            self._stop.wait(0.02)

    def __enter__(self) -> UpWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def all_up(self) -> bool:
        return all(t is not None for t in self.up_since.values())

    def all_down(self) -> bool:
        return all(t is None for t in self.up_since.values())


def config_for(stack: LocalStack, cameras: dict[str, str]) -> VigilConfig:
    uid = uuid.uuid4().hex[:8]
    return VigilConfig.model_validate(
        {
            "cameras": {name: {"url": url} for name, url in cameras.items()},
            "kafka": {"bootstrap_servers": stack.kafka_bootstrap, "partitions": 1},
            "topics": {
                "video": f"test.recovery.{uid}.video",
                "audio": f"test.recovery.{uid}.audio",
                "scores": f"test.recovery.{uid}.scores",
                "dead_letter": f"test.recovery.{uid}.dlq",
            },
            # the shipped ingest defaults: what an operator gets
        }
    )


def timed(action: Callable[[], Any]) -> float:
    start = time.monotonic()
    action()
    return time.monotonic() - start


@pytest.mark.slow
def test_cameras_stream_within_5s_of_rtsp_return_ten_times_and_broken_ones_stay_held_off(
    stack: LocalStack,
) -> None:
    defaults = IngestConfig()
    server = RtspTestServer(
        free_port(),
        {mount: stack.clips_dir / f"{mount}.mp4" for mount in set(LIVE.values())},
        log_name="rtsp-recovery-test.log",
    )
    base = f"rtsp://127.0.0.1:{server.port}"
    cameras = {name: f"{base}/{mount}" for name, mount in LIVE.items()}
    cameras["refused"] = f"rtsp://127.0.0.1:{free_port()}/cam"  # nothing listens: refused at once
    cameras["missing"] = f"{base}/no-such-mount"  # 404 at once (refused during the outages)
    config = config_for(stack, cameras)
    recovery: list[dict[str, float]] = []
    stop_times: list[float] = []
    server.start()
    try:
        with running(config) as (service, registry, _bus), UpWatcher(registry, list(LIVE)) as watcher:
            started_at = time.monotonic()
            assert wait_for(watcher.all_up, 20), watcher.up_since
            for _ in range(ROUNDS):
                # stream long enough to count as healthy (as a camera does between outages)
                time.sleep(defaults.healthy_stream_s + 0.5)
                assert watcher.all_up(), watcher.up_since
                down_at = time.monotonic()
                stop_times.append(timed(server.stop))  # SIGTERM with six clients attached
                assert wait_for(watcher.all_down, 5), watcher.up_since
                time.sleep(max(0.0, down_at + OUTAGE_S - time.monotonic()))
                server.start()  # returns once the port accepts connections (polled every 0.1 s)
                back_at = time.monotonic()
                assert wait_for(watcher.all_up, 3 * BACK_WITHIN_S), watcher.up_since
                recovery.append({cam: t - back_at for cam, t in watcher.up_since.items() if t is not None})
            supervisors = service.supervisors
            assert all(supervisors[cam].is_alive() for cam in cameras)
            for cam in BROKEN:
                assert gauge(registry, "vigil_ingest_crash_looping", cam) == 1, cam
                assert gauge(registry, "vigil_camera_up", cam) == 0, cam
            elapsed = time.monotonic() - started_at
            broken_sessions = {cam: supervisors[cam].sessions_started for cam in BROKEN}
            for cam in LIVE:
                assert gauge(registry, "vigil_ingest_crash_looping", cam) == 0, cam
    finally:
        server.stop()
    worst = max(max(r.values()) for r in recovery)
    print(
        f"\nrecovery after the server's return (s), per round, worst camera: "
        f"{[round(max(r.values()), 2) for r in recovery]}; worst {worst:.2f}; "
        f"server stop took at most {max(stop_times):.2f} s; broken cameras' sessions: {broken_sessions}"
    )
    assert max(stop_times) < 2.0, stop_times  # the server stops at once on SIGTERM
    assert worst < BACK_WITHIN_S, recovery
    # held off: crash_loop_max quick failures trip the guard, then one try per [max/2, max] of
    # the backoff cap (a camera retried at the recovery pace would have ~elapsed/2 sessions)
    bound = defaults.crash_loop_max + elapsed / (defaults.backoff_max_s / 2) + 1
    assert all(n <= bound for n in broken_sessions.values()), (broken_sessions, bound)
