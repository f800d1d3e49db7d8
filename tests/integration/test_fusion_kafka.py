"""`vigil fusion` as a process on real Kafka, with generated media records and the stub model.

What it shows (issue 5): exact windows with the right frames and samples; kill -9 mid-stream
loses nothing and duplicates only windows the crash left uncommitted; a worker added mid-stream
(rebalance) loses nothing and never emits an unflagged partial window; an audio stream that stops
gives flagged video-only windows after the lateness bound; a poison record goes to the dead-letter
topic and the worker goes on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from streaming import contracts
from streaming.bus import TopicPartition
from streaming.config import KafkaConfig, VigilConfig
from streaming.kafka_bus import KafkaBus
from streaming.runtime import topic_specs
from tests.fusion_stub_model import (
    NS,
    Media,
    build_stub_model,
    expected_anomaly,
    media_records,
    stub_contract,
)

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = stub_contract()
S = CONTRACT.samples_per_window
FUSION = [sys.executable, "-m", "services.cli", "fusion"]


@dataclass
class Env:
    vars: dict[str, str]
    topics: dict[str, str]
    group: str
    tmp: Path

    def config(self) -> VigilConfig:
        return VigilConfig.model_validate({"kafka": {"partitions": 2}, "topics": self.topics})


@pytest.fixture
def env(stack: object, tmp_path: Path) -> Iterator[Env]:
    u = uuid.uuid4().hex[:8]
    topics = {
        "video": f"vigil.test.video.{u}",
        "audio": f"vigil.test.audio.{u}",
        "scores": f"vigil.test.scores.{u}",
        "dead_letter": f"vigil.test.deadletter.{u}",
    }
    model = build_stub_model(tmp_path / "stub.onnx", CONTRACT)
    values = {
        "VIGIL_TOPICS__VIDEO": topics["video"],
        "VIGIL_TOPICS__AUDIO": topics["audio"],
        "VIGIL_TOPICS__SCORES": topics["scores"],
        "VIGIL_TOPICS__DEAD_LETTER": topics["dead_letter"],
        "VIGIL_FUSION__GROUP_ID": f"vigil-fusion-test-{u}",
        "VIGIL_FUSION__MODEL_PATH": str(model),
        "VIGIL_FUSION__PROVIDERS": '["CPUExecutionProvider"]',
        "VIGIL_FUSION__LATENESS_S": "1.5",
        "VIGIL_FUSION__IDLE_TIMEOUT_S": "4",
        "VIGIL_FUSION__MAX_BATCH": "8",
        "VIGIL_FUSION__MAX_WAIT_MS": "20",
        "VIGIL_KAFKA__PARTITIONS": "2",
        "VIGIL_HTTP__PORT": "0",
        "VIGIL_LOG_LEVEL": "INFO",
    }
    e = Env(
        {**os.environ, "PYTHONPATH": str(ROOT), **values}, topics, values["VIGIL_FUSION__GROUP_ID"], tmp_path
    )
    bus = KafkaBus(KafkaConfig(partitions=2))
    bus.ensure_topics(topic_specs(e.config()))
    bus.close()
    yield e
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers="127.0.0.1:9092")
    existing = set(admin.list_topics())
    names = [t for t in (*topics.values(), topics["scores"] + ".replay") if t in existing]
    with contextlib.suppress(Exception):  # best effort: leftovers are harmless, names are unique
        admin.delete_topics(names)
    admin.close()


class Worker:
    """A `vigil fusion` subprocess."""

    def __init__(self, env: Env, name: str) -> None:
        self.env, self.log = env, env.tmp / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                FUSION,
                cwd=ROOT,
                env=self.env.vars,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill9()

    def http_get(self, path: str) -> tuple[int, str]:
        """GET ``path`` on the worker's health port (read from its start-up log line)."""
        import re
        import urllib.error
        import urllib.request

        match = re.search(r"metrics on :(\d+)/metrics", self.log.read_text(errors="replace"))
        assert match, self.tail()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{match.group(1)}{path}", timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


