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

Following readers survive Redis going away (a restart, a failover, a network cut): on any
connection error they wait with capped, jittered backoff until Redis answers, then resume — a
group from its pending entries (nothing handed out and not yet acknowledged is handed out again),
the plain stream after the last entry read, Pub/Sub by subscribing again (what was published in
the gap is lost there). Each outage is reported to ``on_outage`` (default: logged) when it starts
and when it ends, with how long the reader was away.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, TypeVar, cast

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from streaming.alert_store import RedisSetupError, redis_client, setup_problem
from streaming.config import RedisConfig
from streaming.kafka_bus import backoff_delays

log = logging.getLogger(__name__)

BLOCK_MS: Final = 1000
CONNECTION_ERRORS: Final = (redis.ConnectionError, redis.TimeoutError)  # BusyLoadingError included
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RedisOutage:
    """A reader lost Redis (``away_s`` is None) or has it back after ``away_s`` seconds."""

    error: str  # what broke the connection (no credentials: redis-py names host and port only)
    resume: str  # how reading goes on, e.g. 'group "ops" from its pending entries'
    away_s: float | None = None
    missed: bool = False  # Pub/Sub: what was published while away is lost for this reader

    def describe(self) -> str:
        """One line for an operator."""
        if self.away_s is None:
            return f"lost Redis ({self.error}); reconnecting with backoff"
        line = f"Redis back after {self.away_s:.1f} s; resuming {self.resume}"
        if self.missed:
            line += (
                f"; alerts published during those {self.away_s:.1f} s were not seen here (Pub/Sub is "
                "at-most-once: read the stream, e.g. with a consumer group, to miss none)"
            )
        return line


def log_outage(outage: RedisOutage) -> None:
    """The default ``on_outage``: a warning per change."""
    log.warning("alerts subscriber: %s", outage.describe())


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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


def _text_or_repr(value: Any) -> str:
    try:
        return _text(value)
    except UnicodeDecodeError:
        return repr(value)


class AlertFormatError(ValueError):
    """A stream entry or Pub/Sub message that is not a Vigil alert.

    Any Redis client may write to the stream or the channel: subscribers log such entries and
    skip them (a group acknowledges them), they never stop on one.
    """


