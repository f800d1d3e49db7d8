"""Delivering alerts to Redis: a capped Stream for durable consumption, Pub/Sub for low latency.

Delivery is idempotent on the alert's event id. One Lua script (atomic in Redis: it runs whole
or not at all, and lands in the append-only file as one unit) does::

    SET vigil:alert:seen:<id> 1 NX EX <dedup ttl>     -- already there: a re-delivery, stop
    SET <evidence key> <jpeg> EX <evidence ttl>        -- large thumbnails only
    XADD vigil:alerts MAXLEN ~ <cap> * id <id> type <type> camera <camera> event <json>
    PUBLISH vigil:alerts:live <json>

so a crash between the dedup mark and the stream entry cannot happen. While Redis is away
:meth:`RedisAlertStore.deliver` retries with capped exponential backoff and returns only once
the alert is stored (or was stored before): the caller commits the score's offset after that.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import redis

from streaming.config import ConfigError, RedisConfig
from streaming.redact import redact_url
from streaming.tls import TlsMismatch, tls_mismatch

log = logging.getLogger(__name__)

SEEN_KEY_PREFIX: Final = "vigil:alert:seen:"

_DELIVER_LUA: Final = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return false
end
for i = 3, #KEYS do
  redis.call('SET', KEYS[i], ARGV[7 + i - 3], 'EX', ARGV[6])
end
local entry = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*',
  'id', ARGV[3], 'type', ARGV[4], 'camera', ARGV[5], 'event', ARGV[7 + #KEYS - 2])
redis.call('PUBLISH', ARGV[7 + #KEYS - 1], ARGV[7 + #KEYS - 2])
return entry
"""

RETRYABLE: Final = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)


class RedisSetupError(redis.RedisError):
    """Redis refuses this client for a reason that waiting will not fix (credentials, TLS): not an outage."""


