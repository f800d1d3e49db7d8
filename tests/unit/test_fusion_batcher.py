"""Batcher: full batches leave at once, partial ones after max_wait, FIFO order across cameras."""

from __future__ import annotations

import threading

import pytest

from services.fusion.batcher import Batcher


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_full_batch_is_ready_at_once_and_fifo() -> None:
    clock = FakeClock()
    b: Batcher[str] = Batcher(3, 10.0, clock)
    for item in ("a1", "b1", "a2", "c1"):
        b.put(item)
    assert b.ready()
    assert b.next_batch(0.0) == ["a1", "b1", "a2"]
    assert not b.ready()  # one left, it has not waited
    clock.t = 9.99
    assert not b.ready()
    clock.t = 10.0
    assert b.ready() and b.take() == ["c1"] and len(b) == 0


def test_partial_batch_after_max_wait_real_clock() -> None:
    b: Batcher[int] = Batcher(64, 0.02)
    b.put(1)
    b.put(2)
    assert b.next_batch(5.0) == [1, 2]


def test_empty_returns_after_timeout() -> None:
    b: Batcher[int] = Batcher(4, 0.01)
    assert b.next_batch(0.02) == []


def test_close_releases_waiters_and_flushes() -> None:
    b: Batcher[int] = Batcher(4, 60.0)
    b.put(7)
    got: list[list[int]] = []
    t = threading.Thread(target=lambda: got.append(b.next_batch(30.0)))
    t.start()
    b.close()
    t.join(5)
    assert got == [[7]]


def test_batch_filled_by_another_thread_wakes_waiter() -> None:
    b: Batcher[int] = Batcher(2, 60.0)
    got: list[list[int]] = []
    t = threading.Thread(target=lambda: got.append(b.next_batch(30.0)))
    t.start()
    b.put(1)
    b.put(2)
    t.join(5)
    assert got == [[1, 2]]


@pytest.mark.parametrize(("max_batch", "max_wait"), [(0, 1.0), (1, -1.0)])
def test_rejects_bad_settings(max_batch: int, max_wait: float) -> None:
    with pytest.raises(ValueError):
        Batcher(max_batch, max_wait)
