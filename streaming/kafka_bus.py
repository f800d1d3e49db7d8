"""The bus on Apache Kafka, through kafka-python 3.x.

Implements :class:`streaming.bus.Bus` with the in-memory bus's semantics:

- producers are durable (``acks=all``, idempotent), compressed and batched from config;
  ``send(block=False)`` refuses a record with :class:`ProducerFull` when the bytes waiting for
  acknowledgement exceed ``kafka.buffer_memory`` (kafka-python 3 has no bounded buffer of its
  own: its accumulator grows without limit, so the bound is kept here);
- consumers never auto-commit; ``commit`` stores exactly the offsets given;
- partition assignment is range-only, so partition N of topics with equal partition counts
  (video and audio) lands on the same group member;
- a rebalance listener runs on a worker thread, so it may call ``commit`` (kafka-python 3 runs
  listeners on its IO thread, where blocking calls raise);
- an unreachable cluster gives a :class:`BusError` naming the bootstrap address (never a
  password), after retries with capped exponential backoff and jitter, each attempt logged.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent import futures
from typing import Any, Generic, TypeVar, cast

import kafka.errors as kerr
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KafkaTopicPartition
from kafka.consumer.subscription_state import AsyncConsumerRebalanceListener
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.future import Future as KafkaFuture
from kafka.structs import OffsetAndMetadata

from streaming.bus import (
    BusError,
    BusStopped,
    Delivered,
    ProducerFull,
    RebalanceListener,
    Record,
    TopicPartition,
    TopicSpec,
)
from streaming.config import KafkaConfig
from streaming.tls import split_host_port, tls_mismatch

log = logging.getLogger(__name__)

_AUTH_ERRORS: tuple[type[BaseException], ...] = (
    kerr.SaslAuthenticationFailedError,
    kerr.AuthorizationError,
)


# -- connection settings and errors --------------------------------------------------------------
def client_settings(config: KafkaConfig, client_id: str) -> dict[str, Any]:
    """kafka-python keyword arguments for connection and security, shared by every client."""
    settings: dict[str, Any] = {
        "bootstrap_servers": [s.strip() for s in config.bootstrap_servers.split(",") if s.strip()],
        "client_id": client_id,
        "security_protocol": config.security_protocol,
        # kafka-python's default lets the wait between reconnects grow to 30 s: a broker back
        # after an outage would sit unused that long while ingest's backlog waits for it.
        "reconnect_backoff_max_ms": 1000,
    }
    if config.security_protocol.startswith("SASL_"):
        password = config.sasl_password_value()
        missing = [
            name
            for name, value in (
                ("kafka.sasl_mechanism", config.sasl_mechanism),
                ("kafka.sasl_username", config.sasl_username),
                ("kafka.sasl_password (or sasl_password_file)", password),
            )
            if not value
        ]
        if missing:
            raise BusError(
                f"Kafka at {config.bootstrap_servers}: security_protocol {config.security_protocol} "
                f"needs {', '.join(missing)}"
            )
        settings.update(
            sasl_mechanism=config.sasl_mechanism,
            sasl_plain_username=config.sasl_username,
            sasl_plain_password=password,
        )
    if config.security_protocol.endswith("SSL"):
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path = getattr(config, name)
            if path is not None:
                settings[name] = str(path)
    return settings


def describe_error(exc: BaseException) -> str:
    """A one-line description of a kafka-python error (they never carry the SASL password)."""
    text = str(exc).strip()
    name = type(exc).__name__
    return name if not text or text == name else (text if text.startswith(name) else f"{name}: {text}")


def backoff_delays(initial_s: float, cap_s: float, rng: random.Random | None = None) -> Iterator[float]:
    """Capped exponential backoff with "equal jitter": each delay is in [d/2, d], d doubling to ``cap_s``."""
    rng = rng or random.Random()
    delay = initial_s
    while True:
        bounded = min(delay, cap_s)
        yield bounded / 2 + rng.uniform(0, bounded / 2)
        delay = min(delay * 2, cap_s)


def tcp_probe(bootstrap: str, timeout_s: float = 1.0) -> str | None:
    """Why a TCP connection to the first bootstrap server fails ("connection refused"), or None."""
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "localhost", int(port)), timeout=timeout_s):
            return None
    except ValueError:
        return f"bad address {first!r} (expected host:port)"
    except OSError as exc:
        return (exc.strerror or type(exc).__name__).lower()


def tls_problem(config: KafkaConfig) -> str | None:
    """Why the first bootstrap server can never work with this TLS setting (see :mod:`streaming.tls`), or None."""
    first = config.bootstrap_servers.split(",")[0].strip()
    try:
        host, port = split_host_port(first, 9092)
    except ValueError:
        return None
    mismatch = tls_mismatch(
        host,
        port,
        wants_tls=config.security_protocol.endswith("SSL"),
        cafile=config.ssl_cafile,
        certfile=config.ssl_certfile,
        keyfile=config.ssl_keyfile,
    )
    if mismatch is None:
        return None
    if mismatch.kind == "untrusted":
        return (
            f"the broker's TLS certificate is not trusted ({mismatch.detail}); "
            "check kafka.ssl_cafile (the CA that signed the broker's certificate)"
        )
    if mismatch.kind == "server_plaintext":
        return f"the broker does not speak TLS on {first}; check kafka.security_protocol"
    return (
        f"the broker speaks TLS on {first} but kafka.security_protocol is {config.security_protocol}; "
        "use SSL or SASL_SSL (with kafka.ssl_cafile)"
    )


class _Captured(logging.Handler):
    """Keeps kafka-python's error messages of one connection attempt."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def auth_failure(self) -> str | None:
        """The SASL failure kafka-python saw while bootstrapping, if any (it never names the password).

        kafka-python 3 reports it only in its log: the bootstrap itself just times out.
        """
        failures = [m for m in self.messages if "SaslAuthenticationFailedError: " in m]
        return failures[-1].rsplit("SaslAuthenticationFailedError: ", 1)[1].rstrip(")") if failures else None