def parse_event(data: Any) -> dict[str, Any]:
    """The CloudEvent in ``data`` (JSON bytes or text); :class:`AlertFormatError` if it is not one."""
    try:
        event = json.loads(_text(data))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise AlertFormatError(f"alert event is not JSON: {type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(event, dict):
        raise AlertFormatError(f"alert event is a JSON {type(event).__name__}, expected an object")
    return event


def parse_alert(entry_id: Any, fields: dict[Any, Any]) -> ReceivedAlert:
    """An alert stream entry (fields ``id``, ``type``, ``camera``, ``event``); :class:`AlertFormatError` if malformed."""
    try:
        f = {_text(k): v for k, v in fields.items()}
        ids = (_text(entry_id), _text(f.get("id", "")), _text(f.get("type", "")), _text(f.get("camera", "")))
    except UnicodeDecodeError as exc:
        raise AlertFormatError(f"alert entry {entry_id!r}: a field is not UTF-8: {exc}") from None
    return ReceivedAlert(*ids, parse_event(f.get("event", "{}")))


def event_camera(event: dict[str, Any]) -> Any:
    """The camera id of a CloudEvent's data (None when absent or malformed)."""
    data = event.get("data")
    return data.get("camera") if isinstance(data, dict) else None


class AlertsClient:
    """Reads alerts from the Redis stream and channel named in :class:`RedisConfig`."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        stream: str = "vigil:alerts",
        channel: str = "vigil:alerts:live",
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 5.0,
        on_outage: Callable[[RedisOutage], None] = log_outage,
        sleep: Callable[[float], None] = time.sleep,
        diagnose: Callable[[BaseException], RedisSetupError | None] | None = None,
    ):
        self.redis = client
        # tells a refusal that waiting will not fix (credentials, TLS) from an outage
        self._diagnose = diagnose
        self.stream = stream
        self.channel = channel
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.on_outage = on_outage
        self._sleep = sleep
        # per group: entries handed to the caller and not yet acknowledged (never handed out twice)
        self._outstanding: dict[str, set[str]] = {}

    @classmethod
    def from_config(
        cls, config: RedisConfig, *, on_outage: Callable[[RedisOutage], None] = log_outage
    ) -> AlertsClient:
        """A client for the configured Redis (blocking reads need a longer socket timeout).

        redis-py's own silent retries are off: outages are handled (and reported) here.
        """
        client = redis_client(config, socket_timeout_s=config.socket_timeout_s + BLOCK_MS / 1000)
        client.set_retry(Retry(NoBackoff(), 0))
        return cls(
            client,
            stream=config.stream,
            channel=config.channel,
            backoff_initial_s=config.retry_backoff_initial_s,
            backoff_max_s=config.retry_backoff_max_s,
            on_outage=on_outage,
            diagnose=lambda exc: setup_problem(exc, config),
        )

    # -- outages --------------------------------------------------------------------------------
    def wait_for_redis(self, error: BaseException, resume: str, *, missed: bool = False) -> float:
        """Report the outage, PING with backoff until Redis answers, report the return; the time away.

        Raises :class:`RedisSetupError` instead when Redis refuses this client (no outage to wait out).
        """
        self._raise_setup_problem(error)
        lost = time.monotonic()
        text = _error_text(error)
        self.on_outage(RedisOutage(text, resume))
        for delay in backoff_delays(self.backoff_initial_s, self.backoff_max_s):
            self._sleep(delay)
            try:
                self.redis.ping()
            except CONNECTION_ERRORS as exc:
                self._raise_setup_problem(exc)
                continue
            away = time.monotonic() - lost
            self.on_outage(RedisOutage(text, resume, away, missed))
            return away
        raise AssertionError("backoff_delays never ends")  # pragma: no cover

    def _raise_setup_problem(self, error: BaseException) -> None:
        if self._diagnose is not None and (problem := self._diagnose(error)) is not None:
            raise problem from None

    def _retrying(self, call: Callable[[], T], resume: str) -> T:
        """``call()``, retried after each outage until Redis answers it."""
        while True:
            try:
                return call()
            except CONNECTION_ERRORS as exc:
                self.wait_for_redis(exc, resume)

    # -- without a group ------------------------------------------------------------------------
    def read(
        self, *, last: int | None = None, after: str = "0", follow: bool = False, camera: str | None = None
    ) -> Iterator[ReceivedAlert]:
        """Entries after ``after`` (or the ``last`` N), then, with ``follow``, new ones as they come.

        Following, a lost connection is waited out and reading resumes after the last entry read.
        """
        cursor = after
        if last is not None:
            newest = cast(list[Any], self.redis.xrevrange(self.stream, count=last))
            for entry_id, fields in reversed(newest):
                cursor = _text(entry_id)
                alert = self._parse_or_skip(entry_id, fields)
                if alert is not None and (camera is None or alert.camera == camera):
                    yield alert
            if not newest:
                cursor = self._last_id() if follow else "0"
        while True:
            try:
                resp = cast(
                    list[Any],
                    self.redis.xread({self.stream: cursor}, count=100, block=BLOCK_MS if follow else None),
                )
            except CONNECTION_ERRORS as exc:
                self._raise_setup_problem(exc)
                if not follow:
                    raise
                self.wait_for_redis(exc, f"the stream after entry {cursor}")
                continue
            entries = resp[0][1] if resp else []
            for entry_id, fields in entries:
                cursor = _text(entry_id)
                alert = self._parse_or_skip(entry_id, fields)
                if alert is not None and (camera is None or alert.camera == camera):
                    yield alert
            if not entries and not follow:
                return

    def _last_id(self) -> str:
        """The newest entry's id ("0-0" when the stream is empty): "$" would skip what lands in a gap."""
        newest = cast(list[Any], self.redis.xrevrange(self.stream, count=1))
        return _text(newest[0][0]) if newest else "0-0"

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
            for eid, fields in resp[1]:
                if fields is not None and (alert := self._parse_or_skip(eid, fields, group)) is not None:
                    claimed.append(alert)
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
        Following, a lost connection is waited out; then the group is resumed from this consumer's
        pending entries (read by Redis but perhaps never received here) and goes on with new ones.
        An entry already handed out and not yet acknowledged is not handed out again.
        """
        outstanding = self._outstanding.setdefault(group, set())
        claim = claim_idle_ms
        while True:
            try:
                self.ensure_group(group)
                for alert in self._own_pending(group, consumer):
                    if alert.entry_id not in outstanding:
                        yield from self._filter(group, alert, camera)
                if claim is not None:
                    for alert in self.claim_pending(group, consumer, claim):
                        yield from self._filter(group, alert, camera)
                    claim = None  # once: later claims would take over live members' work
                while True:
                    resp = cast(
                        list[Any],
                        self.redis.xreadgroup(
                            group, consumer, {self.stream: ">"}, count=100, block=BLOCK_MS if follow else None
                        ),
                    )
                    entries = resp[0][1] if resp else []
                    for entry_id, fields in entries:
                        if (received := self._parse_or_skip(entry_id, fields, group)) is not None:
                            yield from self._filter(group, received, camera)
                    if not entries and not follow:
                        return
            except CONNECTION_ERRORS as exc:
                self._raise_setup_problem(exc)
                if not follow:
                    raise
                self.wait_for_redis(exc, f'group "{group}" from its pending entries')

    def _own_pending(self, group: str, consumer: str) -> Iterator[ReceivedAlert]:
        cursor = "0"
        while True:
            resp = cast(list[Any], self.redis.xreadgroup(group, consumer, {self.stream: cursor}, count=100))
            entries = resp[0][1] if resp else []
            if not entries:
                return
            for entry_id, fields in entries:
                if fields:
                    if (alert := self._parse_or_skip(entry_id, fields, group)) is not None:
                        yield alert
                else:  # trimmed away by MAXLEN while pending: nothing left to handle
                    self.redis.xack(self.stream, group, entry_id)
            cursor = _text(entries[-1][0])

    def _parse_or_skip(
        self, entry_id: Any, fields: dict[Any, Any], group: str | None = None
    ) -> ReceivedAlert | None:
        """The entry as an alert, or None after a warning (and, in a group, an ack) if malformed."""
        try:
            return parse_alert(entry_id, fields)
        except AlertFormatError as exc:
            log.warning("alert stream %s: entry %s skipped: %s", self.stream, _text_or_repr(entry_id), exc)
            if group is not None:
                eid = entry_id
                self._retrying(
                    lambda: self.redis.xack(self.stream, group, eid), f'group "{group}" (acknowledging)'
                )
            return None

    def _filter(self, group: str, alert: ReceivedAlert, camera: str | None) -> Iterator[ReceivedAlert]:
        if camera is None or alert.camera == camera:
            self._outstanding.setdefault(group, set()).add(alert.entry_id)
            yield alert
        else:
            self.ack(group, alert)

    def ack(self, group: str, alert: ReceivedAlert) -> None:
        """XACK: the alert is handled and leaves the group's pending list.

        Retried through an outage: an acknowledgement lost would deliver the alert again later.
        """
        self._retrying(
            lambda: self.redis.xack(self.stream, group, alert.entry_id), f'group "{group}" (acknowledging)'
        )
        self._outstanding.get(group, set()).discard(alert.entry_id)

    def pending_count(self, group: str) -> int:
        """How many entries of ``group`` are read but not acknowledged."""
        summary: dict[str, Any] = self.redis.xpending(self.stream, group)
        return int(summary.get("pending", 0))

    # -- live -----------------------------------------------------------------------------------
    def live(self, *, camera: str | None = None, timeout_s: float | None = None) -> Iterator[dict[str, Any]]:
        """CloudEvents from the Pub/Sub channel as published (at-most-once); stop after ``timeout_s`` idle.

        A lost connection is waited out and the channel subscribed again; the outage report says
        that alerts published in the gap were missed (``missed``).
        """
        pubsub = self._subscribe()
        idle_since = time.monotonic()
        try:
            while True:
                try:
                    message = pubsub.get_message(timeout=BLOCK_MS / 1000)
                except CONNECTION_ERRORS as exc:
                    pubsub.close()
                    self.wait_for_redis(exc, f"Pub/Sub channel {self.channel}", missed=True)
                    pubsub = self._retrying(self._subscribe, f"Pub/Sub channel {self.channel}")
                    idle_since = time.monotonic()
                    continue
                if message is None:  # nothing, or the subscribe confirmation
                    if timeout_s is not None and time.monotonic() - idle_since >= timeout_s:
                        return
                    continue
                idle_since = time.monotonic()
                try:
                    event = parse_event(message["data"])
                except AlertFormatError as exc:
                    log.warning("Pub/Sub channel %s: message skipped: %s", self.channel, exc)
                    continue
                if camera is None or event_camera(event) == camera:
                    yield event
        finally:
            pubsub.close()

    def _subscribe(self) -> Any:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        try:
            pubsub.subscribe(self.channel)
        except BaseException:
            pubsub.close()
            raise
        return pubsub

    def close(self) -> None:
        """Close connections."""
        self.redis.close()