class Producer:
    """Publishes generated media, remembering where each record landed."""

    def __init__(self, env: Env) -> None:
        self.bus = KafkaBus(KafkaConfig(partitions=2))
        self.producer = self.bus.producer()
        self.env = env
        self.landed: list[tuple[Media, TopicPartition, int]] = []

    def send(self, records: list[Media], pace_s: float = 0.0) -> None:
        for m in records:
            topic = self.env.topics[m.kind]
            d = self.producer.send(topic, m.value, key=m.key).get(30)
            self.landed.append((m, TopicPartition(d.topic, d.partition), d.offset))
            if pace_s:
                time.sleep(pace_s)
        self.producer.flush(30)

    def close(self) -> None:
        self.producer.close()
        self.bus.close()


class ScoreReader:
    """Reads the scores topic from the start with its own group."""

    def __init__(self, topic: str) -> None:
        self.bus = KafkaBus(KafkaConfig(partitions=2))
        self.consumer = self.bus.consumer(f"score-reader-{uuid.uuid4().hex[:6]}")
        self.consumer.subscribe([topic])
        self.scores: list[contracts.WindowScore] = []

    def poll(self) -> list[contracts.WindowScore]:
        for r in self.consumer.poll(0.5):
            self.scores.append(contracts.decode_as(r.value, contracts.WindowScore))
        return self.scores

    def close(self) -> None:
        self.consumer.close()
        self.bus.close()


def wait_for(cond, timeout: float, what: str, workers: list[Worker]) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {w.log.name}\n{w.tail()}" for w in workers)
            pytest.fail(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.2)


