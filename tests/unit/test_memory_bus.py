"""The in-memory bus behaves like Kafka where services rely on it."""

from __future__ import annotations

from streaming.bus import TopicPartition, TopicSpec, partition_for_key
from streaming.memory_bus import MemoryBus


class Recorder:
    def __init__(self) -> None:
        self.revoked: list[set[TopicPartition]] = []
        self.assigned: list[set[TopicPartition]] = []

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.revoked.append(revoked)

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.assigned.append(assigned)


def make_bus() -> MemoryBus:
    bus = MemoryBus()
    bus.ensure_topics([TopicSpec("v", 4), TopicSpec("a", 4)])
    return bus


def test_key_goes_to_same_partition_number_on_both_topics() -> None:
    bus = make_bus()
    p = bus.producer()
    for cam in ("c1", "c2", "gate-3"):
        dv = p.send("v", b"x", key=cam.encode()).get()
        da = p.send("a", b"y", key=cam.encode()).get()
        assert dv.partition == da.partition == partition_for_key(cam.encode(), 4)


def test_manual_commit_and_redelivery() -> None:
    bus = make_bus()
    p = bus.producer()
    for i in range(10):
        p.send("v", str(i).encode(), key=b"c1")
    c = bus.consumer("g")
    c.subscribe(["v"])
    got = c.poll(0.5)
    assert [r.value for r in got] == [str(i).encode() for i in range(10)]
    tp = got[0].tp
    c.commit({tp: got[4].offset + 1})  # processed 0..4
    c.close()  # "crash" before committing the rest
    c2 = bus.consumer("g")
    c2.subscribe(["v"])
    again = c2.poll(0.5)
    assert [r.value for r in again] == [str(i).encode() for i in range(5, 10)]


def test_group_shares_partitions_and_keeps_topic_pairs_together() -> None:
    bus = make_bus()
    r1, r2 = Recorder(), Recorder()
    c1, c2 = bus.consumer("g"), bus.consumer("g")
    c1.subscribe(["v", "a"], r1)
    c1.poll(0)
    assert len(c1.assignment()) == 8
    c2.subscribe(["v", "a"], r2)
    c1.poll(0)
    c2.poll(0)
    a1, a2 = c1.assignment(), c2.assignment()
    assert not a1 & a2 and len(a1 | a2) == 8
    for assignment in (a1, a2):
        assert {tp.partition for tp in assignment if tp.topic == "v"} == {
            tp.partition for tp in assignment if tp.topic == "a"
        }
    assert r1.revoked and r2.assigned
    c2.close()
    c1.poll(0)
    assert len(c1.assignment()) == 8


def test_pause_resume() -> None:
    bus = make_bus()
    p = bus.producer()
    c = bus.consumer("g")
    c.subscribe(["v"])
    c.poll(0)
    p.send("v", b"1", key=b"c1")
    c.pause(c.assignment())
    assert c.poll(0.05) == []
    c.resume(c.paused())
    assert [r.value for r in c.poll(0.1)] == [b"1"]
