"""Ingest against the real RTSP test camera and real Kafka (the ``stack`` fixture).

Each test runs an :class:`IngestService` on fresh topics, then reads back what reached Kafka.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from services.ingest.service import IngestService
from streaming.bus import Record
from streaming.config import VigilConfig
from streaming.contracts import AudioChunk, VideoFrame, decode
from streaming.kafka_bus import KafkaBus
from streaming.observability import HealthServer
from tests.integration.conftest import AuthRtspServer, LocalStack, RtspTestServer

FAST = {"backoff_initial_s": 0.2, "backoff_max_s": 1.0, "stall_timeout_s": 3.0, "open_timeout_s": 5.0}


def make_config(stack: LocalStack, cameras: dict[str, dict[str, Any]], **ingest: Any) -> VigilConfig:
    uid = uuid.uuid4().hex[:8]
    return VigilConfig.model_validate(
        {
            "cameras": cameras,
            "kafka": {"bootstrap_servers": stack.kafka_bootstrap, "partitions": 1},
            "topics": {
                "video": f"test.ingest.{uid}.video",
                "audio": f"test.ingest.{uid}.audio",
                "scores": f"test.ingest.{uid}.scores",
                "dead_letter": f"test.ingest.{uid}.dlq",
            },
            "ingest": {**FAST, **ingest},
        }
    )


@contextmanager
def running(config: VigilConfig) -> Iterator[tuple[IngestService, CollectorRegistry, KafkaBus]]:
    bus = KafkaBus(config.kafka, client_id="test-ingest", connect_timeout_s=30)
    registry = CollectorRegistry()
    service = IngestService(config, bus, registry).start()
    try:
        yield service, registry, bus
    finally:
        service.stop()
        assert all(not s.is_alive() for s in service.supervisors.values())


def read_topics(bus: KafkaBus, topics: list[str], done: Callable[[list[Record]], bool]) -> list[Record]:
    consumer = bus.consumer(f"test-ingest-{uuid.uuid4().hex[:8]}")
    consumer.subscribe(topics)
    records: list[Record] = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline and not done(records):
            records.extend(consumer.poll(0.5))
    finally:
        consumer.close()
    return records


def gauge(registry: CollectorRegistry, name: str, camera: str, **labels: str) -> float:
    return registry.get_sample_value(name, {"camera": camera, **labels}) or 0.0


def wait_for(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_incident_sound_and_flash_share_one_clock_over_rtsp_and_kafka(stack: LocalStack) -> None:
    config = make_config(
        stack,
        {
            "incident": {"url": stack.rtsp_url("incident"), "fps": 15},  # every frame: 67 ms resolution
            "noaudio": {"url": stack.rtsp_url("noaudio")},
        },
    )
    with running(config) as (_, registry, bus):
        # the gunshot is at t=4 s of the clip; 6 s of stream cover it with margin
        assert wait_for(lambda: gauge(registry, "vigil_camera_up", "incident") == 1, 15)
        time.sleep(6.0)
        assert gauge(registry, "vigil_camera_has_audio", "incident") == 1
        assert gauge(registry, "vigil_camera_has_audio", "noaudio") == 0
    t = config.topics
    records = read_topics(bus, [t.video, t.audio], lambda rs: sum(r.topic == t.audio for r in rs) >= 24)
    items = [decode(r.value) for r in records]
    assert all(r.key == item.camera_id.encode() for r, item in zip(records, items, strict=True))
    video = sorted(
        (i for i in items if isinstance(i, VideoFrame) and i.camera_id == "incident"), key=lambda v: v.seq
    )
    audio = sorted((i for i in items if isinstance(i, AudioChunk)), key=lambda a: a.seq)
    assert {a.camera_id for a in audio} == {"incident"}  # the video-only camera publishes no audio
    noaudio = [i for i in items if isinstance(i, VideoFrame) and i.camera_id == "noaudio"]
    assert noaudio and not any(v.camera_has_audio for v in noaudio)
    assert len({v.session_id for v in video} | {a.session_id for a in audio}) == 1

    brightness = np.array([v.to_rgb().mean() for v in video])
    k = int(np.argmax(np.diff(brightness))) + 1
    flash_ns = video[k].capture_ns
    samples = np.concatenate([a.to_float32() for a in audio])
    onset = int(np.argmax(np.abs(samples) > 0.3))
    starts = np.cumsum([0] + [a.num_samples for a in audio])
    j = int(np.searchsorted(starts, onset, side="right")) - 1
    bang_ns = audio[j].capture_ns + (onset - int(starts[j])) * 1_000_000_000 // audio[j].sample_rate
    assert abs(flash_ns - bang_ns) < 100_000_000, (
        f"audio/video disagree by {(flash_ns - bang_ns) / 1e6:.1f} ms"
    )
    assert 3.5e9 < flash_ns - video[0].capture_ns < 4.5e9  # and the incident is where the clip has it


class PrivateRtspServer(RtspTestServer):
    """The stack's RTSP test camera, as a private instance on its own port.

    Stopping the shared server on 8554 would break other suites running against the stack at
    the same time (and a concurrent ``stack.sh up`` would restart it behind the test's back).
    """

    def __init__(self, stack: LocalStack, mount: str = "quiet") -> None:
        super().__init__(
            free_port(), {mount: stack.clips_dir / f"{mount}.mp4"}, log_name="rtsp-ingest-test.log"
        )
        self.mount = mount

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{self.mount}"


def test_camera_reconnects_after_rtsp_server_restart(stack: LocalStack) -> None:
    server = PrivateRtspServer(stack)
    server.start()
    config = make_config(stack, {"quiet": {"url": server.url}})
    transitions: list[tuple[float, float]] = []  # (monotonic time, camera_up)
    port_back: list[float] = []
    stop = threading.Event()

    with running(config) as (service, registry, bus):

        def watch() -> None:
            last = None
            while not stop.is_set():
                up = gauge(registry, "vigil_camera_up", "quiet")
                if up != last:
                    transitions.append((time.monotonic(), up))
                    last = up
                if transitions and transitions[-1][1] == 0 and not port_back and server.running():
                    port_back.append(time.monotonic())
                time.sleep(0.02)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            assert wait_for(lambda: gauge(registry, "vigil_camera_up", "quiet") == 1, 15)
            time.sleep(1.0)
            first_session = service.supervisors["quiet"].session
            server.stop()
            assert wait_for(lambda: gauge(registry, "vigil_camera_up", "quiet") == 0, 10)
            port_back.clear()
            time.sleep(1.5)  # a few failed reconnects (connection refused) happen here
            server.start()
            assert wait_for(lambda: gauge(registry, "vigil_camera_up", "quiet") == 1, 10)
            time.sleep(1.0)
        finally:
            stop.set()
            watcher.join()
            server.stop()
        assert service.supervisors["quiet"].is_alive()  # the loop never gave up
        second_session = service.supervisors["quiet"].session
    ups = [up for _, up in transitions]
    assert ups[:3] == [0, 1, 0] and ups[-1] == 1, transitions
    back_up = next(t for t, up in transitions[2:] if up == 1)
    assert port_back, "the RTSP port never came back"
    assert back_up - port_back[0] < 5.0, (
        f"reconnected {back_up - port_back[0]:.1f} s after the server returned"
    )
    reasons = {
        s.labels["reason"]
        for metric in registry.collect()
        if metric.name == "vigil_ingest_reconnects"
        for s in metric.samples
        if s.name.endswith("_total") and s.value > 0
    }
    assert reasons & {"eof", "error", "unreachable"}, reasons
    assert first_session is not None and second_session is not None
    records = read_topics(
        bus,
        [config.topics.video],
        lambda rs: second_session.session_id in {decode(r.value).session_id for r in rs},
    )
    sessions = [decode(r.value).session_id for r in records]
    assert first_session.session_id in sessions and second_session.session_id in sessions
    assert first_session.session_id != second_session.session_id


class SilentServer:
    """Accepts TCP connections and never says a word (a hung camera)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self.accepted:
            conn.close()
        self.sock.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_faulty_cameras_get_clear_errors_and_backoff_while_others_stream(
    stack: LocalStack, rtsp_auth_server: AuthRtspServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="services")
    password = rtsp_auth_server.password
    silent = SilentServer()
    cameras = {
        "good": {"url": rtsp_auth_server.url()},
        "badauth": {"url": rtsp_auth_server.url(password="wrong-" + password)},
        "unreachable": {"url": f"rtsp://vigil:{password}@127.0.0.1:{free_port()}/cam"},
        "silent": {"url": f"rtsp://vigil:{password}@127.0.0.1:{silent.port}/cam"},
    }
    config = make_config(stack, cameras, stall_timeout_s=2.0, open_timeout_s=10.0)
    try:
        with running(config) as (service, registry, bus):
            health = HealthServer(registry, "127.0.0.1", 0)
            health.add_liveness(service.liveness)
            health.add_readiness(service.readiness)
            health.start()
            try:
                assert wait_for(lambda: gauge(registry, "vigil_camera_up", "good") == 1, 15)
                # the silent camera: stall detected (2 s) and reconnected at least once more
                assert wait_for(
                    lambda: gauge(registry, "vigil_ingest_reconnects_total", "silent", reason="stall") >= 2,
                    12,
                )
                base = f"http://127.0.0.1:{health.port}"
                metrics_text = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
                assert urllib.request.urlopen(f"{base}/healthz", timeout=5).status == 200
                assert urllib.request.urlopen(f"{base}/readyz", timeout=5).status == 200
            finally:
                health.stop()
            assert gauge(registry, "vigil_camera_up", "good") == 1  # streamed through the others' faults
            assert gauge(registry, "vigil_ingest_published_total", "good", stream="video") > 10
            assert gauge(registry, "vigil_ingest_reconnects_total", "badauth", reason="unauthorized") >= 1
            assert gauge(registry, "vigil_ingest_reconnects_total", "unreachable", reason="unreachable") >= 2
            for cam in ("badauth", "unreachable", "silent"):
                assert gauge(registry, "vigil_camera_up", cam) == 0
            assert len(silent.accepted) >= 2
    finally:
        silent.close()
    log_text = caplog.text
    assert 'camera "badauth"' in log_text and "401 Unauthorized" in log_text
    assert "check the user and password" in log_text
    assert 'camera "unreachable"' in log_text and "refused" in log_text.lower()
    assert 'camera "silent"' in log_text and "stalled" in log_text
    t = config.topics
    records = read_topics(bus, [t.video, t.audio], lambda rs: len(rs) >= 20)
    assert {decode(r.value).camera_id for r in records} == {"good"}
    # the password is nowhere: log lines, metric labels and values, records
    assert password not in log_text
    assert password not in metrics_text
    assert not any(password.encode() in r.value or password.encode() in (r.key or b"") for r in records)