def t0_now(offset_s: float = 0.0) -> int:
    """A capture start near now, 0.1 s off the grid."""
    return (time.time_ns() // NS - 120 + int(offset_s)) * NS + 100_000_000


def complete_windows(t0: int, seconds: float) -> list[int]:
    """Start (ns) of every window that both modalities cover: start > t0, end <= last frame."""
    last_frame = t0 + int((seconds * CONTRACT.fps - 1) * NS / CONTRACT.fps)
    first = t0 // NS + 1
    return [k * NS for k in range(first, (last_frame - 2 * NS) // NS + 1)]


def check_complete(score: contracts.WindowScore, t0: int) -> None:
    assert (score.num_frames, score.num_audio_samples, score.missing, score.flags) == (8, S, (), ()), score
    assert score.anomaly == pytest.approx(expected_anomaly(score.window_start_ns, t0, CONTRACT), abs=1e-5)


def test_exact_windows_audio_stop_and_poison(env: Env) -> None:
    t0 = t0_now()
    seconds = 10.0
    cams = {"gate-1": None, "gate-2": None, "mute": t0 + 4 * NS}  # "mute": audio stops at t0 + 4 s
    records = {
        c: media_records(c, f"{c}-s1", t0, seconds, CONTRACT, audio_until_ns=stop) for c, stop in cams.items()
    }
    producer = Producer(env)
    reader = ScoreReader(env.topics["scores"])
    worker = Worker(env, "fusion").start()
    try:
        half = {c: len(r) // 2 for c, r in records.items()}
        producer.send([m for c, r in records.items() for m in r[: half[c]]])
        producer.producer.send(env.topics["video"], b"poison: not a vigil record", key=b"gate-1").get(30)
        producer.send([m for c, r in records.items() for m in r[half[c] :]])
        expected = complete_windows(t0, seconds)
        per_cam = len(expected) + 2  # + the idle-closed tail

        def done() -> bool:
            got = reader.poll()
            return all(sum(1 for s in got if s.camera_id == c) >= per_cam for c in cams)

        wait_for(done, 90, "every window of every camera", [worker])
        assert worker.alive(), worker.tail()
        assert worker.http_get("/readyz")[0] == 200  # model warm, partitions assigned
        assert worker.http_get("/healthz")[0] == 200
        status, metrics = worker.http_get("/metrics")
        assert (
            status == 200 and 'vigil_fusion_windows_scored_total{camera="gate-1",missing="none"}' in metrics
        )
    finally:
        worker.stop()
        producer.close()
    time.sleep(0.5)
    scores = reader.poll()
    reader.close()
    by_cam: dict[str, list[contracts.WindowScore]] = defaultdict(list)
    for s in scores:
        by_cam[s.camera_id].append(s)
    for cam in ("gate-1", "gate-2"):
        mine = {s.window_start_ns: s for s in by_cam[cam]}
        assert len(mine) == len(by_cam[cam])  # one score per window
        full = sorted(start for start, s in mine.items() if not s.flags)
        assert full == expected  # exactly the expected set of complete windows...
        for start in full:
            check_complete(mine[start], t0)  # ...each with the right frames and samples
        assert all("idle" in s.flags for s in mine.values() if s.flags)
    # the audio of "mute" stops at t0 + 4 s: later windows are video-only, flagged, after the bound
    mute = sorted(by_cam["mute"], key=lambda s: s.window_start_ns)
    stop = cams["mute"]
    assert stop is not None
    for s in mute:
        if s.window_end_ns <= stop:
            check_complete(s, t0)
        elif s.window_start_ns >= stop + 500_000_000:  # no sample of the last 0.25 s chunk inside
            assert s.missing == ("audio",) and s.contribution["audio"] == 0.0, s
            assert {"watermark", "idle"} & set(s.flags), s
        else:
            assert "partial_audio" in s.flags and s.num_audio_samples < S, s
    assert sum(1 for s in mute if s.missing == ("audio",)) >= 3
    # the poison record went to the dead-letter topic
    bus = KafkaBus(KafkaConfig(partitions=2))
    consumer = bus.consumer(f"dlq-{uuid.uuid4().hex[:6]}")
    consumer.subscribe([env.topics["dead_letter"]])
    letters: list[contracts.DeadLetter] = []
    deadline = time.monotonic() + 30
    while not letters and time.monotonic() < deadline:
        letters += [contracts.decode_as(r.value, contracts.DeadLetter) for r in consumer.poll(1.0)]
    consumer.close()
    bus.close()
    assert letters and letters[0].payload == b"poison: not a vigil record" and letters[0].service == "fusion"


def window_records(
    landed: list[tuple[Media, TopicPartition, int]], camera: str, start: int
) -> list[tuple[TopicPartition, int]]:
    """(tp, offset) of every record of ``camera`` with data inside the window starting at ``start``."""
    out = []
    rate = CONTRACT.sample_rate
    for m, tp, offset in landed:
        if m.key.decode() != camera:
            continue
        end_ns = m.capture_ns + (int(rate * 0.25) * NS // rate if m.kind == "audio" else 1)
        if m.capture_ns < start + 2 * NS and end_ns > start:
            out.append((tp, offset))
    return out


def run_stream(
    env: Env, cams: list[str], seconds: float, pace_s: float
) -> tuple[Producer, threading.Thread, int]:
    t0 = t0_now()
    per_cam = [media_records(c, f"{c}-s1", t0, seconds, CONTRACT) for c in cams]
    ordered = sorted((m for r in per_cam for m in r), key=lambda m: m.capture_ns)
    producer = Producer(env)
    feeder = threading.Thread(target=producer.send, args=(ordered, pace_s), daemon=True)
    feeder.start()
    return producer, feeder, t0


def test_kill9_mid_stream_loses_nothing_duplicates_only_uncommitted(env: Env) -> None:
    cams = ["cam-a", "cam-b", "cam-c", "cam-d"]
    seconds = 24.0
    reader = ScoreReader(env.topics["scores"])
    worker = Worker(env, "fusion-1").start()
    producer, feeder, t0 = run_stream(env, cams, seconds, pace_s=0.012)
    expected = complete_windows(t0, seconds)
    try:
        wait_for(lambda: len(reader.poll()) >= 12, 60, "the first scores", [worker])
        worker.kill9()
        bus = KafkaBus(KafkaConfig(partitions=2))
        probe = bus.consumer(env.group)  # reads the group's committed offsets (does not subscribe)
        committed = {
            TopicPartition(env.topics[k], p): probe.committed(TopicPartition(env.topics[k], p)) or 0
            for k in ("video", "audio")
            for p in range(2)
        }
        probe.close()
        bus.close()
        worker = Worker(env, "fusion-2").start()
        feeder.join(120)

        def all_scored() -> bool:
            got = {(s.camera_id, s.window_start_ns) for s in reader.poll() if not s.flags}
            return all((c, w) in got for c in cams for w in expected)

        wait_for(all_scored, 120, "every expected window after the restart", [worker])
    finally:
        worker.stop()
        producer.close()
    scores = reader.poll()
    reader.close()
    seen: dict[str, list[contracts.WindowScore]] = defaultdict(list)
    for s in scores:
        seen[s.window_id].append(s)
    for cam in cams:
        for start in expected:
            wid = f"{cam}/{cam}-s1/{start}"
            assert wid in seen, f"window {wid} lost"
            for s in seen[wid]:
                if not s.flags:
                    check_complete(s, t0)
    duplicates = {wid: ss for wid, ss in seen.items() if len(ss) > 1}
    for wid, ss in duplicates.items():
        cam, _session, start_text = wid.split("/")
        # recognisably the same window: same id, same content
        assert len({(s.anomaly, s.num_frames, s.num_audio_samples, s.missing) for s in ss}) == 1, ss
        # only windows the crash left uncommitted (some record at or after the committed offset)
        recs = window_records(producer.landed, cam, int(start_text))
        assert any(offset >= committed[tp] for tp, offset in recs), wid
    assert len(duplicates) < len(seen) // 2
    print(
        f"kill -9: {len(seen)} windows scored, {len(duplicates)} scored twice (in flight), committed {committed}"
    )


def test_worker_added_mid_stream_no_loss_no_unflagged_partial(env: Env) -> None:
    cams = ["cam-a", "cam-b", "cam-c", "cam-d"]
    seconds = 20.0
    reader = ScoreReader(env.topics["scores"])
    first = Worker(env, "fusion-a").start()
    producer, feeder, t0 = run_stream(env, cams, seconds, pace_s=0.012)
    expected = complete_windows(t0, seconds)
    second = Worker(env, "fusion-b")
    try:
        wait_for(lambda: len(reader.poll()) >= 8, 60, "the first scores", [first])
        second.start()
        feeder.join(120)

        def all_scored() -> bool:
            got = {(s.camera_id, s.window_start_ns) for s in reader.poll() if not s.flags}
            return all((c, w) in got for c in cams for w in expected)

        try:
            wait_for(all_scored, 120, "every expected window with two workers", [first, second])
        except BaseException:
            got = {(s.camera_id, s.window_start_ns): s for s in reader.scores}
            missing = [
                (c, (w - t0) / NS) for c in cams for w in expected if (c, w) not in got or got[(c, w)].flags
            ]
            print(
                "MISSING",
                missing,
                [
                    (c, (w - t0) / NS, got[(c, w)].flags)
                    for c in cams
                    for w in expected
                    if (c, w) in got and got[(c, w)].flags
                ],
            )
            raise
        assert first.alive() and second.alive()
    finally:
        second.stop()
        first.stop()
        producer.close()
    scores = reader.poll()
    reader.close()
    print(f"rebalance: {len(scores)} scores, {len({s.window_id for s in scores})} windows")
    for s in scores:
        if not s.flags:  # an unflagged window is always assembled from all of its records
            check_complete(s, t0)
        else:
            assert s.missing or {"partial_video", "partial_audio"} & set(s.flags) or s.num_frames == 8, s


def test_replay_into_a_separate_topic_stops_at_the_end(env: Env) -> None:
    t0 = t0_now()
    seconds = 8.0
    producer = Producer(env)
    start_ms = time.time_ns() // 1_000_000 - 1000
    producer.send(
        [m for c in ("cam-r1", "cam-r2") for m in media_records(c, f"{c}-s1", t0, seconds, CONTRACT)]
    )
    producer.close()
    replay_topic = env.topics["scores"] + ".replay"
    log = env.tmp / "replay.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*FUSION, "--replay-from", str(start_ms), "--scores-topic", replay_topic],
            cwd=ROOT,
            env=env.vars,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            rc = proc.wait(90)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("replay did not stop at the end offsets:\n" + log.read_text()[-3000:])
    assert rc == 0, log.read_text()[-3000:]
    reader = ScoreReader(replay_topic)
    expected = complete_windows(t0, seconds)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len({s.window_id for s in reader.poll()}) < 2 * len(expected):
        pass
    replayed = reader.poll()
    reader.close()
    for cam in ("cam-r1", "cam-r2"):
        full = sorted(s.window_start_ns for s in replayed if s.camera_id == cam and not s.flags)
        assert full == expected
    assert all("flush" in s.flags for s in replayed if s.flags)  # the tail, closed at the end
    live = ScoreReader(env.topics["scores"])
    assert live.poll() == []  # the live scores topic is untouched
    live.close()