def setup_problem(exc: BaseException, config: RedisConfig, *, probe: bool = False) -> RedisSetupError | None:
    """``exc`` as a :class:`RedisSetupError` naming what to fix, if it is one; None for an outage.

    redis-py raises a wrong password as a ``ConnectionError`` and an untrusted certificate or a
    TLS mismatch as a closed connection, all of which look like Redis being away; retrying them
    would hide the mistake behind "unavailable" forever. What the exception itself shows (a
    refused password, a certificate that failed verification, a server that is not TLS) is read
    from it; a plaintext client at a TLS port shows only a reset connection, which ``probe`` asks
    the port about with one handshake (:mod:`streaming.tls`: up to a couple of seconds, so only
    at start or before giving up, never in a retry loop). Never includes the password.
    """
    where = redact_url(config.url.get_secret_value())
    text = str(exc)
    if isinstance(exc, redis.AuthenticationError) or text.startswith(("WRONGPASS", "NOAUTH")):
        user = f"user {config.username!r}" if config.username else "the default user"
        return RedisSetupError(
            f"redis {where}: authentication failed for {user} ({text}); check redis.username and "
            "redis.password_file (or VIGIL_REDIS__PASSWORD)"
        )
    if not isinstance(exc, redis.ConnectionError):
        return None
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ssl.SSLCertVerificationError):
        mismatch: TlsMismatch | None = TlsMismatch("untrusted", str(cause.verify_message))
    elif isinstance(cause, ssl.SSLError) and "WRONG_VERSION_NUMBER" in str(cause):
        mismatch = TlsMismatch("server_plaintext")
    elif probe:
        url = urlsplit(config.url.get_secret_value())
        mismatch = tls_mismatch(
            url.hostname or "localhost",
            url.port or 6379,
            wants_tls=url.scheme == "rediss",
            cafile=config.ssl_cafile,
        )
    else:
        return None
    if mismatch is None:
        return None
    if mismatch.kind == "untrusted":
        return RedisSetupError(
            f"redis {where}: its TLS certificate is not trusted ({mismatch.detail}); check redis.ssl_cafile"
        )
    if mismatch.kind == "server_plaintext":
        return RedisSetupError(f"redis {where}: the server does not speak TLS; use a redis:// URL")
    return RedisSetupError(
        f"redis {where}: the server speaks TLS; use a rediss:// URL (and redis.ssl_cafile)"
    )


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert ready for delivery: a CloudEvent (``event``) plus evidence blobs to store."""

    id: str
    camera_id: str
    type: str  # "raised" / "updated" / "resolved"
    event: dict[str, Any]
    capture_to_alert_s: float
    blobs: dict[str, bytes] = field(default_factory=dict, repr=False)  # evidence key -> bytes

    def to_json(self) -> str:
        """The structured-mode CloudEvent as compact JSON."""
        return json.dumps(self.event, separators=(",", ":"), sort_keys=True)


class AlertSink(Protocol):
    """Where the alert service delivers alerts."""

    def deliver(self, alert: Alert) -> bool:
        """Store ``alert``; True if new, False if it was delivered before. Blocks until stored."""
        ...

    def ready(self) -> tuple[bool, str]:
        """Readiness check: can alerts be delivered now?"""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class StoreStopped(RuntimeError):
    """Delivery gave up because the service is stopping (the alert was not stored)."""


def redis_client(config: RedisConfig, *, socket_timeout_s: float | None = None) -> redis.Redis:
    """A Redis client from config (password from env/file, never logged)."""
    kwargs: dict[str, Any] = {
        "socket_timeout": socket_timeout_s if socket_timeout_s is not None else config.socket_timeout_s,
        "socket_connect_timeout": config.socket_timeout_s,
        "health_check_interval": 15,
    }
    password = config.password_value()
    if password is not None:
        kwargs["password"] = password
    if config.username is not None:
        kwargs["username"] = config.username
    if config.ssl_cafile is not None:
        if not config.url.get_secret_value().startswith("rediss://"):
            raise ConfigError("redis.ssl_cafile is set but redis.url is not rediss:// (TLS)")
        kwargs["ssl_ca_certs"] = str(config.ssl_cafile)
    client: redis.Redis = redis.Redis.from_url(config.url.get_secret_value(), **kwargs)
    return client


class RedisAlertStore:
    """The production :class:`AlertSink`."""

    def __init__(
        self,
        config: RedisConfig,
        *,
        on_error: Callable[[BaseException], None] | None = None,
        stop: threading.Event | None = None,
        client: redis.Redis | None = None,
    ) -> None:
        self.config = config
        self._client = client if client is not None else redis_client(config)
        self._script = self._client.register_script(_DELIVER_LUA)
        self._on_error = on_error
        self._stop = stop or threading.Event()
        self._where = redact_url(config.url.get_secret_value())

    def set_error_hook(self, on_error: Callable[[BaseException], None]) -> None:
        """Call ``on_error`` on every failed attempt (for a metric)."""
        self._on_error = on_error

    def deliver(self, alert: Alert) -> bool:
        """Store the alert once; retry with capped backoff while Redis is unreachable."""
        keys = [SEEN_KEY_PREFIX + alert.id, self.config.stream, *alert.blobs]
        payload = alert.to_json()
        args: list[Any] = [
            self.config.dedup_ttl_s,
            self.config.stream_maxlen,
            alert.id,
            alert.type,
            alert.camera_id,
            self.config.evidence_ttl_s,
            *alert.blobs.values(),
            payload,
            self.config.channel,
        ]
        delay = self.config.retry_backoff_initial_s
        while True:
            try:
                return self._script(keys=keys, args=args) is not None
            except RETRYABLE as exc:
                if self._on_error is not None:
                    self._on_error(exc)
                if (problem := setup_problem(exc, self.config)) is not None:
                    raise problem from None
                log.warning(
                    "redis %s unavailable (%s); retrying alert %s in %.1fs",
                    self._where,
                    type(exc).__name__,
                    alert.id,
                    delay,
                )
                if self._stop.wait(delay):
                    raise StoreStopped(f"stopping: alert {alert.id} not stored") from exc
                delay = min(delay * 2, self.config.retry_backoff_max_s)

    def check(self) -> None:
        """PING Redis once at start: raises :class:`RedisSetupError` if it refuses this client.

        Redis being away is not an error here (delivery waits for it).
        """
        try:
            self._client.ping()
        except redis.RedisError as exc:
            if (problem := setup_problem(exc, self.config)) is not None:
                raise problem from None
            log.warning(
                "redis %s unavailable at start (%s); alerts wait for it", self._where, type(exc).__name__
            )

    def ready(self) -> tuple[bool, str]:
        """PING Redis."""
        try:
            self._client.ping()
        except redis.RedisError as exc:
            return False, f"redis {self._where}: {type(exc).__name__}"
        return True, f"redis {self._where}: ok"

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
