"""A connection attempt in progress gives way to a stop (SIGTERM) at once.

A bootstrap of a cluster that is away blocks for its whole attempt timeout (5 s), longer than a
stopping service's budget: CI saw fusion exit 70 (its watchdog) when SIGTERM came during one.
"""

from __future__ import annotations

import threading
import time

import pytest

from streaming.bus import BusStopped
from streaming.kafka_bus import connect_with_retry


class SlowClient:
    """Stands for a client whose bootstrap takes ``seconds``; records its close."""

    def __init__(self, seconds: float) -> None:
        time.sleep(seconds)
        self.closed = threading.Event()

    def close(self) -> None:
        self.closed.set()


def test_a_stop_during_an_attempt_ends_the_wait_at_once_and_the_late_client_is_closed() -> None:
    stop = threading.Event()
    made: list[SlowClient] = []

    def factory(timeout_s: float) -> SlowClient:
        made.append(SlowClient(1.0))
        return made[-1]

    threading.Timer(0.2, stop.set).start()
    t0 = time.monotonic()
    with pytest.raises(BusStopped, match="stopped while connecting to Kafka at kafka:9092"):
        connect_with_retry("producer", "kafka:9092", factory, timeout_s=None, stop=stop)
    assert time.monotonic() - t0 < 0.6  # the attempt itself would take 1 s
    deadline = time.monotonic() + 5
    while not made and time.monotonic() < deadline:
        time.sleep(0.05)
    assert made and made[0].closed.wait(5), "the client that connected after the stop was not closed"


def test_an_attempt_without_a_stop_returns_its_client_and_its_errors() -> None:
    stop = threading.Event()
    client = connect_with_retry(
        "admin client", "kafka:9092", lambda t: SlowClient(0.1), timeout_s=None, stop=stop
    )
    assert isinstance(client, SlowClient) and not client.closed.is_set()

    def broken(timeout_s: float) -> SlowClient:
        raise ValueError("not a connection failure")

    with pytest.raises(ValueError, match="not a connection failure"):
        connect_with_retry("producer", "kafka:9092", broken, timeout_s=None, stop=stop)


def test_each_attempt_is_given_the_attempt_timeout() -> None:
    seen: list[float] = []
    connect_with_retry(
        "producer",
        "kafka:9092",
        lambda t: seen.append(t) or SlowClient(0.0),
        timeout_s=None,
        attempt_timeout_s=2.5,
        stop=threading.Event(),
    )
    assert seen == [2.5]
