"""A malformed entry on the alert stream (any Redis client can XADD one) is skipped, never fatal.

Found by fuzzing the parser (tests/fuzz/fuzz_alerts.py): a subscriber used to stop on an entry
whose ``event`` was not JSON. Now it logs and skips it; a group acknowledges it so it does not stay
pending forever, and the alerts around it are delivered.
"""

from __future__ import annotations

import json
import uuid

import redis

from streaming.alerts_client import AlertsClient
from tests.integration.conftest import LocalStack


def good(n: int) -> dict[str, str]:
    event = {"id": f"inc-{n}", "type": "vigil.alert.raised.v1", "data": {"camera": "gate-3"}}
    return {"id": f"inc-{n}", "type": "raised", "camera": "gate-3", "event": json.dumps(event)}


def test_malformed_entries_are_skipped_and_acknowledged(stack: LocalStack) -> None:
    r = redis.Redis.from_url(stack.redis_url)
    stream = f"test:alerts:malformed:{uuid.uuid4().hex[:8]}"
    try:
        r.xadd(stream, good(1))
        r.xadd(stream, {"id": "x", "event": "{not json"})
        r.xadd(stream, {"id": b"\xff", "event": "[1]"})
        r.xadd(stream, good(2))
        client = AlertsClient(r, stream=stream)
        assert [a.id for a in client.read()] == ["inc-1", "inc-2"]
        client.ensure_group("g")
        got = list(client.consume("g", "c1"))
        assert [a.id for a in got] == ["inc-1", "inc-2"]
        for alert in got:
            client.ack("g", alert)
        assert client.pending_count("g") == 0
    finally:
        r.delete(stream)
