"""AlertsClient through Redis outages, on a fake Redis: resume points, nothing handed out twice."""

from __future__ import annotations

import json
from typing import Any

import redis

from streaming.alerts_client import AlertsClient, RedisOutage


def entry(n: int) -> tuple[bytes, dict[bytes, bytes]]:
    event = {"id": f"alert-{n}", "data": {"camera": "cam-1"}}
    fields = {b"id": f"alert-{n}".encode(), b"type": b"raised", b"camera": b"cam-1"}
    return f"{n}-0".encode(), {**fields, b"event": json.dumps(event).encode()}


class FakeRedis:
    """Just enough of a stream with one consumer group; ``fail`` injects connection errors."""

    def __init__(self, n: int) -> None:
        self.entries = [entry(i) for i in range(1, n + 1)]
        self.delivered = 0  # the group's last-delivered position
        self.pending: list[bytes] = []  # the consumer's pending entry ids, in order
        self.fail: dict[str, int] = {}  # command -> how many calls fail
        self.lose_next_read = False  # Redis delivers the next ">" batch but the reply is lost
        self.pings = 0

    def _maybe_fail(self, command: str) -> None:
        if self.fail.get(command, 0) > 0:
            self.fail[command] -= 1
            raise redis.ConnectionError("Connection closed by server.")

    def ping(self) -> bool:
        self.pings += 1
        self._maybe_fail("ping")
        return True

    def xgroup_create(self, *args: Any, **kwargs: Any) -> None:
        self._maybe_fail("xgroup_create")
        raise redis.ResponseError("BUSYGROUP Consumer Group name already exists")

    def xreadgroup(self, group: str, consumer: str, streams: dict[str, str], **kwargs: Any) -> list[Any]:
        self._maybe_fail("xreadgroup")
        ((stream, cursor),) = streams.items()
        if cursor == ">":
            batch = self.entries[self.delivered : self.delivered + 2]
            self.delivered += len(batch)
            self.pending += [eid for eid, _ in batch]
            if self.lose_next_read and batch:
                self.lose_next_read = False
                raise redis.ConnectionError("Connection closed by server.")
            return [[stream, batch]] if batch else []
        after = int(cursor.split("-")[0])
        by_id = dict(self.entries)
        batch = [(eid, by_id[eid]) for eid in self.pending if int(eid.split(b"-")[0]) > after]
        return [[stream, batch]]

    def xack(self, stream: str, group: str, entry_id: str) -> int:
        self._maybe_fail("xack")
        self.pending.remove(entry_id.encode())
        return 1

    def xread(self, streams: dict[str, str], **kwargs: Any) -> list[Any]:
        self._maybe_fail("xread")
        ((stream, cursor),) = streams.items()
        after = int(cursor.split("-")[0])
        batch = [(eid, f) for eid, f in self.entries if int(eid.split(b"-")[0]) > after][:2]
        return [[stream, batch]] if batch else []


def client_for(fake: FakeRedis, outages: list[RedisOutage]) -> AlertsClient:
    return AlertsClient(
        fake,  # type: ignore[arg-type]
        stream="s",
        backoff_initial_s=0.01,
        backoff_max_s=0.01,
        on_outage=outages.append,
        sleep=lambda _s: None,
    )


def test_group_resumes_from_pending_entries_and_hands_out_nothing_twice() -> None:
    fake = FakeRedis(5)
    outages: list[RedisOutage] = []
    client = client_for(fake, outages)
    alerts = client.consume("ops", "c1", follow=True)
    first = next(alerts)
    client.ack("ops", first)
    held = next(alerts)  # handed out, not acknowledged yet when Redis goes away
    fake.lose_next_read = True  # alerts 3 and 4 are delivered by Redis but never arrive here
    fake.fail["ping"] = 2  # Redis is away for two probes
    third = next(alerts)
    fourth = next(alerts)
    fake.fail["xack"] = 1  # an acknowledgement during a second outage is retried, not lost
    for alert in (held, third, fourth):
        client.ack("ops", alert)
    fifth = next(alerts)
    client.ack("ops", fifth)
    assert [a.id for a in (first, held, third, fourth, fifth)] == [f"alert-{i}" for i in range(1, 6)]
    assert fake.pending == []
    assert [o.away_s is None for o in outages] == [True, False, True, False]
    assert outages[1].resume == 'group "ops" from its pending entries'
    assert "Redis back after" in outages[1].describe() and not outages[1].missed


def test_plain_follow_resumes_after_the_last_entry_read() -> None:
    fake = FakeRedis(5)
    outages: list[RedisOutage] = []
    reader = client_for(fake, outages).read(follow=True)
    got = [next(reader).id for _ in range(2)]
    fake.fail["xread"] = 1
    fake.fail["ping"] = 3
    got += [next(reader).id for _ in range(3)]
    assert got == [f"alert-{i}" for i in range(1, 6)]
    assert len(outages) == 2 and fake.pings == 4 and outages[1].resume == "the stream after entry 2-0"


def test_without_follow_a_lost_connection_is_an_error() -> None:
    fake = FakeRedis(3)
    fake.fail["xreadgroup"] = 1
    try:
        list(client_for(fake, []).consume("ops", "c1"))
    except redis.ConnectionError:
        pass
    else:
        raise AssertionError("expected a ConnectionError")


def test_live_outage_says_what_was_missed() -> None:
    line = RedisOutage("ConnectionError: x", "Pub/Sub channel c", away_s=3.25, missed=True).describe()
    assert line.startswith("Redis back after 3.2 s") and "were not seen here" in line
    assert RedisOutage("ConnectionError: x", "r").describe() == (
        "lost Redis (ConnectionError: x); reconnecting with backoff"
    )
