"""The same clips through ``vigil evaluate`` and through the services on Kafka give the same alerts.

Three generated clips (bright, loud ranges the stub model scores high; see
:mod:`tests.evaluate_clips`) are scored twice with one configuration: by evaluate's in-process
pipeline, and by ``vigil ingest``, ``vigil fusion`` and ``vigil alert`` as processes on the local
Kafka and Redis. Windows lie on a wall-clock grid, so the two runs cut a clip at different
phases: incidents must match one to one in clip, class and lifecycle, with start and raise times
within one hop (1 s) of each other. The live fusion closes a window whose other modality is late
after ``lateness_s`` of processing time (the offline replay never needs to): the generous bound
here keeps a busy CI machine from turning that into a difference.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from kafka import KafkaConsumer, TopicPartition

from services.evaluate.footage import ClipSource, score_clips, spans_from_alerts
from services.evaluate.scoring import AlertSpan
from streaming import contracts
from streaming.alert_store import Alert
from streaming.config import load_config
from tests.evaluate_clips import write_test_clip
from tests.fusion_stub_model import build_stub_model
from tests.integration.conftest import LocalStack
from tests.integration.processes import STUB_SERVICES_YAML, ServiceProcesses

HOP_S = 1.0
CLIPS = {"clip-a": [(5.0, 9.0)], "clip-b": [(4.0, 8.0), (14.0, 18.0)], "clip-c": []}


@pytest.fixture
def footage(tmp_path: Path) -> tuple[dict[str, Path], Path]:
    paths = {name: write_test_clip(tmp_path / f"{name}.mp4", 24, ranges) for name, ranges in CLIPS.items()}
    model = build_stub_model(tmp_path / "stub.onnx")
    config = tmp_path / "vigil.yaml"
    config.write_text(STUB_SERVICES_YAML.format(model=model))
    return paths, config


class Services(ServiceProcesses):
    """ingest, fusion and alert as processes with unique topics, groups and Redis stream."""

    def __init__(self, config: Path, clips: dict[str, Path], logs: Path) -> None:
        u = uuid.uuid4().hex[:8]
        self.stream = f"vigil:test:evaluate:{u}"
        self.video_topic = f"vigil.evaluate.{u}.video"
        env = {
            "VIGIL_CONFIG": str(config),
            "VIGIL_TOPICS__VIDEO": self.video_topic,
            "VIGIL_TOPICS__AUDIO": f"vigil.evaluate.{u}.audio",
            "VIGIL_TOPICS__SCORES": f"vigil.evaluate.{u}.scores",
            "VIGIL_TOPICS__DEAD_LETTER": f"vigil.evaluate.{u}.dlq",
            "VIGIL_FUSION__GROUP_ID": f"evaluate-fusion-{u}",
            "VIGIL_ALERT__GROUP_ID": f"evaluate-alert-{u}",
            "VIGIL_REDIS__STREAM": self.stream,
            "VIGIL_REDIS__CHANNEL": f"{self.stream}:live",
            "VIGIL_HTTP__HOST": "127.0.0.1",
            "VIGIL_HTTP__PORT": "0",
            # like cameras: files at their own pace (a file read flat out overruns the producer's
            # in-flight bound and live ingest drops frames rather than wait, by design)
            "VIGIL_INGEST__REALTIME": "true",
        }
        for name, path in clips.items():
            env[f"VIGIL_CAMERAS__{name}__URL"] = str(path)
        super().__init__(env, logs)


@pytest.fixture
def services(footage: tuple[dict[str, Path], Path], stack: LocalStack, tmp_path: Path) -> Iterator[Services]:
    clips, config = footage
    s = Services(config, clips, tmp_path)
    try:
        yield s
    finally:
        s.stop()
        redis.Redis.from_url(stack.redis_url).delete(s.stream)


def first_capture_ns(bootstrap: str, topic: str) -> dict[str, int]:
    """Capture time of each camera's first frame in the video topic (one partition)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    end = consumer.end_offsets([tp])[tp]
    first: dict[str, int] = {}
    while consumer.position(tp) < end:
        for records in consumer.poll(1000).values():
            for record in records:
                frame = contracts.decode(record.value)
                assert isinstance(frame, contracts.VideoFrame)
                first[frame.camera_id] = min(first.get(frame.camera_id, frame.capture_ns), frame.capture_ns)
    consumer.close()
    return first


def kafka_alerts(services: Services, stack: LocalStack, expected_resolves: int) -> list[Alert]:
    r = redis.Redis.from_url(stack.redis_url)
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        entries = r.xrange(services.stream)
        events = [json.loads(fields[b"event"]) for _, fields in entries]
        if sum(e["type"].endswith("resolved.v1") for e in events) >= expected_resolves:
            time.sleep(4.0)  # a stray extra alert would show now
            entries = r.xrange(services.stream)
            return [
                Alert(e["id"], e["data"]["camera"], e["type"].split(".")[2], e, 0.0)
                for e in (json.loads(fields[b"event"]) for _, fields in entries)
            ]
        if (name := services.exited()) is not None:
            pytest.fail(f"{name} exited:\n{services.log(name)[-3000:]}")
        time.sleep(0.5)
    pytest.fail(
        f"timed out waiting for alerts:\n{services.log('fusion')[-3000:]}\n{services.log('alert')[-3000:]}"
    )


def key(spans: list[AlertSpan]) -> list[str]:
    return sorted(s.class_name for s in spans)


def test_evaluate_and_the_services_on_kafka_raise_the_same_alerts(
    footage: tuple[dict[str, Path], Path], services: Services, stack: LocalStack
) -> None:
    clips, config_path = footage
    config = load_config(config_path, environ={})
    sources = [ClipSource(name, path, ()) for name, path in clips.items()]
    scored, problems = score_clips(sources, config, config.alert.default_policy, jobs=3)
    assert problems == []
    offline = {s.result.name: sorted(s.result.alerts, key=lambda a: a.start_s) for s in scored}
    assert [len(offline[c]) for c in CLIPS] == [len(r) for r in CLIPS.values()]  # one alert per bright range

    services.start("alert")
    services.start("fusion")
    time.sleep(3.0)  # let both join their groups; fusion starts from the earliest offsets anyway
    services.start("ingest")
    alerts = kafka_alerts(services, stack, sum(len(r) for r in CLIPS.values()))
    origins = first_capture_ns(stack.kafka_bootstrap, services.video_topic)
    assert len({a.id for a in alerts}) == len(alerts)
    for name in CLIPS:
        mine = [a for a in alerts if a.camera_id == name]
        online = sorted(spans_from_alerts(mine, origins[name], 24.0), key=lambda a: a.start_s)
        assert key(online) == key(offline[name]), (name, online, offline[name])
        for a, b in zip(online, offline[name], strict=True):
            assert abs(a.start_s - b.start_s) <= HOP_S + 1e-6, (name, a, b)
            assert abs(a.raised_s - b.raised_s) <= HOP_S + 1e-6, (name, a, b)
            assert abs(a.end_s - b.end_s) <= HOP_S + 1e-6, (name, a, b)
        types = sorted(a.type for a in mine)
        assert types.count("raised") == types.count("resolved") == len(CLIPS[name])