@contextlib.contextmanager
def _quiet_kafka_logs() -> Iterator[_Captured]:
    """kafka-python logs every refused connection at ERROR; our own warning says it once, clearly.

    Its messages are kept (not shown) for the caller to read.
    """
    logger = logging.getLogger("kafka")
    before = (logger.level, logger.propagate, logger.handlers[:])
    captured = _Captured()
    logger.setLevel(logging.ERROR)
    logger.propagate = False
    logger.handlers = [captured]
    try:
        yield captured
    finally:
        logger.setLevel(before[0])
        logger.propagate = before[1]
        logger.handlers = before[2]


def _auth_failed(bootstrap: str, what: str, detail: str) -> BusError:
    return BusError(
        f"Kafka at {bootstrap}: authentication failed for the {what} ({detail}); "
        "check kafka.sasl_username / VIGIL_KAFKA__SASL_PASSWORD"
    )


def connect_with_retry(
    what: str,
    bootstrap: str,
    factory: Callable[[float], Any],
    *,
    timeout_s: float | None,
    backoff_initial_s: float = 0.5,
    backoff_max_s: float = 30.0,
    attempt_timeout_s: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    stop: threading.Event | None = None,
    diagnose: Callable[[], str | None] | None = None,
) -> Any:
    """Call ``factory(attempt_timeout_s)`` until it returns, retrying connection failures.

    Each failure is logged with the bootstrap address and the next delay. ``timeout_s=None``
    retries forever; otherwise a :class:`BusError` naming the address is raised once the time is
    spent. Authentication failures are not retried: waiting does not fix a wrong password; nor
    is a failure that ``diagnose()`` explains (it returns why, e.g. :func:`tls_problem`), asked
    when the port accepts connections but the client still failed.
    When ``stop`` is set (a service's SIGTERM), the wait, or the attempt in progress, ends at once
    with :class:`BusStopped`, so a service shuts down within its budget even while the cluster is away.
    """
    start = time.monotonic()
    delays = backoff_delays(backoff_initial_s, backoff_max_s)
    attempt = 0
    while True:
        if stop is not None and stop.is_set():
            raise BusStopped(f"stopped while waiting for Kafka at {bootstrap} ({what})")
        attempt += 1
        per_try = attempt_timeout_s
        if timeout_s is not None:
            per_try = max(0.1, min(per_try, timeout_s - (time.monotonic() - start)))
        try:
            with _quiet_kafka_logs() as captured:
                return _attempt(what, bootstrap, factory, per_try, stop)
        except _AUTH_ERRORS as exc:
            raise _auth_failed(bootstrap, what, describe_error(exc)) from None
        except (kerr.KafkaError, OSError) as exc:
            reason = describe_error(exc)
            if (auth := captured.auth_failure()) is not None:
                raise _auth_failed(bootstrap, what, auth) from None
            tcp = tcp_probe(bootstrap)
            if tcp is not None:
                reason = f"{tcp} ({reason})"
            elif diagnose is not None and (why := diagnose()) is not None:
                raise BusError(f"Kafka at {bootstrap}: {why} ({what})") from None
        elapsed = time.monotonic() - start
        delay = next(delays)
        if timeout_s is not None and elapsed + delay >= timeout_s:
            raise BusError(
                f"Kafka unreachable at {bootstrap} ({what}): {reason}; gave up after {attempt} "
                f"attempt(s) in {elapsed:.1f} s. Check kafka.bootstrap_servers "
                "(VIGIL_KAFKA__BOOTSTRAP_SERVERS) and that the broker is running."
            )
        log.warning(
            "Kafka unreachable at %s (%s, attempt %d): %s; retrying in %.1f s",
            bootstrap,
            what,
            attempt,
            reason,
            delay,
        )
        if stop is not None:
            stop.wait(delay)
        else:
            sleep(delay)


