"""The alert service as a process on real Kafka + Redis: kill -9 mid-stream, Redis restart, dead letters.

Expected alerts are rebuilt from the scores with the pure policy (a consistency check): the Redis
stream must hold exactly those event ids, each once.
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from streaming import contracts
from streaming.alert_policy import CameraPolicies
from streaming.alert_store import SEEN_KEY_PREFIX
from streaming.config import AlertConfig, KafkaConfig, VigilConfig
from streaming.contracts import WindowScore
from streaming.kafka_bus import KafkaBus
from streaming.runtime import topic_specs
from tests.unit.test_alert_policy import score

ROOT = Path(__file__).resolve().parents[2]
CAMERAS = ("cam-a", "cam-b", "cam-c", "cam-d")
# per camera: three incidents (two classes) with quiet gaps, 72 windows
LEVELS = [0.0] * 3 + [0.9, 0.9, 0.95, 0.9] + [0.0] * 12 + [0.8, 0.85, 0.0, 0.9] + [0.0] * 20
LEVELS += [0.7, 0.9, 0.9] + [0.0] * (72 - len(LEVELS) - 3)


def scores_for(camera: str, offset: int) -> list[WindowScore]:
    out = []
    for i, level in enumerate(LEVELS):
        cls = "scream" if 15 < i < 40 else "gunshot"
        out.append(score(i + offset, level, cls, camera=camera, session=f"{camera}-s1"))
    return out


def expected_ids(stream: list[WindowScore]) -> set[str]:
    policies = CameraPolicies(AlertConfig())
    return {e.event_id for s in stream for e in policies.observe(s).events}


class AlertProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "alert"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill9()


@pytest.fixture
def env(stack, tmp_path: Path) -> Iterator[dict[str, str]]:
    u = uuid.uuid4().hex[:8]
    values = {
        "VIGIL_TOPICS__SCORES": f"vigil.test.scores.{u}",
        "VIGIL_TOPICS__DEAD_LETTER": f"vigil.test.deadletter.{u}",
        "VIGIL_ALERT__GROUP_ID": f"vigil-alert-test-{u}",
        "VIGIL_ALERT__ACCEPTED_MODEL_VERSIONS": '["m1"]',
        "VIGIL_REDIS__STREAM": f"vigil:test:alerts:{u}",
        "VIGIL_REDIS__CHANNEL": f"vigil:test:alerts:{u}:live",
        "VIGIL_REDIS__RETRY_BACKOFF_MAX_S": "0.5",
        "VIGIL_KAFKA__PARTITIONS": "2",
        "VIGIL_HTTP__PORT": "0",
        "VIGIL_LOG_LEVEL": "INFO",
    }
    yield {**os.environ, "PYTHONPATH": str(ROOT), **values}
    r = redis.Redis.from_url(stack.redis_url)
    r.delete(values["VIGIL_REDIS__STREAM"])


def stream_ids(env: dict[str, str]) -> list[str]:
    r = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        entries: list[Any] = r.xrange(env["VIGIL_REDIS__STREAM"])  # type: ignore[assignment]
        return [f[b"id"].decode() for _e, f in entries]
    except redis.ConnectionError:
        return []


def wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_kill9_and_redis_restart_mid_stream_nothing_lost_nothing_doubled(stack, env, tmp_path) -> None:
    bus = KafkaBus(KafkaConfig(partitions=2))
    topics = {"scores": env["VIGIL_TOPICS__SCORES"], "dead_letter": env["VIGIL_TOPICS__DEAD_LETTER"]}
    bus.ensure_topics(topic_specs(VigilConfig.model_validate({"kafka": {"partitions": 2}, "topics": topics})))
    producer = bus.producer()
    # interleave cameras like a live system; duplicate some windows (fusion re-scoring after a crash)
    base = random.randrange(1, 10**6) * 10_000  # fresh incident ids each run (Redis remembers ids for days)
    per_cam = [scores_for(cam, base + i * 1000) for i, cam in enumerate(CAMERAS)]
    ordered = [w for group in zip(*per_cam, strict=True) for w in group]
    ordered = [w for j, w in enumerate(ordered) for _ in range(2 if j % 17 == 0 else 1)]
    expected = expected_ids(ordered)
    assert len(expected) >= 4 * len(CAMERAS)
    topic = env["VIGIL_TOPICS__SCORES"]

    def produce() -> None:
        producer.send(topic, b"garbage, not a record", key=b"cam-a").get(30)
        bad = dataclasses.replace(ordered[0], model_version="m-unknown")
        producer.send(topic, contracts.encode(bad), key=bad.camera_id.encode()).get(30)
        for w in ordered:
            producer.send(topic, contracts.encode(w), key=w.camera_id.encode())
            time.sleep(0.04)
        producer.flush(30)

    service = AlertProcess(env, tmp_path / "alert.log")
    service.start()
    feeder = threading.Thread(target=produce)
    try:
        feeder.start()
        wait_for(lambda: len(stream_ids(env)) >= 2, 90, "the first alerts")
        stack.redis_restart(down_s=2.0)  # mid-stream: alerts fall due while Redis is away
        wait_for(lambda: len(stream_ids(env)) >= len(expected) // 2, 90, "alerts after the Redis restart")
        service.kill9()  # mid-stream: alerts delivered, offsets partly committed
        service.start()
        feeder.join(120)
        wait_for(lambda: set(stream_ids(env)) >= expected, 120, "every expected alert")
        time.sleep(2.0)  # let any stray duplicate arrive
    finally:
        service.stop()
        producer.close()
    log = (tmp_path / "alert.log").read_text()
    assert "unavailable" in log, "the Redis restart never hit a delivery: the test proved nothing"
    ids = stream_ids(env)
    redis.Redis.from_url(stack.redis_url).delete(*(SEEN_KEY_PREFIX + i for i in expected))
    doubled = {i: n for i, n in Counter(ids).items() if n > 1}
    assert not doubled, f"alerts delivered twice: {doubled}"
    assert set(ids) == expected, log[-3000:]
    # the garbage and the unknown model version went to the dead-letter topic; the service went on
    consumer = bus.consumer(f"dlq-check-{uuid.uuid4().hex[:6]}")
    consumer.subscribe([env["VIGIL_TOPICS__DEAD_LETTER"]])
    letters: dict[tuple[int, int], contracts.DeadLetter] = {}
    deadline = time.monotonic() + 30
    while len(letters) < 2 and time.monotonic() < deadline:
        for r in consumer.poll(1.0):
            letter = contracts.decode_as(r.value, contracts.DeadLetter)
            letters[(letter.source_partition, letter.source_offset)] = letter  # at-least-once: by source
    consumer.close()
    assert sorted(letter.error_type for letter in letters.values()) == [
        "ContractError",
        "UnknownModelVersion",
    ]
    bus.close()
