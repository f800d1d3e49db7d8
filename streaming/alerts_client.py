"""Subscribing to Vigil alerts from Python: the durable stream (optionally in a consumer group) or live Pub/Sub.

    client = AlertsClient.from_config(load_config().redis)
    for alert in client.consume("dispatch", "worker-1", claim_idle_ms=30_000, follow=True):
        handle(alert.event)           # the CloudEvent (dict)
        client.ack("dispatch", alert)  # XACK: without it the entry stays pending and is re-delivered

In a group, entries a crashed consumer read but never acknowledged stay pending; ``consume``
first re-reads this consumer's own pending entries, then claims other consumers' entries idle
for ``claim_idle_ms`` with XAUTOCLAIM, then reads new ones. Delivery is at-least-once: the alert
id (``event["id"]``) is stable, so a handler can deduplicate.
Pub/Sub (:meth:`AlertsClient.live`) is lower latency but at-most-once: a disconnected
subscriber misses alerts forever.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, cast

import redis

from streaming.alert_store import redis_client
from streaming.config import RedisConfig

BLOCK_MS: Final = 1000


@dataclass(frozen=True, slots=True)
class ReceivedAlert:
    """An alert read from the stream."""

    entry_id: str  # the stream entry id (for XACK)
    id: str  # the alert's CloudEvent id
    type: str  # raised / updated / resolved
    camera: str
    event: dict[str, Any]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _parse(entry_id: Any, fields: dict[Any, Any]) -> ReceivedAlert:
    f = {_text(k): v for k, v in fields.items()}
    event = json.loads(_text(f.get("event", "{}")))
    return ReceivedAlert(
        _text(entry_id), _text(f.get("id", "")), _text(f.get("type", "")), _text(f.get("camera", "")), event
    )


class AlertsClient:
    """Reads alerts from the Redis stream and channel named in :class:`RedisConfig`."""

    def __init__(
        self, client: redis.Redis, *, stream: str = "vigil:alerts", channel: str = "vigil:alerts:live"
    ):
        self.redis = client
        self.stream = stream
        self.channel = channel

    @classmethod
    def from_config(cls, config: RedisConfig) -> AlertsClient:
        """A client for the configured Redis (blocking reads need a longer socket timeout)."""
        client = redis_client(config, socket_timeout_s=config.socket_timeout_s + BLOCK_MS / 1000)
        return cls(client, stream=config.stream, channel=config.channel)

    # -- without a group ------------------------------------------------------------------------
    def read(
        self, *, last: int | None = None, after: str = "0", follow: bool = False, camera: str | None = None
    ) -> Iterator[ReceivedAlert]:
        """Entries after ``after`` (or the ``last`` N), then, with ``follow``, new ones as they come."""
        cursor = after
        if last is not None:
            newest = cast(list[Any], self.redis.xrevrange(self.stream, count=last))
            for entry_id, fields in reversed(newest):
                cursor = _text(entry_id)
                alert = _parse(entry_id, fields)
                if camera is None or alert.camera == camera:
                    yield alert
            if not newest:
                cursor = "$" if follow else "0"
        while True:
            resp = cast(
                list[Any],
                self.redis.xread({self.stream: cursor}, count=100, block=BLOCK_MS if follow else None),
            )
            entries = resp[0][1] if resp else []
            for entry_id, fields in entries:
                cursor = _text(entry_id)
                alert = _parse(entry_id, fields)
                if camera is None or alert.camera == camera:
                    yield alert
            if not entries and not follow:
                return

    # -- consumer groups ------------------------------------------------------------------------
    def ensure_group(self, group: str, start: str = "0") -> None:
        """Create ``group`` (reading from ``start``: "0" = all history, "$" = new only) if missing."""
        try:
            self.redis.xgroup_create(self.stream, group, id=start, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def claim_pending(self, group: str, consumer: str, min_idle_ms: int) -> list[ReceivedAlert]:
        """XAUTOCLAIM every entry of ``group`` idle for ``min_idle_ms``: they become ``consumer``'s."""
        claimed: list[ReceivedAlert] = []
        cursor = "0-0"
        while True:
            resp: list[Any] = self.redis.xautoclaim(
                self.stream, group, consumer, min_idle_ms, cursor, count=100
            )
            cursor = _text(resp[0])
            claimed.extend(_parse(eid, fields) for eid, fields in resp[1] if fields is not None)
            if cursor == "0-0":
                return claimed

    def consume(
        self,
        group: str,
        consumer: str,
        *,
        follow: bool = False,
        claim_idle_ms: int | None = None,
        camera: str | None = None,
    ) -> Iterator[ReceivedAlert]:
        """Own pending entries, then claimed ones, then new ones. Ack each with :meth:`ack`.

        With ``camera``, entries of other cameras are acknowledged unseen (this group skips them).
        """
        self.ensure_group(group)
        for alert in self._own_pending(group, consumer):
            yield from self._filter(group, alert, camera)
        if claim_idle_ms is not None:
            for alert in self.claim_pending(group, consumer, claim_idle_ms):
                yield from self._filter(group, alert, camera)
        while True:
            resp = cast(
                list[Any],
                self.redis.xreadgroup(
                    group, consumer, {self.stream: ">"}, count=100, block=BLOCK_MS if follow else None
                ),
            )
            entries = resp[0][1] if resp else []
            for entry_id, fields in entries:
                yield from self._filter(group, _parse(entry_id, fields), camera)
            if not entries and not follow:
                return

    def _own_pending(self, group: str, consumer: str) -> Iterator[ReceivedAlert]:
        cursor = "0"
        while True:
            resp = cast(list[Any], self.redis.xreadgroup(group, consumer, {self.stream: cursor}, count=100))
            entries = resp[0][1] if resp else []
            if not entries:
                return
            for entry_id, fields in entries:
                if fields:
                    yield _parse(entry_id, fields)
                else:  # trimmed away by MAXLEN while pending: nothing left to handle
                    self.redis.xack(self.stream, group, entry_id)
            cursor = _text(entries[-1][0])

    def _filter(self, group: str, alert: ReceivedAlert, camera: str | None) -> Iterator[ReceivedAlert]:
        if camera is None or alert.camera == camera:
            yield alert
        else:
            self.ack(group, alert)

    def ack(self, group: str, alert: ReceivedAlert) -> None:
        """XACK: the alert is handled and leaves the group's pending list."""
        self.redis.xack(self.stream, group, alert.entry_id)

    def pending_count(self, group: str) -> int:
        """How many entries of ``group`` are read but not acknowledged."""
        summary: dict[str, Any] = self.redis.xpending(self.stream, group)
        return int(summary.get("pending", 0))

    # -- live -----------------------------------------------------------------------------------
    def live(self, *, camera: str | None = None, timeout_s: float | None = None) -> Iterator[dict[str, Any]]:
        """CloudEvents from the Pub/Sub channel as published (at-most-once); stop after ``timeout_s`` idle."""
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        pubsub.subscribe(self.channel)
        idle_since = time.monotonic()
        try:
            while True:
                message = pubsub.get_message(timeout=BLOCK_MS / 1000)
                if message is None:  # nothing, or the subscribe confirmation
                    if timeout_s is not None and time.monotonic() - idle_since >= timeout_s:
                        return
                    continue
                idle_since = time.monotonic()
                event = json.loads(_text(message["data"]))
                if camera is None or event.get("data", {}).get("camera") == camera:
                    yield event
        finally:
            pubsub.close()

    def close(self) -> None:
        """Close connections."""
        self.redis.close()