STOP_POLL_S = 0.05  # how often an attempt in progress looks at the stop flag


def _attempt(
    what: str, bootstrap: str, factory: Callable[[float], Any], per_try: float, stop: threading.Event | None
) -> Any:
    """``factory(per_try)``, given up as soon as ``stop`` is set.

    A bootstrap of a cluster that is away blocks for its whole timeout (5 s by default), longer
    than a stopping service's budget (3 s) and past its watchdog: the attempt runs in a thread and
    the caller leaves it on a stop. A client that connects after it was left is closed.
    """
    if stop is None:
        return factory(per_try)
    attempt: futures.Future[Any] = futures.Future()

    def run() -> None:
        try:
            attempt.set_result(factory(per_try))
        except BaseException as exc:  # handed to the caller by result()
            attempt.set_exception(exc)

    threading.Thread(target=run, name=f"kafka-connect {what}", daemon=True).start()
    # wait(), not result(timeout): a factory's own TimeoutError must not read as "still running"
    while not futures.wait([attempt], timeout=STOP_POLL_S).done:
        if stop.is_set():
            # its client is closed when it connects (at once if it just did)
            attempt.add_done_callback(_close_if_connected)
            raise BusStopped(f"stopped while connecting to Kafka at {bootstrap} ({what})")
    return attempt.result()


def _close_if_connected(attempt: futures.Future[Any]) -> None:
    """Close the client of an attempt whose caller left (a stop): nobody will use it."""
    if attempt.exception() is not None:
        return
    try:
        attempt.result().close()
    except Exception as exc:  # a client nobody uses any more: its close is best effort
        log.debug("closing a Kafka client connected after its caller stopped: %s", describe_error(exc))


T = TypeVar("T")

SUBSCRIBE_METADATA_WAIT_S = 10.0  # KafkaBusConsumer.subscribe: for topics just created
CLOSE_WAIT_S = 0.5  # the most a client's close waits for its IO thread, beyond its own timeout
# After a stop, how much longer than its own timeout a poll is waited for (see KafkaBusConsumer.poll).
POLL_STOP_SLACK_S = 0.5


class _Timeout(Exception):
    """A kafka-python call did not return within its time (see :func:`_within`)."""


