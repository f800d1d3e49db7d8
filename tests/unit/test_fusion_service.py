"""FusionService on the in-memory bus with the stub model: exact windows, dead letters, commits, metrics."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from models.contract import ModelContractError
from models.runtime import FusionModel, ModelOutput
from services.fusion.runner import ModelBatch
from services.fusion.service import FusionService
from streaming import contracts
from streaming.bus import TopicPartition
from streaming.config import VigilConfig
from streaming.memory_bus import MemoryBus
from streaming.runtime import topic_specs
from tests.fusion_stub_model import (
    NS,
    Media,
    build_stub_model,
    expected_anomaly,
    media_records,
    stub_contract,
)

CONTRACT = stub_contract()
T0 = 1_700_000_000 * NS + 100_000_000  # not on the grid


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_stub_model(tmp_path_factory.mktemp("model") / "stub.onnx", CONTRACT)


def make_config(**fusion: object) -> VigilConfig:
    settings: dict[str, object] = {
        "max_batch": 4,
        "max_wait_ms": 5,
        "lateness_s": 0.3,
        "idle_timeout_s": 1.0,
        "providers": ["CPUExecutionProvider"],
    }
    settings.update(fusion)
    return VigilConfig.model_validate({"bus": "memory", "kafka": {"partitions": 2}, "fusion": settings})


@pytest.fixture
def bus() -> Iterator[MemoryBus]:
    b = MemoryBus(default_partitions=2)
    b.ensure_topics(topic_specs(make_config()))
    yield b


def publish(bus: MemoryBus, config: VigilConfig, records: list[Media]) -> None:
    producer = bus.producer()
    for m in records:
        topic = config.topics.video if m.kind == "video" else config.topics.audio
        producer.send(topic, m.value, key=m.key)


def scores(bus: MemoryBus, topic: str = "vigil.scores.v1") -> list[contracts.WindowScore]:
    return [contracts.decode_as(r.value, contracts.WindowScore) for r in bus.records(topic)]


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def test_exact_windows_scores_and_dead_letter(bus: MemoryBus, model_path: Path) -> None:
    config = make_config()
    registry = CollectorRegistry()
    model = FusionModel(model_path, providers=["CPUExecutionProvider"])
    service = FusionService(config, bus, registry, model=model)
    cams = ["gate-1", "gate-2", "lobby"]
    records = [m for cam in cams for m in media_records(cam, f"{cam}-s1", T0, 8.0, CONTRACT)]
    publish(bus, config, records)
    bus.producer().send(config.topics.video, b"not a vigil record", key=b"gate-1")  # poison
    service.start()
    try:
        # complete windows: start > T0 (1700000000.1 s) and end <= last frame (T0 + 7.75 s)
        first = T0 // NS + 1
        complete = list(range(first, (T0 + 7_750_000_000) // NS - 1))
        wait_for(lambda: len(scores(bus)) >= len(cams) * (len(complete) + 2))  # + idle-closed tail
        assert service.ready()[0]
        got = scores(bus)
        for cam in cams:
            mine = sorted((s for s in got if s.camera_id == cam), key=lambda s: s.seq)
            full = [s for s in mine if not s.flags]
            assert [s.seq for s in full] == complete
            for s in full:
                assert s.window_end_ns - s.window_start_ns == 2 * NS
                assert (s.num_frames, s.num_audio_samples, s.missing) == (8, CONTRACT.samples_per_window, ())
                assert s.anomaly == pytest.approx(expected_anomaly(s.window_start_ns, T0, CONTRACT), abs=1e-5)
                assert set(s.class_probs) == set(CONTRACT.classes)
                assert s.contribution["audio"] + s.contribution["video"] == pytest.approx(1.0)
                assert s.model_version == "stub-1" and s.latency_s >= 0
            tail = [s for s in mine if s.flags]
            assert tail and all("idle" in s.flags for s in tail)
            assert len({s.window_id for s in mine}) == len(mine)  # one score per window
        # thumbnails above the threshold (the stub's anomaly is ~0.25-0.5 > 0.3 for later windows)
        assert any(s.thumbnail_jpeg.startswith(b"\xff\xd8") for s in got)
        dead = [
            contracts.decode_as(r.value, contracts.DeadLetter) for r in bus.records("vigil.deadletter.v1")
        ]
        assert len(dead) == 1 and dead[0].service == "fusion" and dead[0].payload == b"not a vigil record"
        # offsets: everything consumed and acknowledged is committed (nothing open any more)
        wait_for(lambda: service.tracker.inflight() == 0)
        time.sleep(0.7)
        consumer = bus.consumer(config.fusion.group_id)
        for topic in (config.topics.video, config.topics.audio):
            for p in range(2):
                tp = TopicPartition(topic, p)
                end = consumer.end_offsets([tp])[tp]
                if end:
                    assert consumer.committed(tp) == end
        text = registry.get_sample_value
        lobby_none = sum(1 for s in got if s.camera_id == "lobby" and not s.missing)
        assert text("vigil_fusion_windows_scored_total", {"camera": "lobby", "missing": "none"}) == lobby_none
        assert text("vigil_fusion_dropped_records_total", {"reason": "dead_letter"}) == 1
        assert (text("vigil_fusion_batch_size_count") or 0) > 0
    finally:
        service.stop()


def test_audio_stops_video_only_flagged(bus: MemoryBus, model_path: Path) -> None:
    config = make_config(idle_timeout_s=30.0)
    model = FusionModel(model_path, providers=["CPUExecutionProvider"])
    service = FusionService(config, bus, CollectorRegistry(), model=model)
    stop = T0 + 3 * NS
    publish(bus, config, media_records("cam", "s1", T0, 9.0, CONTRACT, audio_until_ns=stop))
    service.start()
    try:
        wait_for(lambda: any(s.missing == ("audio",) for s in scores(bus)))
        video_only = [s for s in scores(bus) if s.missing == ("audio",)]
        assert all("watermark" in s.flags and s.window_start_ns >= stop for s in video_only)
        assert all(s.contribution["audio"] == 0.0 for s in video_only)
    finally:
        service.stop()


def test_model_without_contract_is_refused(tmp_path: Path, bus: MemoryBus) -> None:
    bare = build_stub_model(tmp_path / "bare.onnx", CONTRACT, with_contract=False)
    with pytest.raises(ModelContractError, match=r"no 'vigil\.contract'"):
        FusionService(make_config(model_path=str(bare)), bus, CollectorRegistry())


def test_replay_scores_into_a_separate_topic_and_stops(bus: MemoryBus, model_path: Path) -> None:
    from services.fusion.service import ReplaySpec

    config = make_config()
    publish(bus, config, media_records("cam", "s1", T0, 6.0, CONTRACT))
    model = FusionModel(model_path, providers=["CPUExecutionProvider"])
    replay = ReplaySpec(from_ms=0, scores_topic="vigil.scores.candidate")
    service = FusionService(config, bus, CollectorRegistry(), model=model, replay=replay)
    runner = threading.Thread(target=service.run, daemon=True)
    runner.start()
    runner.join(30)
    assert not runner.is_alive(), "replay did not stop at the end offsets seen at start"
    replayed = scores(bus, "vigil.scores.candidate")
    assert scores(bus) == []  # the live scores topic is untouched
    full = [s.seq for s in replayed if not s.flags]
    assert full == [T0 // NS + i for i in range(1, 4)]
    assert all("flush" in s.flags for s in replayed if s.flags)
    assert service.group_id.startswith("vigil-fusion-replay-")


def test_backpressure_pauses_and_resumes_without_losing_windows(bus: MemoryBus, model_path: Path) -> None:
    config = make_config(max_batch=1, max_queue_windows=2, idle_timeout_s=30.0)
    registry = CollectorRegistry()
    model = FusionModel(model_path, providers=["CPUExecutionProvider"])
    service = FusionService(config, bus, registry, model=model)
    slow_infer = service.scorer.infer
    paused_seen: list[bool] = []

    def slow(batch: ModelBatch) -> tuple[ModelOutput, float]:
        time.sleep(0.03)  # a slow model: windows queue up faster than they are scored
        paused_seen.append(registry.get_sample_value("vigil_fusion_paused") == 1.0)
        return slow_infer(batch)

    service.scorer.infer = slow  # type: ignore[method-assign]
    cams = ["a", "b", "c", "d"]
    for cam in cams:
        publish(bus, config, media_records(cam, f"{cam}-s1", T0, 8.0, CONTRACT))
    service.start()
    try:
        expected = len(cams) * 5  # complete windows per camera (see the exact-windows test)
        wait_for(lambda: sum(1 for s in scores(bus) if not s.flags) >= expected, 60)
        assert any(paused_seen), "the consumer never paused"
        wait_for(lambda: registry.get_sample_value("vigil_fusion_paused") == 0.0, 10)
    finally:
        service.stop()


def test_concurrent_inference_keeps_each_cameras_windows_in_order(bus: MemoryBus, model_path: Path) -> None:
    config = make_config(max_batch=1, inference_workers=3, idle_timeout_s=30.0)
    model = FusionModel(model_path, providers=["CPUExecutionProvider"])
    service = FusionService(config, bus, CollectorRegistry(), model=model)
    assert service.workers == 3
    real_infer = service.scorer.infer
    calls = iter(range(1_000_000))
    lock = threading.Lock()

    def uneven(batch: ModelBatch) -> tuple[ModelOutput, float]:
        with lock:
            n = next(calls)
        time.sleep(0.05 if n % 3 == 0 else 0.0)  # every third batch finishes after the two behind it
        return real_infer(batch)

    service.scorer.infer = uneven  # type: ignore[method-assign]
    publish(bus, config, media_records("cam", "cam-s1", T0, 8.0, CONTRACT))
    service.start()
    try:
        wait_for(lambda: sum(1 for s in scores(bus) if not s.flags) >= 5)
        seqs = [s.seq for s in scores(bus)]  # in the order they were produced
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    finally:
        service.stop()


def test_inference_failure_stops_the_service_instead_of_hanging(bus: MemoryBus, model_path: Path) -> None:
    config = make_config(max_batch=1, inference_workers=2, idle_timeout_s=30.0)
    model = FusionModel(model_path, providers=["CPUExecutionProvider"])
    service = FusionService(config, bus, CollectorRegistry(), model=model)

    def broken(batch: ModelBatch) -> tuple[ModelOutput, float]:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    service.scorer.infer = broken  # type: ignore[method-assign]
    publish(bus, config, media_records("cam", "cam-s1", T0, 6.0, CONTRACT))
    failure: list[BaseException] = []

    def run() -> None:
        try:
            service.run()
        except BaseException as exc:
            failure.append(exc)

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    runner.join(30)
    assert not runner.is_alive(), "the service hung after an inference failure"
    assert failure and "illegal memory access" in str(failure[0])
    assert scores(bus) == []
    # nothing was committed past what the unscored windows need: a healthy worker scores them all
    healthy = FusionService(config, bus, CollectorRegistry(), model=model).start()
    try:
        first = T0 // NS + 1
        complete = list(range(first, (T0 + 5_750_000_000) // NS - 1))
        wait_for(lambda: [s.seq for s in scores(bus) if not s.flags] == complete)
    finally:
        healthy.stop()
