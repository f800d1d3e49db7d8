"""A short Kafka outage mid-stream loses nothing (issue 14).

Two RTSP cameras (the shared test server's /incident and /quiet, read only) stream through
ingest and fusion (stub model) on a PRIVATE Kafka, with the shipped ingest and fusion defaults.
A few seconds in, the broker is stopped for 20 s and started again. Oracles:

- ingest dropped nothing, and Kafka holds every media record exactly once: per camera, session
  and stream the sequence numbers are 0..n-1 without a gap or a repeat;
- every window is scored, once: the live scores equal, window for window (ids, masked
  modalities, anomaly), a clean replay of the same topics scored after the outage, and each
  session's windows are contiguous on the grid; no window has a modality masked;
- the alert policy raises the same incidents (same ids) from the live scores as from the clean ones.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry

from services.fusion.service import FusionService, ReplaySpec
from services.ingest.service import IngestService
from streaming import contracts
from streaming.alert_policy import CameraPolicies
from streaming.bus import Record
from streaming.config import AlertConfig, VigilConfig
from streaming.kafka_bus import KafkaBus
from tests.fusion_stub_model import build_stub_model
from tests.integration.conftest import LocalStack
from tests.integration.private_kafka import PrivateKafka
from tests.integration.test_ingest_rtsp import wait_for

CAMERAS = {"cam0": "incident", "cam1": "quiet"}
OUTAGE_S = 20.0
STREAM_BEFORE_OUTAGE_S = 4.0


@pytest.fixture
def kafka(stack: LocalStack, tmp_path: Path) -> Iterator[PrivateKafka]:
    broker = PrivateKafka(tmp_path / "kafka-state")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def make_config(stack: LocalStack, kafka: PrivateKafka, model: Path) -> VigilConfig:
    uid = uuid.uuid4().hex[:8]
    return VigilConfig.model_validate(
        {
            "cameras": {cam: {"url": stack.rtsp_url(mount)} for cam, mount in CAMERAS.items()},
            "kafka": {"bootstrap_servers": kafka.bootstrap, "partitions": 1},
            "topics": {
                "video": f"test.outage.{uid}.video",
                "audio": f"test.outage.{uid}.audio",
                "scores": f"test.outage.{uid}.scores",
                "dead_letter": f"test.outage.{uid}.dlq",
            },
            "fusion": {"model_path": str(model), "providers": ["CPUExecutionProvider"]},
        }
    )


def counter(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """Sum of a counter's samples matching ``labels``."""
    total = 0.0
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def read_all(bootstrap: str, topics: list[str]) -> list[Record]:
    """Every record of ``topics`` (one partition each), read up to the end offsets seen now."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    tps = [TopicPartition(t, 0) for t in topics]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    ends = consumer.end_offsets(tps)
    out: list[Record] = []
    deadline = time.monotonic() + 60
    try:
        while any(consumer.position(tp) < ends[tp] for tp in tps) and time.monotonic() < deadline:
            for tp, batch in consumer.poll(timeout_ms=500).items():
                out.extend(
                    Record(tp.topic, tp.partition, r.offset, r.key, r.value, r.timestamp) for r in batch
                )
    finally:
        consumer.close()
    return out


def scores_of(records: list[Record]) -> list[contracts.WindowScore]:
    return [contracts.decode_as(r.value, contracts.WindowScore) for r in records]


def incidents(scores: list[contracts.WindowScore], threshold: float, *, by_window: bool = True) -> list[str]:
    """Event ids the alert policy derives from ``scores`` (in window order, or as given)."""
    policies = CameraPolicies(
        AlertConfig.model_validate(
            {"default_policy": {"anomaly_threshold": threshold, "raise_k": 2, "raise_n": 3, "resolve_m": 2}}
        )
    )
    out: list[str] = []
    for score in sorted(scores, key=lambda s: (s.camera_id, s.window_start_ns)) if by_window else scores:
        out.extend(e.event_id for e in policies.observe(score).events)
    return out


def test_kafka_stopped_20s_mid_stream_loses_nothing(
    stack: LocalStack, kafka: PrivateKafka, tmp_path: Path
) -> None:
    config = make_config(stack, kafka, build_stub_model(tmp_path / "stub.onnx"))
    bus = KafkaBus(config.kafka, client_id="test-outage", connect_timeout_s=60)
    ingest_registry, fusion_registry = CollectorRegistry(), CollectorRegistry()
    fusion = FusionService(config, bus, fusion_registry).start()
    ingest = IngestService(config, bus, ingest_registry).start()
    published = lambda cam: counter(ingest_registry, "vigil_ingest_published_total", camera=cam)  # noqa: E731
    try:
        assert wait_for(lambda: all(published(c) >= 8 * STREAM_BEFORE_OUTAGE_S for c in CAMERAS), 30), (
            "cameras did not stream"
        )
        kafka.stop()
        down_at = time.monotonic()
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
        kafka.start()
        back_at = time.monotonic()
        print(f"kafka down {back_at - down_at:.1f} s")
        # each camera's first 30 s session ends (the clip's end); then stop ingest (flushing)
        ended = lambda: all(  # noqa: E731
            counter(ingest_registry, "vigil_ingest_reconnects_total", camera=c, reason="eof") >= 1
            for c in CAMERAS
        )
        assert wait_for(ended, 60), "sessions did not end"
    finally:
        ingest.stop(timeout_s=30)
    drops = {
        (s.labels["camera"], s.labels["stream"], s.labels["reason"]): s.value
        for m in ingest_registry.collect()
        for s in m.samples
        if s.name == "vigil_ingest_dropped_total" and s.value
    }
    try:
        # The live fusion closes the last windows by idleness; wait until nothing has been open
        # for longer than the idle timeout (a rebalance empties the assembler, then re-reads).
        idle_s = config.fusion.idle_timeout_s + 2.0
        quiet_since = time.monotonic()
        deadline = quiet_since + 120
        while time.monotonic() - quiet_since < idle_s and time.monotonic() < deadline:
            if fusion.assembler.cameras() or fusion.tracker.inflight():
                quiet_since = time.monotonic()
            time.sleep(0.1)
        assert time.monotonic() < deadline, "the live fusion never settled"
    finally:
        fusion.stop()
    topics = config.topics
    media = read_all(kafka.bootstrap, [topics.video, topics.audio])
    live = scores_of(read_all(kafka.bootstrap, [topics.scores]))

    # clean run: the same media scored by a replay after the outage
    clean_topic = f"{topics.scores}.clean"
    bus.close()
    bus = KafkaBus(config.kafka, client_id="test-outage-clean", connect_timeout_s=60)
    replay = FusionService(config, bus, None, replay=ReplaySpec(0, clean_topic))
    runner = threading.Thread(target=replay.run, daemon=True)
    runner.start()
    runner.join(120)
    clean = scores_of(read_all(kafka.bootstrap, [clean_topic]))
    bus.close()

    # -- ingest: nothing dropped, every record in Kafka exactly once
    seqs: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for record in media:
        item = contracts.decode(record.value)
        assert isinstance(item, contracts.VideoFrame | contracts.AudioChunk)
        stream = "video" if isinstance(item, contracts.VideoFrame) else "audio"
        seqs[(item.camera_id, item.session_id, stream)].append(item.seq)
    gaps = {k: len(set(range(max(v) + 1)) - set(v)) for k, v in seqs.items()}
    dups = {k: len(v) - len(set(v)) for k, v in seqs.items()}
    live_ids = [s.window_id for s in live]
    # a camera's last windows may lack a modality because its session ended (not the outage)
    ends = {
        (s.camera_id, s.session_id): max(c.window_start_ns for c in clean if c.session_id == s.session_id)
        for s in clean
    }
    masked = [
        (s.window_id, s.missing)
        for s in live
        if s.missing and s.window_start_ns < ends[(s.camera_id, s.session_id)] - 2 * 10**9
    ]
    print(f"drops {drops}; seq gaps {sum(gaps.values())}; duplicate records {sum(dups.values())}")
    print(f"live {len(live)} windows ({len(set(live_ids))} distinct), clean {len(clean)}, masked {masked}")
    assert not drops, f"ingest dropped records: {drops}"
    assert not any(gaps.values()), f"sequence gaps in Kafka: {gaps}"
    assert not any(dups.values()), f"duplicate media records in Kafka: {dups}"

    # -- fusion: every window scored once, complete, the same as the clean run
    clean_by_id = {s.window_id: s for s in clean}
    live_by_id = {s.window_id: s for s in live}
    for s in live:  # a window scored again (a rebalance after the outage) is the same window
        assert (s.anomaly, s.missing) == (live_by_id[s.window_id].anomaly, live_by_id[s.window_id].missing)
    assert set(live_by_id) == set(clean_by_id), (
        f"missing live {sorted(set(clean_by_id) - set(live_by_id))}, extra {sorted(set(live_by_id) - set(clean_by_id))}"
    )
    per_session: dict[tuple[str, str], list[int]] = defaultdict(list)
    for s in live:
        per_session[(s.camera_id, s.session_id)].append(s.seq)
    for key, ks in per_session.items():
        assert sorted(set(ks)) == list(range(min(ks), max(ks) + 1)), (
            f"{key}: windows not contiguous: {sorted(ks)}"
        )
    assert not masked, f"windows scored with a modality masked: {masked}"
    for wid, s in live_by_id.items():
        c = clean_by_id[wid]
        assert s.missing == c.missing and abs(s.anomaly - c.anomaly) < 1e-5, (wid, s, c)

    # -- alerts: the same incidents as the clean run
    threshold = sorted(s.anomaly for s in clean)[len(clean) * 2 // 3]
    expected = incidents(clean, threshold)
    assert expected, "the threshold raises nothing: the alert comparison would prove nothing"
    # live scores in the order the alert service reads them (a re-scored window is deduplicated)
    assert incidents(live, threshold, by_window=False) == expected