class _BackgroundCall(Generic[T]):
    """``call()`` started on a daemon thread; the caller decides how long to wait for it.

    kafka-python 3 runs every blocking call (poll, commit, close) on the client's IO thread and
    waits for it without a bound of its own, and that thread can sit in ``getaddrinfo`` for a
    broker's name whose DNS went away with it (a compose stack stopping: seen to hold a stopping
    service past its grace period). The threads are daemons: a process that moves on still exits.
    """

    def __init__(self, call: Callable[[], T], name: str) -> None:
        self._result: list[T] = []
        self._failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(call,), name=name, daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], T]) -> None:
        try:
            self._result.append(call())
        except BaseException as exc:  # handed to the caller's thread by outcome()
            self._failure.append(exc)

    def wait(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s``; whether the call has finished."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def outcome(self) -> T:
        """The finished call's result, or its exception raised here."""
        if self._failure:
            raise self._failure[0]
        return self._result[0]


def _within(call: Callable[[], T], timeout_s: float, what: str) -> T:
    """``call()`` on a daemon thread (see :class:`_BackgroundCall`); its result, its exception,
    or :class:`_Timeout` after ``timeout_s``."""
    background = _BackgroundCall(call, "vigil-kafka-call")
    if not background.wait(timeout_s):
        raise _Timeout(f"{what}: no answer within {timeout_s:.1f} s (the client's IO thread is stuck)")
    return background.outcome()


def _close_within(close: Callable[[], None], timeout_s: float, what: str) -> None:
    """Run a kafka-python ``close`` for at most ``timeout_s``, then leave it in the background."""
    try:
        _within(close, timeout_s, what)
    except _Timeout as exc:
        log.warning("%s; moving on", exc)
    except Exception as exc:
        log.warning("%s: close failed: %s", what, describe_error(exc))


def _ms(timeout_s: float | None) -> int | None:
    """kafka-python's ``timeout_ms`` for a timeout in seconds (None stays None: its own default)."""
    return None if timeout_s is None else max(1, int(timeout_s * 1000))


def _wrap(exc: BaseException, context: str) -> BusError:
    if isinstance(exc, BusError):
        return exc
    return BusError(f"{context}: {describe_error(exc)}")


def _ktp(tp: TopicPartition) -> Any:
    return KafkaTopicPartition(tp.topic, tp.partition)


def _tp(ktp: Any) -> TopicPartition:
    return TopicPartition(ktp.topic, ktp.partition)


# -- the bus -------------------------------------------------------------------------------------
class KafkaBus:
    """Factory for Kafka producers and consumers, and topic administration, on one cluster.

    Keyword arguments tune what config does not cover (tests use short session timeouts).
    """

    def __init__(
        self,
        config: KafkaConfig,
        client_id: str = "vigil",
        *,
        connect_timeout_s: float | None = 60.0,
        attempt_timeout_s: float = 5.0,
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 3_000,
        max_poll_interval_ms: int = 300_000,
        max_block_s: float = 10.0,
        producer_overrides: Mapping[str, Any] | None = None,
        consumer_overrides: Mapping[str, Any] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.config = config
        self.stop = stop  # set by a service's signal handler: connection waits end at once
        self.client_id = client_id
        self.bootstrap = config.bootstrap_servers
        self._connect_timeout_s = connect_timeout_s
        self._attempt_timeout_s = attempt_timeout_s
        self._session_timeout_ms = session_timeout_ms
        self._heartbeat_interval_ms = heartbeat_interval_ms
        self._max_poll_interval_ms = max_poll_interval_ms
        self._max_block_s = max_block_s
        self._producer_overrides = dict(producer_overrides or {})
        self._consumer_overrides = dict(consumer_overrides or {})
        self._admin: Any = None
        self._lock = threading.Lock()

    def _settings(self, client_id: str) -> dict[str, Any]:
        return client_settings(self.config, client_id)

    def _connect(self, what: str, factory: Callable[[float], Any], timeout_s: float | None) -> Any:
        return connect_with_retry(
            what,
            self.bootstrap,
            factory,
            timeout_s=timeout_s,
            backoff_max_s=self.config.connect_retry_max_s,
            attempt_timeout_s=self._attempt_timeout_s,
            stop=self.stop,
            diagnose=lambda: tls_problem(self.config),
        )

    def _admin_client(self, timeout_s: float | None = None) -> Any:
        with self._lock:
            if self._admin is None:
                settings = self._settings(f"{self.client_id}-admin")
                self._admin = self._connect(
                    "admin client",
                    lambda t: KafkaAdminClient(**settings, bootstrap_timeout_ms=int(t * 1000)),
                    timeout_s if timeout_s is not None else self._connect_timeout_s,
                )
            return self._admin

    def wait_until_reachable(self, timeout_s: float | None = None) -> None:
        """Block until the cluster answers (services call this at start-up).

        Retries with capped exponential backoff and jitter, logging each attempt; ``None`` waits
        forever. Raises :class:`BusError` naming the bootstrap address when ``timeout_s`` runs out.
        """
        with self._lock:
            if self._admin is not None:
                self._admin.close()
                self._admin = None
        admin = self._admin_client(timeout_s)
        try:
            admin.list_topics()
        except kerr.KafkaError as exc:
            raise _wrap(exc, f"Kafka at {self.bootstrap}: cluster metadata") from None
        log.info("Kafka reachable at %s", self.bootstrap)

    def producer_settings(self, client_id: str) -> dict[str, Any]:
        """The producer's kafka-python settings: durable, compressed, batched (from config)."""
        compression = None if self.config.compression == "none" else self.config.compression
        return {
            **self._settings(client_id),
            "acks": "all",
            "enable_idempotence": True,
            "compression_type": compression,
            "linger_ms": self.config.linger_ms,
            "batch_size": self.config.batch_size,
            "max_request_size": self.config.max_request_size,
            "delivery_timeout_ms": int(self.config.delivery_timeout_s * 1000),
            "max_block_ms": int(self._max_block_s * 1000),
            "allow_auto_create_topics": False,
            **self._producer_overrides,
        }

    def producer(self, *, client_id: str = "vigil") -> KafkaBusProducer:
        """A new durable producer."""
        settings = self.producer_settings(client_id)
        raw = self._connect(
            "producer",
            lambda t: KafkaProducer(**settings, bootstrap_timeout_ms=int(t * 1000)),
            self._connect_timeout_s,
        )
        return KafkaBusProducer(raw, self.bootstrap, self.config.buffer_memory, self._max_block_s)

    def consumer(
        self, group_id: str, *, client_id: str = "vigil", auto_offset_reset: str = "earliest"
    ) -> KafkaBusConsumer:
        """A new consumer in ``group_id`` with manual commits and range assignment."""
        if auto_offset_reset not in ("earliest", "latest"):
            raise ValueError(f"auto_offset_reset must be 'earliest' or 'latest', not {auto_offset_reset!r}")
        settings = {
            **self._settings(client_id),
            "group_id": group_id,
            "enable_auto_commit": False,
            "auto_offset_reset": auto_offset_reset,
            # Range only: partition N of equally partitioned topics goes to one member.
            "partition_assignment_strategy": (RangePartitionAssignor,),
            "session_timeout_ms": self._session_timeout_ms,
            "heartbeat_interval_ms": self._heartbeat_interval_ms,
            "max_poll_interval_ms": self._max_poll_interval_ms,
            "max_partition_fetch_bytes": max(1024 * 1024, self.config.max_request_size),
            "allow_auto_create_topics": False,
            **self._consumer_overrides,
        }
        raw = self._connect(
            f"consumer of group {group_id!r}",
            lambda t: KafkaConsumer(**settings, bootstrap_timeout_ms=int(t * 1000)),
            self._connect_timeout_s,
        )
        return KafkaBusConsumer(raw, self.bootstrap, group_id, stop=self.stop)

    def ensure_topics(self, specs: Sequence[TopicSpec]) -> None:
        """Create missing topics with partitions, retention and extra config; leave existing ones.

        Warns when an existing topic has fewer partitions than asked (Vigil never shrinks or
        grows a topic by itself: adding partitions moves cameras between partitions).
        """
        admin = self._admin_client()
        try:
            existing = set(admin.list_topics())
            present = [s.name for s in specs if s.name in existing]
            described = {t["name"]: t for t in admin.describe_topics(present)} if present else {}
        except kerr.KafkaError as exc:
            raise _wrap(exc, f"Kafka at {self.bootstrap}: listing topics") from None
        for spec in specs:
            if spec.name in existing:
                have = len(described.get(spec.name, {}).get("partitions", []))
                if have < spec.partitions:
                    log.warning(
                        "topic %s has %d partitions, configured %d: left as is (add partitions "
                        "deliberately; it moves cameras between partitions)",
                        spec.name,
                        have,
                        spec.partitions,
                    )
                continue
            configs = dict(spec.extra_config)
            if spec.retention_ms is not None:
                configs["retention.ms"] = str(spec.retention_ms)
            request = {
                spec.name: {
                    "num_partitions": spec.partitions,
                    "replication_factor": self.config.replication_factor,
                    "configs": configs,
                }
            }
            try:
                admin.create_topics(request, wait_for_metadata=True)
                log.info("created topic %s (%d partitions)", spec.name, spec.partitions)
            except kerr.TopicAlreadyExistsError:
                pass  # another service created it meanwhile
            except kerr.KafkaError as exc:
                raise _wrap(exc, f"Kafka at {self.bootstrap}: creating topic {spec.name}") from None

    def delete_topics(self, names: Sequence[str]) -> None:
        """Delete topics (benchmarks and tests clean up after themselves); unknown names are ignored."""
        admin = self._admin_client()
        try:
            existing = set(admin.list_topics())
            doomed = [n for n in names if n in existing]
            if doomed:
                admin.delete_topics(doomed)
        except kerr.KafkaError as exc:
            raise _wrap(exc, f"Kafka at {self.bootstrap}: deleting topics") from None

    def close(self) -> None:
        """Close the shared admin connection (within ``CLOSE_WAIT_S``; see :func:`_close_within`)."""
        with self._lock:
            if self._admin is not None:
                _close_within(self._admin.close, CLOSE_WAIT_S, f"Kafka at {self.bootstrap}: admin client")
                self._admin = None


# -- producer ------------------------------------------------------------------------------------
class KafkaDelivery:
    """Adapts kafka-python's ``FutureRecordMetadata`` to :class:`streaming.bus.DeliveryFuture`."""

    def __init__(self, future: Any, context: str) -> None:
        self._future = future
        self._context = context

    @staticmethod
    def _delivered(metadata: Any) -> Delivered:
        return Delivered(metadata.topic, metadata.partition, metadata.offset)

    def get(self, timeout: float | None = None) -> Delivered:
        """Wait for the broker's acknowledgement; :class:`BusError` on failure or timeout."""
        try:
            return self._delivered(self._future.get(timeout))
        except kerr.KafkaError as exc:
            raise _wrap(exc, self._context) from None

    def add_callback(self, fn: Callable[[Delivered], None]) -> None:
        """Call ``fn`` with where the record landed once acknowledged (on the sender thread)."""
        self._future.add_callback(lambda metadata: fn(self._delivered(metadata)))

    def add_errback(self, fn: Callable[[BaseException], None]) -> None:
        """Call ``fn`` with a :class:`BusError` if delivery fails."""
        self._future.add_errback(lambda exc: fn(_wrap(exc, self._context)))

    def is_done(self) -> bool:
        """True once acknowledged or failed."""
        return bool(self._future.is_done)


class KafkaBusProducer:
    """A durable producer with a bounded number of unacknowledged bytes."""

    def __init__(self, producer: Any, bootstrap: str, buffer_bytes: int, max_block_s: float) -> None:
        self._producer = producer
        self._bootstrap = bootstrap
        self._limit = buffer_bytes
        self._max_block_s = max_block_s
        self._pending = 0
        self._room = threading.Condition()

    @property
    def pending_bytes(self) -> int:
        """Bytes sent but not yet acknowledged (or failed)."""
        return self._pending

    def _release(self, size: int, _result: object) -> None:
        with self._room:
            self._pending -= size
            self._room.notify_all()

    def _reserve(self, topic: str, size: int, block: bool) -> None:
        with self._room:
            # A record larger than the whole buffer still goes when nothing else is pending.
            if self._pending and self._pending + size > self._limit:
                if not block:
                    raise ProducerFull(
                        f"producer to {topic}: {self._pending} bytes unacknowledged "
                        f"(buffer_memory {self._limit}); record dropped"
                    )
                if not self._room.wait_for(
                    lambda: not self._pending or self._pending + size <= self._limit, self._max_block_s
                ):
                    raise BusError(
                        f"Kafka at {self._bootstrap}: producer to {topic}: no buffer room within "
                        f"{self._max_block_s:.0f} s (broker slow or unreachable)"
                    )
            self._pending += size

    def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
        *,
        block: bool = True,
    ) -> KafkaDelivery:
        """Queue a record; with ``block=False`` raise :class:`ProducerFull` rather than wait for room.

        The first send to a topic may still wait (up to ``max_block_s``) for its metadata.
        """
        size = len(value) + len(key or b"") + sum(len(k) + len(v) for k, v in headers)
        self._reserve(topic, size, block)
        try:
            future = self._producer.send(topic, value=value, key=key, headers=list(headers))
        except (kerr.KafkaError, ValueError, TypeError) as exc:
            self._release(size, None)
            raise _wrap(exc, f"Kafka at {self._bootstrap}: send to {topic}") from None
        future.add_both(self._release, size)
        return KafkaDelivery(future, f"Kafka at {self._bootstrap}: delivery to {topic}")

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every queued record is acknowledged or failed."""
        try:
            self._producer.flush(timeout)
        except kerr.KafkaError as exc:
            raise _wrap(exc, f"Kafka at {self._bootstrap}: flush") from None

    def close(self, timeout: float | None = None) -> None:
        """Flush what is queued and close, within ``timeout`` in all (best effort: a broker that is
        away keeps what is still queued then, and it is dropped)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            self._producer.flush(timeout)
        except kerr.KafkaError as exc:
            log.warning("Kafka at %s: flush on close failed: %s", self._bootstrap, describe_error(exc))
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            # kafka-python's close flushes again before it gives up: give it only what is left
            self._producer.close(timeout=left)
        except kerr.KafkaError as exc:  # it flushes again: a broker still away must not raise here
            log.warning("Kafka at %s: close: %s", self._bootstrap, describe_error(exc))
            self._force_close()

    def _force_close(self) -> None:
        """Stop the IO thread that kafka-python's failed close left running, dropping what is queued.

        kafka-python 3's ``close`` flushes first and, when that flush times out (the broker is
        away), raises before it stops its IO thread: the thread would reconnect and log for the
        rest of the process's life, and the records it holds would never be given up.
        """
        sender = getattr(self._producer, "_sender", None)
        if sender is None or not sender.is_alive():
            return
        sender.force_close()  # fails every queued batch, so a second close's flush ends at once
        sender.join(CLOSE_WAIT_S)
        try:
            self._producer.close(timeout=0)
        except kerr.KafkaError as exc:
            log.warning(
                "Kafka at %s: close after dropping what was queued: %s", self._bootstrap, describe_error(exc)
            )


# -- consumer ------------------------------------------------------------------------------------
class _ListenerAdapter(AsyncConsumerRebalanceListener):  # type: ignore[misc]
    """Runs our sync listener on a worker thread while kafka-python's IO loop waits for it.

    kafka-python 3 calls listeners on its IO thread, where a blocking consumer call (``commit``
    in ``on_partitions_revoked``, the usual thing to do) raises. Awaiting a future completed
    from a worker keeps the loop (and heartbeats) running while the listener commits.
    """

    def __init__(self, listener: RebalanceListener | None, consumer: Any) -> None:
        self._listener = listener
        self._consumer = consumer
        self._net = getattr(consumer, "_net", None)
        self.closing = False  # like the in-memory bus, close() tells the listener nothing

    async def _run(self, fn: Callable[[set[TopicPartition]], None], partitions: Iterable[Any]) -> None:
        tps = {_tp(p) for p in partitions}
        if not tps or self.closing:
            return
        net = self._net
        if net is None or not hasattr(net, "call_soon_threadsafe"):
            fn(tps)  # unknown kafka-python internals: run inline (the listener must not block)
            return
        done = KafkaFuture()

        def work() -> None:
            error: BaseException | None = None
            try:
                fn(tps)
            except BaseException as exc:
                error = exc

            async def complete() -> None:
                if error is None:
                    done.success(None)
                else:
                    done.failure(error)

            net.call_soon_threadsafe(complete)

        threading.Thread(target=work, name="vigil-rebalance-listener", daemon=True).start()
        await done

    def _rewind_then_notify(self, assigned: set[TopicPartition]) -> None:
        # kafka-python 3 keeps a partition's fetch position when a rebalance hands it back to
        # the same member, while every member was told it was revoked (and so dropped its state
        # for it). Restart assigned partitions at the committed offset, as the in-memory bus
        # does, so nothing between the commit and the old position is skipped.
        for tp in assigned:
            committed = self._consumer.committed(_ktp(tp))
            if committed is not None:
                self._consumer.seek(_ktp(tp), committed)
        if self._listener is not None:
            self._listener.on_partitions_assigned(assigned)

    def _revoked(self, revoked: set[TopicPartition]) -> None:
        if self._listener is not None:
            self._listener.on_partitions_revoked(revoked)

    async def on_partitions_revoked(self, revoked: Iterable[Any]) -> None:
        await self._run(self._revoked, revoked)

    async def on_partitions_assigned(self, assigned: Iterable[Any]) -> None:
        await self._run(self._rewind_then_notify, assigned)

    async def on_partitions_lost(self, lost: Iterable[Any]) -> None:
        await self._run(self._revoked, lost)


class KafkaBusConsumer:
    """A group member that commits only what the caller says is processed."""

    def __init__(
        self, consumer: Any, bootstrap: str, group_id: str, *, stop: threading.Event | None = None
    ) -> None:
        self._consumer = consumer
        self._bootstrap = bootstrap
        self.group_id = group_id
        self._stop = stop or threading.Event()  # a service's SIGTERM: end the metadata wait
        self._closed = False
        self._listener: _ListenerAdapter | None = None

    def _context(self, what: str) -> str:
        return f"Kafka at {self._bootstrap}: group {self.group_id!r}: {what}"

    def subscribe(self, topics: Sequence[str], listener: RebalanceListener | None = None) -> None:
        """Join the group for ``topics`` (the assignment arrives during ``poll``).

        Then waits (up to ``SUBSCRIBE_METADATA_WAIT_S``) until this client's metadata knows
        every topic's partitions: topics created a moment ago (``ensure_topics``) may be missing
        from the first metadata response, and a group leader that assigns without them gives
        itself nothing ("No partition metadata for topic ...") and, with kafka-python 3, was
        seen never to rebalance when the metadata came: a fusion worker ready on no partition.
        """
        self._listener = _ListenerAdapter(listener, self._consumer)
        self._consumer.subscribe(list(topics), listener=self._listener)
        # The join happens in the first poll; subscribing asked for the topics' metadata in the
        # background. Wait for it (the cache only: fetching every topic's metadata here was seen
        # to cause an extra rebalance), up to SUBSCRIBE_METADATA_WAIT_S.
        cluster = getattr(self._consumer, "_cluster", None)
        if cluster is None:
            return
        deadline = time.monotonic() + SUBSCRIBE_METADATA_WAIT_S
        unknown = list(topics)
        while not self._stop.is_set():
            unknown = [t for t in unknown if not cluster.partitions_for_topic(t)]
            if not unknown:
                return
            if time.monotonic() >= deadline:
                log.warning("%s", self._context(f"no partition metadata yet for {unknown}; joining anyway"))
                return
            self._stop.wait(0.05)

    def poll(self, timeout_s: float, max_records: int | None = None) -> list[Record]:
        """Fetch records from unpaused partitions, waiting up to ``timeout_s``."""
        if self._closed:
            raise BusError("consumer is closed")
        try:
            batches = self._poll_until_stopped(timeout_s, max_records)
        except kerr.KafkaError as exc:
            raise _wrap(exc, self._context("poll")) from None
        paused = self._consumer.paused()
        out: list[Record] = []
        for ktp, records in batches.items():
            if records and ktp in paused:
                # Paused after the fetch: hand nothing out, read these again after resume.
                self._consumer.seek(ktp, records[0].offset)
                continue
            out.extend(
                Record(
                    r.topic,
                    r.partition,
                    r.offset,
                    r.key,
                    r.value if r.value is not None else b"",
                    r.timestamp,
                    tuple((k, v if v is not None else b"") for k, v in (r.headers or ())),
                )
                for r in records
            )
        return out

    def _poll_until_stopped(self, timeout_s: float, max_records: int | None) -> dict[Any, list[Any]]:
        """kafka-python's ``poll`` on a worker thread, given up once the service is stopping.

        Its poll waits for the client's IO thread without a bound of its own (while looking for
        the group coordinator, say), and that thread can sit in ``getaddrinfo`` when the broker's
        DNS went away (a compose stack stopping: the alert service was seen held past its
        shutdown budget). While running it waits as long as kafka-python does; after a stop it
        waits ``timeout_s`` plus a little, then hands back nothing (the worker is a daemon).
        """
        timeout_ms = int(max(0.0, timeout_s) * 1000)
        background = _BackgroundCall(
            lambda: self._consumer.poll(timeout_ms=timeout_ms, max_records=max_records), "vigil-kafka-poll"
        )
        started = time.monotonic()
        while not background.wait(0.05):
            if self._stop.is_set() and time.monotonic() - started > timeout_s + POLL_STOP_SLACK_S:
                log.warning("%s", self._context("poll did not return after the stop; moving on"))
                return {}
        return cast(dict[Any, list[Any]], background.outcome())

    def connected(self) -> bool:
        """Whether the group's coordinator is known and connected (False while the broker is away).

        Read without side effects from kafka-python's coordinator: callers use it to tell a broker
        outage from silent cameras. Unknown internals count as connected.
        """
        coordinator = getattr(self._consumer, "_coordinator", None)
        try:
            node = coordinator.coordinator_id  # type: ignore[union-attr]
            return node is not None and not coordinator._client.is_disconnected(node)  # type: ignore[union-attr]
        except AttributeError:
            return True

    def commit(self, offsets: Mapping[TopicPartition, int], timeout_s: float | None = None) -> None:
        """Commit exactly ``offsets`` (next offset to read per partition), synchronously, within
        ``timeout_s`` (None: the consumer's request timeout)."""
        if not offsets:
            return
        assigned = self._consumer.assignment()
        for tp in offsets:
            if _ktp(tp) not in assigned:
                raise BusError(f"commit for {tp} refused: not assigned to this member (rebalanced)")
        request = {_ktp(tp): OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()}
        try:
            if timeout_s is None:
                self._consumer.commit(offsets=request)
            else:  # bounded even when the client's IO thread is stuck (see _within)
                _within(
                    lambda: self._consumer.commit(offsets=request, timeout_ms=_ms(timeout_s)),
                    timeout_s + CLOSE_WAIT_S,
                    self._context("commit"),
                )
        except _Timeout as exc:
            raise BusError(str(exc)) from None
        except kerr.KafkaError as exc:
            raise _wrap(exc, self._context(f"commit {dict(offsets)}")) from None

    def committed(self, tp: TopicPartition) -> int | None:
        """The group's committed offset for ``tp`` (None if nothing committed)."""
        try:
            offset = self._consumer.committed(_ktp(tp))
        except kerr.KafkaError as exc:
            raise _wrap(exc, self._context(f"committed offset of {tp}")) from None
        return None if offset is None else int(offset)

    def pause(self, partitions: Iterable[TopicPartition]) -> None:
        """Stop fetching from assigned ``partitions``; keep calling ``poll`` to stay in the group."""
        assigned = self._consumer.assignment()
        ktps = [k for k in map(_ktp, partitions) if k in assigned]
        if ktps:
            self._consumer.pause(*ktps)

    def resume(self, partitions: Iterable[TopicPartition]) -> None:
        """Fetch from ``partitions`` again."""
        paused = self._consumer.paused()
        ktps = [k for k in map(_ktp, partitions) if k in paused]
        if ktps:
            self._consumer.resume(*ktps)

    def paused(self) -> set[TopicPartition]:
        """Partitions currently paused."""
        return {_tp(k) for k in self._consumer.paused()}

    def assignment(self) -> set[TopicPartition]:
        """Partitions currently assigned to this member."""
        return {_tp(k) for k in self._consumer.assignment()}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Read ``tp`` from ``offset`` next."""
        if _ktp(tp) not in self._consumer.assignment():
            raise BusError(f"cannot seek {tp}: not assigned")
        self._consumer.seek(_ktp(tp), offset)

    def offsets_for_time(self, tp: TopicPartition, timestamp_ms: int) -> int | None:
        """The earliest offset whose timestamp is at or after ``timestamp_ms`` (None if none)."""
        try:
            found = self._consumer.offsets_for_times({_ktp(tp): timestamp_ms})
        except kerr.KafkaError as exc:
            raise _wrap(exc, self._context(f"offsets for time on {tp}")) from None
        hit = found.get(_ktp(tp))
        return None if hit is None else int(hit.offset)

    def end_offsets(
        self, tps: Iterable[TopicPartition], timeout_s: float | None = None
    ) -> dict[TopicPartition, int]:
        """Log-end offsets (next offset to be written), within ``timeout_s`` (None: the request timeout)."""
        timeout_ms = None if timeout_s is None else int(timeout_s * 1000)
        try:
            ends = self._consumer.end_offsets([_ktp(tp) for tp in tps], timeout_ms=timeout_ms)
        except kerr.KafkaError as exc:
            raise _wrap(exc, self._context("end offsets")) from None
        return {_tp(k): int(v) for k, v in ends.items()}

    def close(self, timeout_s: float | None = None) -> None:
        """Leave the group without committing anything, within ``timeout_s`` (None: the request timeout)."""
        if not self._closed:
            self._closed = True
            if self._listener is not None:
                self._listener.closing = True
            _close_within(
                lambda: self._consumer.close(autocommit=False, timeout_ms=_ms(timeout_s)),
                (self._consumer.config["request_timeout_ms"] / 1000 if timeout_s is None else timeout_s)
                + CLOSE_WAIT_S,
                self._context("close"),
            )
