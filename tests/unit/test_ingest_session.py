"""Ingest sessions and the service on small generated files and the in-memory bus (no network)."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from models.synth.clip_render import ClipSpec
from services.clips import write_clip
from services.ingest.analysis import AnalysisSpec
from services.ingest.metrics import IngestMetrics
from services.ingest.publisher import MediaPublisher
from services.ingest.service import IngestService
from services.ingest.session import CameraSession, SessionOptions
from streaming.bus import BusError, Delivered, ProducerFull
from streaming.config import TopicsConfig, VigilConfig
from streaming.contracts import AudioChunk, VideoFrame, decode, encode
from streaming.memory_bus import MemoryBus

SPEC = AnalysisSpec(fps=4.0, width=64, height=48, sample_rate=16000)
Record = VideoFrame | AudioChunk


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("clips")
    common = {"duration_s": 3.0, "width": 96, "height": 64, "fps": 15, "seed": 3}
    paths = {
        "incident": root / "incident.mp4",
        "noaudio": root / "noaudio.mp4",
        "corrupt": root / "corrupt.mp4",
    }
    write_clip(ClipSpec(**common, incidents=((1.6, "gunshot"),)), paths["incident"])  # type: ignore[arg-type]
    write_clip(ClipSpec(**common, audio=False), paths["noaudio"])  # type: ignore[arg-type]
    # garbage written over the middle of the file: frame data is corrupted, the container is not
    data = bytearray(paths["incident"].read_bytes())
    rng = random.Random(1)
    for k in range(4):
        at = int(len(data) * (0.3 + 0.1 * k))
        data[at : at + 3000] = bytes(rng.randrange(256) for _ in range(3000))
    paths["corrupt"].write_bytes(bytes(data))
    return paths


def run_session(
    path: Path, spec: AnalysisSpec = SPEC, publish: Callable[[Record], bool] | None = None, **kw: object
) -> tuple[list[Record], CollectorRegistry, CameraSession]:
    registry = CollectorRegistry()
    records: list[Record] = []

    def collect(record: Record) -> bool:
        records.append(record)
        return True

    session = CameraSession(
        "cam",
        str(path),
        spec,
        SessionOptions(**kw),  # type: ignore[arg-type]
        publish or collect,
        IngestMetrics(registry),
    )
    result = session.run()
    assert result.reason == "eof", result
    return records, registry, session


def split(records: list[Record]) -> tuple[list[VideoFrame], list[AudioChunk]]:
    return (
        [r for r in records if isinstance(r, VideoFrame)],
        [r for r in records if isinstance(r, AudioChunk)],
    )


def test_session_publishes_sampled_resized_frames_and_chunked_audio(clips: dict[str, Path]) -> None:
    records, registry, session = run_session(clips["incident"])
    video, audio = split(records)
    assert len(video) == 12  # 3 s at 4 fps
    assert {(v.width, v.height, v.codec, v.camera_has_audio) for v in video} == {(64, 48, "jpeg", True)}
    assert video[0].to_rgb().shape == (48, 64, 3)
    assert [v.seq for v in video] == list(range(12)) and [a.seq for a in audio] == list(range(len(audio)))
    assert {r.session_id for r in records} == {session.session_id}
    assert {(a.sample_rate, a.channels) for a in audio} == {(16000, 1)}
    assert all(a.num_samples == 4000 for a in audio[:-1])
    assert sum(a.num_samples for a in audio) == pytest.approx(3 * 16000, abs=1100)
    offsets = (np.array([v.capture_ns for v in video]) - video[0].capture_ns) / 1e9
    grid = np.arange(12) * 0.25
    assert np.all(offsets >= grid - 1e-6) and np.all(
        offsets < grid + 1 / 15
    )  # first frame at/after each point
    assert np.diff([a.capture_ns for a in audio[:-1]]) / 1e9 == pytest.approx(0.25)
    assert (
        registry.get_sample_value("vigil_ingest_frames_decoded_total", {"camera": "cam", "stream": "video"})
        == 45
    )
    assert registry.get_sample_value("vigil_camera_has_audio", {"camera": "cam"}) == 1


def test_flash_and_bang_share_one_clock(clips: dict[str, Path]) -> None:
    spec = AnalysisSpec(fps=15.0, width=64, height=48, sample_rate=16000)
    video, audio = split(run_session(clips["incident"], spec)[0])
    brightness = np.array([v.to_rgb().mean() for v in video])
    flash = video[int(np.argmax(np.diff(brightness))) + 1].capture_ns
    samples = np.concatenate([a.to_float32() for a in audio])
    onset = int(np.argmax(np.abs(samples) > 0.3))
    starts = np.cumsum([0] + [a.num_samples for a in audio])
    k = int(np.searchsorted(starts, onset, side="right")) - 1
    bang = audio[k].capture_ns + (onset - starts[k]) * 1_000_000_000 // 16000
    assert abs(flash - bang) < 100_000_000, (flash - bang) / 1e6


def test_camera_without_audio_publishes_video_only_and_says_so(clips: dict[str, Path]) -> None:
    records, registry, _ = run_session(clips["noaudio"])
    video, audio = split(records)
    assert video and not audio
    assert not any(v.camera_has_audio for v in video)
    assert registry.get_sample_value("vigil_camera_has_audio", {"camera": "cam"}) == 0


def test_corrupted_stream_counts_decode_errors_and_keeps_going(clips: dict[str, Path]) -> None:
    records, registry, _ = run_session(clips["corrupt"])
    errors = registry.get_sample_value("vigil_ingest_decode_errors_total", {"camera": "cam"})
    assert errors and errors > 0
    video, _ = split(records)
    assert video[-1].capture_ns - video[0].capture_ns > 2.5e9  # frames after the garbage too


class _Pending:
    """A delivery that never completes (a broker that does not answer)."""

    def get(self, timeout: float | None = None) -> Delivered:
        raise BusError("never")

    def add_callback(self, fn: Callable[[Delivered], None]) -> None:
        return None

    def add_errback(self, fn: Callable[[BaseException], None]) -> None:
        return None

    def is_done(self) -> bool:
        return False


class _StuckProducer:
    """Accepts ``room`` records, then reports a full buffer; never acknowledges."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.sent = 0

    def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: object = (), *, block: bool = True
    ) -> _Pending:
        assert not block, "ingest must never block on the bus"
        if self.sent >= self.room:
            raise ProducerFull("buffer full")
        self.sent += 1
        return _Pending()

    def flush(self, timeout: float | None = None) -> None:
        return None

    def close(self, timeout: float | None = None) -> None:
        return None


