"""The Kafka bus against the real local broker. Every test counts sequence numbers as its oracle.

Topics are unique per test; consumers use short session timeouts so a killed member's
partitions move within seconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from streaming import contracts
from streaming.bus import BusError, ProducerFull, Record, TopicPartition, TopicSpec
from streaming.config import KafkaConfig
from streaming.deadletter import DeadLetterSink, decode_or_dead_letter
from streaming.kafka_bus import KafkaBus, KafkaBusConsumer, backoff_delays

ROOT = Path(__file__).resolve().parents[2]
MEMBER = Path(__file__).with_name("kafka_member.py")


_CREATED: list[str] = []


def unique(name: str) -> str:
    """A fresh topic (or group) name; topics are deleted after the test."""
    topic = f"it.{name}.{uuid.uuid4().hex[:8]}"
    _CREATED.append(topic)
    return topic


@pytest.fixture
def bus(stack) -> Iterator[KafkaBus]:
    kafka_bus = KafkaBus(
        KafkaConfig(bootstrap_servers=stack.kafka_bootstrap),
        "it",
        connect_timeout_s=20,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        max_poll_interval_ms=10_000,
    )
    yield kafka_bus
    kafka_bus.delete_topics(_CREATED)
    _CREATED.clear()
    kafka_bus.close()


def produce(bus: KafkaBus, topic: str, items: list[tuple[bytes | None, bytes]]) -> None:
    producer = bus.producer(client_id="it-producer")
    try:
        for key, value in items:
            producer.send(topic, value, key=key)
        producer.flush(30)
    finally:
        producer.close(10)


def poll_until(
    consumer: KafkaBusConsumer, done: Callable[[list[Record]], bool], timeout_s: float = 30
) -> list[Record]:
    got: list[Record] = []
    deadline = time.monotonic() + timeout_s
    while not done(got):
        assert time.monotonic() < deadline, f"timed out after {len(got)} records"
        got += consumer.poll(0.5)
    return got


# -- round trip ----------------------------------------------------------------------------------
def test_round_trip_of_frame_sized_records(bus: KafkaBus) -> None:
    topic = unique("roundtrip")
    bus.ensure_topics([TopicSpec(topic, 4, 3_600_000)])
    bus.ensure_topics([TopicSpec(topic, 4, 3_600_000)])  # idempotent
    n, rng = 200, random.Random(7)
    sent: dict[int, str] = {}
    producer = bus.producer(client_id="it-roundtrip")
    futures = []
    for seq in range(n):
        body = rng.randbytes(30_000)
        sent[seq] = hashlib.sha256(body).hexdigest()
        key = f"cam-{seq % 7}".encode()
        headers = [("seq", str(seq).encode())]
        futures.append(producer.send(topic, struct.pack(">Q", seq) + body, key=key, headers=headers))
    producer.flush(30)
    delivered = [f.get(5) for f in futures]
    producer.close(10)
    assert all(f.is_done() for f in futures)
    assert {d.topic for d in delivered} == {topic}

    consumer = bus.consumer(unique("g"), client_id="it-roundtrip")
    consumer.subscribe([topic])
    try:
        records = poll_until(consumer, lambda got: len(got) >= n)
    finally:
        consumer.close()

    seqs = [struct.unpack(">Q", r.value[:8])[0] for r in records]
    assert sorted(seqs) == list(range(n)), "every sequence number exactly once"
    for r, seq in zip(records, seqs, strict=True):
        assert hashlib.sha256(r.value[8:]).hexdigest() == sent[seq]
        assert r.headers == (("seq", str(seq).encode()),)
        assert r.key == f"cam-{seq % 7}".encode()
    per_camera: dict[bytes | None, list[int]] = {}
    for r, seq in zip(records, seqs, strict=True):
        per_camera.setdefault(r.key, []).append(seq)
    assert all(s == sorted(s) for s in per_camera.values()), "per-camera order kept"


# -- non-blocking send -----------------------------------------------------------------------------
def test_non_blocking_send_refuses_when_the_buffer_is_full_and_loses_nothing_accepted(stack) -> None:
    config = KafkaConfig(bootstrap_servers=stack.kafka_bootstrap, buffer_memory=1024 * 1024, linger_ms=50)
    small = KafkaBus(config, "it-full", connect_timeout_s=20)
    topic = unique("full")
    small.ensure_topics([TopicSpec(topic, 2)])
    producer = small.producer(client_id="it-full")
    accepted: list[int] = []
    refused = 0
    try:
        for seq in range(300):  # 9 MB offered at once into a 1 MB buffer
            try:
                producer.send(topic, str(seq).encode().ljust(30_000), key=b"cam", block=False)
                accepted.append(seq)
            except ProducerFull:
                refused += 1
        producer.flush(30)
        assert producer.pending_bytes == 0
        producer.send(topic, b"after".ljust(30_000), key=b"cam", block=False).get(10)  # room again
    finally:
        producer.close(10)
    assert refused > 0 and accepted, "some refused immediately, some went"
    consumer = small.consumer(unique("g"), client_id="it-full")
    consumer.subscribe([topic])
    try:
        records = poll_until(consumer, lambda got: len(got) >= len(accepted) + 1)
    finally:
        consumer.close()
        small.close()
    values = [r.value.rstrip() for r in records]
    assert values[:-1] == [str(s).encode() for s in accepted] and values[-1] == b"after"


# -- pause ---------------------------------------------------------------------------------------
def test_paused_partition_returns_nothing_even_if_already_fetched(bus: KafkaBus) -> None:
    topic = unique("pause")
    bus.ensure_topics([TopicSpec(topic, 1)])
    produce(bus, topic, [(b"cam", str(i).encode()) for i in range(100)])
    consumer = bus.consumer(unique("g"), client_id="it-pause")
    consumer.subscribe([topic])
    try:
        first: list[Record] = []
        deadline = time.monotonic() + 30
        while not first:
            assert time.monotonic() < deadline
            first = consumer.poll(0.5, max_records=5)
        # The fetch brought all 100 (they are tiny); we took 5, the rest wait in the fetcher.
        assert len(first) <= 5
        consumer.pause(consumer.assignment())
        assert consumer.paused() == {TopicPartition(topic, 0)}
        while_paused: list[Record] = []
        for _ in range(4):
            while_paused += consumer.poll(0.5)
        assert while_paused == []
        consumer.resume(consumer.assignment())
        rest = poll_until(consumer, lambda got: len(first) + len(got) >= 100)
    finally:
        consumer.close()
    assert [int(r.value) for r in first + rest] == list(range(100))


# -- group: SIGKILL of one member ---------------------------------------------------------------
class Member:
    """A kafka_member.py subprocess and the events it printed."""

    def __init__(self, bootstrap: str, topic: str, group: str, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(MEMBER),
                "--bootstrap",
                bootstrap,
                "--topic",
                topic,
                "--group",
                group,
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self.events: list[dict[str, object]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.append(json.loads(line))

    def wait_for(self, check: Callable[[list[dict[str, object]]], bool], timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while not check(list(self.events)):
            assert self.proc.poll() is None, f"member exited with {self.proc.returncode}"
            assert time.monotonic() < deadline, f"member did not get there; events: {self.events[-5:]}"
            time.sleep(0.05)

    def processed(self) -> list[dict[str, object]]:
        return [e for e in list(self.events) if e["event"] == "processed"]

    def committed(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for e in list(self.events):
            if e["event"] == "committed":
                offsets = e["offsets"]
                assert isinstance(offsets, dict)
                out.update({int(p): int(o) for p, o in offsets.items()})
        return out

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._reader.join(5)


class CommittingListener:
    """The service pattern: on revoke, commit what is processed; record any error."""

    def __init__(self) -> None:
        self.consumer: KafkaBusConsumer | None = None
        self.processed: dict[TopicPartition, int] = {}
        self.errors: list[BaseException] = []
        self.revocations = 0

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.revocations += 1
        assert self.consumer is not None
        try:
            self.consumer.commit({tp: o for tp, o in self.processed.items() if tp in revoked})
        except BaseException as exc:  # surfaced by the test, not lost in kafka-python's log
            self.errors.append(exc)

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        pass


def test_sigkilled_member_partitions_move_with_no_record_lost(bus: KafkaBus, stack) -> None:
    topic, group = unique("failover"), unique("g")
    bus.ensure_topics([TopicSpec(topic, 4)])
    n = 240
    produce(bus, topic, [(f"cam-{i % 8}".encode(), str(i).encode()) for i in range(n // 2)])

    victim = Member(stack.kafka_bootstrap, topic, group, "--delay-s", "0.02")
    try:
        victim.wait_for(lambda ev: any(e["event"] == "assigned" for e in ev))
        survivor = bus.consumer(group, client_id="it-survivor")
        listener = CommittingListener()
        listener.consumer = survivor
        survivor.subscribe([topic], listener)
        mine: list[Record] = []

        def step() -> None:
            records = survivor.poll(0.2)
            mine.extend(records)
            for r in records:
                listener.processed[r.tp] = r.offset + 1
            if records:
                survivor.commit(
                    {tp: o for tp, o in listener.processed.items() if tp in survivor.assignment()}
                )

        deadline = time.monotonic() + 30
        while len(survivor.assignment()) != 2:  # the group shares 4 partitions 2 + 2
            assert time.monotonic() < deadline, "group never shared the partitions"
            step()
        shared = survivor.assignment()
        produce(bus, topic, [(f"cam-{i % 8}".encode(), str(i).encode()) for i in range(n // 2, n)])
        victim.wait_for(lambda ev: sum(e["event"] == "processed" for e in ev) >= 20)
        victim.kill()  # SIGKILL: no leave-group, no commit of what is in hand

        deadline = time.monotonic() + 30
        while True:
            step()
            ends = survivor.end_offsets(survivor.assignment())
            if len(survivor.assignment()) == 4 and all(
                listener.processed.get(tp, -1) >= e or e == 0 for tp, e in ends.items()
            ):
                break
            assert time.monotonic() < deadline, "survivor never took over and drained"
    finally:
        if victim.proc.poll() is None:
            victim.kill()
    survivor.close()

    by_victim = {int(str(e["seq"])) for e in victim.processed()}
    by_survivor = [int(r.value) for r in mine]
    assert len(shared) == 2 and len({tp.partition for tp in shared}) == 2
    assert set(by_survivor) | by_victim == set(range(n)), "no record lost"
    assert listener.errors == [], "commit inside on_partitions_revoked must work"
    assert listener.revocations >= 1
    # The survivor starts each partition where the group's commits left it: nothing the victim
    # committed is read again.
    for partition, offset in victim.committed().items():
        assert all(r.offset >= offset for r in mine if r.partition == partition)


def test_member_killed_before_commit_has_its_records_read_again(bus: KafkaBus, stack) -> None:
    topic, group = unique("recommit"), unique("g")
    bus.ensure_topics([TopicSpec(topic, 2)])
    n = 60
    produce(bus, topic, [(f"cam-{i % 4}".encode(), str(i).encode()) for i in range(n)])

    victim = Member(stack.kafka_bootstrap, topic, group, "--commit-limit", "20")
    try:
        victim.wait_for(lambda ev: sum(e["event"] == "processed" for e in ev) >= n)
        time.sleep(0.5)  # it would have committed by now if it were going to
    finally:
        victim.kill()
    committed = victim.committed()
    processed = victim.processed()
    assert len(processed) == n and sum(committed.values()) == 20

    consumer = bus.consumer(group, client_id="it-after-kill")
    consumer.subscribe([topic])
    try:
        expected = n - 20
        again = poll_until(consumer, lambda got: len(got) >= expected)
        for _ in range(2):
            again += consumer.poll(0.3)  # nothing more arrives
        for p, offset in committed.items():
            assert consumer.committed(TopicPartition(topic, p)) == offset
    finally:
        consumer.close()

    uncommitted = {
        int(str(e["seq"]))
        for e in processed
        if int(str(e["offset"])) >= committed.get(int(str(e["partition"])), 0)
    }
    assert len(uncommitted) == n - 20
    assert sorted(int(r.value) for r in again) == sorted(uncommitted), (
        "exactly the processed-but-uncommitted records are read again"
    )


# -- dead letters --------------------------------------------------------------------------------
def _chunk(seq: int) -> bytes:
    return contracts.encode(
        contracts.AudioChunk(
            "cam-1", "s1", seq, 1_700_000_000_000_000_000 + seq, 16000, 1, "s16le", 400, b"\0" * 800
        )
    )


def test_garbage_goes_to_the_dead_letter_topic_and_is_counted(bus: KafkaBus) -> None:
    topic, dlq = unique("media"), unique("dlq")
    bus.ensure_topics([TopicSpec(topic, 1), TopicSpec(dlq, 1)])
    garbage = {3: b"not a vigil record", 7: b"VG\x41\x01" + b"\xff" * 20, 11: _chunk(11)[:-5]}
    items = [(b"cam-1", garbage.get(i, _chunk(i))) for i in range(15)]
    produce(bus, topic, items)

    registry = CollectorRegistry()
    producer = bus.producer(client_id="it-dlq")
    sink = DeadLetterSink(producer, dlq, "it-service", registry)
    consumer = bus.consumer(unique("g"), client_id="it-dlq")
    consumer.subscribe([topic])
    decoded: list[int] = []
    try:
        records = poll_until(consumer, lambda got: len(got) >= 15)
        for r in records:
            item = decode_or_dead_letter(r, sink)
            if item is not None:
                assert isinstance(item, contracts.AudioChunk)
                decoded.append(item.seq)
        producer.flush(10)
        consumer.commit({TopicPartition(topic, 0): records[-1].offset + 1})
    finally:
        consumer.close()
        producer.close(5)

    assert decoded == [i for i in range(15) if i not in garbage], "the consumer went on past garbage"
    count = registry.get_sample_value(
        "vigil_dead_letters_total", {"service": "it-service", "topic": topic, "reason_type": "contract"}
    )
    assert count == len(garbage)

    reader = bus.consumer(unique("g"), client_id="it-dlq-reader")
    reader.subscribe([dlq])
    try:
        letters = [
            contracts.decode_as(r.value, contracts.DeadLetter)
            for r in poll_until(reader, lambda g: len(g) >= 3)
        ]
    finally:
        reader.close()
    assert sorted(letter.source_offset for letter in letters) == sorted(garbage)
    for letter in letters:
        assert letter.payload == garbage[letter.source_offset]
        assert letter.camera_id == "cam-1" and letter.source_topic == topic and letter.service == "it-service"
        assert letter.error_type == "ContractError" and letter.reason


# -- unreachable ---------------------------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when we return: nothing listens there


def test_unreachable_kafka_names_the_address_and_backs_off(caplog: pytest.LogCaptureFixture) -> None:
    port = _closed_port()
    config = KafkaConfig(
        bootstrap_servers=f"127.0.0.1:{port}",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="vigil",
        sasl_password="hunter2-secret",  # type: ignore[arg-type]
        connect_retry_max_s=1.0,
    )
    kafka_bus = KafkaBus(config, "it-unreachable", attempt_timeout_s=1.0)
    caplog.set_level(logging.WARNING, logger="streaming.kafka_bus")
    with pytest.raises(BusError) as info:
        kafka_bus.wait_until_reachable(timeout_s=4.0)
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message and "unreachable" in message and "refused" in message
    assert "hunter2" not in message
    attempts = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(attempts) >= 2, "retries with backoff, each attempt logged"
    assert all(f"127.0.0.1:{port}" in r.getMessage() and "hunter2" not in r.getMessage() for r in attempts)
    assert all(r.exc_info is None for r in caplog.records), "no traceback in the logs"


def test_backoff_is_capped_exponential_with_jitter() -> None:
    delays = backoff_delays(0.5, 4.0, random.Random(1))
    got = [next(delays) for _ in range(8)]
    bounds = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert all(b / 2 <= d <= b for d, b in zip(got, bounds, strict=True))
    assert len(set(got)) == len(got), "jittered"


def test_a_member_subscribing_to_topics_created_a_moment_ago_gets_their_partitions(bus: KafkaBus) -> None:
    """Fusion creates its topics and subscribes at once: the group leader must assign with the new
    topics' partitions known (without them it gave itself nothing and, seen in CI and in
    `vigil bench e2e`, never rebalanced). Every round is fresh topics and a fresh group."""
    for _ in range(4):
        topics = [unique("fresh-video"), unique("fresh-audio")]
        bus.ensure_topics([TopicSpec(t, 3, 60_000) for t in topics])
        consumer = bus.consumer(unique("fresh-group"), client_id="it-fresh")
        try:
            consumer.subscribe(topics)
            deadline = time.monotonic() + 20
            while not consumer.assignment() and time.monotonic() < deadline:
                consumer.poll(0.2)
            assert consumer.assignment() == {TopicPartition(t, p) for t in topics for p in range(3)}
        finally:
            consumer.close()