@pytest.mark.parametrize(("room", "cap"), [(1000, 5), (3, 50)])
def test_blocked_bus_holds_a_bounded_backlog_and_drops_the_oldest_without_blocking_decode(
    clips: dict[str, Path], room: int, cap: int
) -> None:
    registry = CollectorRegistry()
    metrics = IngestMetrics(registry)
    producer = _StuckProducer(room)
    publisher = MediaPublisher(
        producer, TopicsConfig(), metrics, max_inflight_per_camera=cap, backlog_s=1.0, backlog_bytes=10**9
    )
    sent: list[VideoFrame | AudioChunk] = []

    def publish(record: VideoFrame | AudioChunk) -> bool:
        sent.append(record)
        return publisher.publish(record)

    session = CameraSession("cam", str(clips["incident"]), SPEC, SessionOptions(), publish, metrics)
    assert session.run().reason == "eof"  # decode ran to the end
    publisher.close()
    dropped = sum(
        registry.get_sample_value(
            "vigil_ingest_dropped_total", {"camera": "cam", "stream": s, "reason": "backlog_full"}
        )
        or 0
        for s in ("video", "audio")
    )
    held = publisher.backlog("cam")
    assert producer.sent == min(room, cap)  # memory bounded: never more in flight than the cap
    assert dropped == session.records - producer.sent - held > 0
    # the backlog keeps the newest second of capture time: the oldest records went first
    newest = max(r.capture_ns for r in sent)
    assert registry.get_sample_value("vigil_ingest_backlog_records", {"camera": "cam"}) == held
    assert held <= sum(1 for r in sent if r.capture_ns >= newest - 1_000_000_000) + 1
    assert held >= sum(1 for r in sent if r.capture_ns > newest - 900_000_000)
    assert registry.get_sample_value("vigil_ingest_publish_inflight", {"camera": "cam"}) == min(room, cap)


def test_backlog_is_bounded_in_bytes_too() -> None:
    registry = CollectorRegistry()
    publisher = MediaPublisher(
        _StuckProducer(0),
        TopicsConfig(),
        IngestMetrics(registry),
        max_inflight_per_camera=4,
        backlog_s=3600,
        backlog_bytes=5_000,
    )
    for i in range(20):
        publisher.publish(
            AudioChunk.from_float32(
                np.zeros(400, np.float32),
                camera_id="c",
                session_id="s",
                seq=i,
                capture_ns=i * 25_000_000,
                sample_rate=16000,
            )
        )
    publisher.close()
    size = len(
        encode(
            AudioChunk.from_float32(
                np.zeros(400, np.float32),
                camera_id="c",
                session_id="s",
                seq=0,
                capture_ns=0,
                sample_rate=16000,
            )
        )
    )
    assert publisher.backlog("c") == 5_000 // size
    dropped = registry.get_sample_value(
        "vigil_ingest_dropped_total", {"camera": "c", "stream": "audio", "reason": "backlog_full"}
    )
    assert dropped == 20 - 5_000 // size


def test_service_on_memory_bus_runs_cameras_to_the_end(clips: dict[str, Path]) -> None:
    config = VigilConfig.model_validate(
        {
            "bus": "memory",
            "cameras": {
                "a": {"url": str(clips["incident"])},
                "b": {"url": str(clips["noaudio"]), "fps": 2},
                "off": {"url": str(clips["noaudio"]), "enabled": False},
            },
        }
    )
    bus = MemoryBus(default_partitions=3)
    registry = CollectorRegistry()
    service = IngestService(config, bus, registry, spec=SPEC).start()
    try:
        assert service.wait(30)
        assert service.readiness()[0] and service.liveness()[0]
    finally:
        service.stop()
    video = [decode(r.value) for r in bus.records(config.topics.video)]
    by_camera = {cid: [v for v in video if v.camera_id == cid] for cid in ("a", "b")}
    assert len(by_camera["a"]) == 12 and len(by_camera["b"]) == 6  # per-camera fps override
    keys = {r.key for r in bus.records(config.topics.video)}
    assert keys == {b"a", b"b"}
    audio = [decode(r.value) for r in bus.records(config.topics.audio)]
    assert {a.camera_id for a in audio} == {"a"}
    assert registry.get_sample_value("vigil_ingest_published_total", {"camera": "a", "stream": "video"}) == 12
    assert registry.get_sample_value("vigil_camera_up", {"camera": "a"}) == 0  # file ended
