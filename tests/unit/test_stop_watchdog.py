"""The shutdown watchdog (streaming.runtime.StopWatchdog via ServiceShutdown), in real processes:
only a process gets real signals and can be ended by ``os._exit``."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from streaming.kafka_bus import _close_within, _Timeout, _within
from streaming.runtime import EXIT_STOP_OVERRUN, WATCHDOG_MARGIN_S, StopBudget

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Ended:
    code: int
    out: str
    err: str
    took: float  # from SIGTERM to the end


def sigterm_when_ready(script: str) -> Ended:
    """Run ``script`` (it prints "ready" once its handlers are in), SIGTERM it, wait for its end."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
        return Ended(proc.returncode, out, err, time.monotonic() - t0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_watchdog_ends_a_service_whose_shutdown_hangs() -> None:
    """A stop that never finishes (here: a stop request that does nothing while the main thread
    keeps sleeping; in life, a main thread blocked in C, e.g. resolving a host whose DNS went away)
    is ended WATCHDOG_MARGIN_S after the budget, with exit 70 and every thread's stack on stderr."""
    script = (
        "import time\n"
        "from streaming.runtime import ServiceShutdown\n"
        "shutdown = ServiceShutdown(budget_s=0.5, name='vigil test')\n"
        "shutdown.started(lambda: None)\n"
        "print('ready', flush=True)\n"
        "def stuck_in_shutdown():\n"
        "    time.sleep(60)\n"
        "stuck_in_shutdown()\n"
    )
    ended = sigterm_when_ready(script)
    assert ended.code == EXIT_STOP_OVERRUN, ended.err
    assert "vigil test: overran its shutdown budget" in ended.err, ended.err
    assert "stuck_in_shutdown" in ended.err, ended.err  # the stack says where it hung
    assert 0.5 + WATCHDOG_MARGIN_S - 0.2 < ended.took < 0.5 + WATCHDOG_MARGIN_S + 3.0, ended.took


def test_a_service_that_stops_in_time_is_not_ended_by_the_watchdog() -> None:
    script = (
        "import sys, threading, time\n"
        "from streaming.runtime import ServiceShutdown\n"
        "shutdown = ServiceShutdown(budget_s=0.2, name='vigil test')\n"
        "stopped = threading.Event()\n"
        "shutdown.started(stopped.set)\n"
        "print('ready', flush=True)\n"
        "stopped.wait(30)\n"
        "shutdown.restore()\n"
        "print('clean exit', flush=True)\n"
    )
    ended = sigterm_when_ready(script)
    assert ended.code == 0 and "clean exit" in ended.out, ended


def test_stop_budget_shares_one_deadline_between_steps() -> None:
    now = [100.0]
    budget = StopBudget(5.0, clock=lambda: now[0])
    assert budget.left() == 5.0  # the first call starts the clock when nobody did
    now[0] += 2.0
    budget.start()  # a later start keeps the first deadline
    assert budget.left() == 3.0
    now[0] += 10.0
    assert budget.left() == 0.1 and budget.left(floor_s=0.0) == 0.0


def test_the_countdown_covers_what_runs_after_the_service_returned() -> None:
    """Closing clients and the interpreter's exit run after restore(): a hang there is ended too."""
    script = (
        "import threading, time\n"
        "from streaming.runtime import ServiceShutdown\n"
        "shutdown = ServiceShutdown(budget_s=0.3, name='vigil test')\n"
        "stopped = threading.Event()\n"
        "shutdown.started(stopped.set)\n"
        "print('ready', flush=True)\n"
        "stopped.wait(30)\n"
        "shutdown.restore()\n"
        "def closing_a_client_that_hangs():\n"
        "    time.sleep(60)\n"
        "closing_a_client_that_hangs()\n"
    )
    ended = sigterm_when_ready(script)
    assert ended.code == EXIT_STOP_OVERRUN and "closing_a_client_that_hangs" in ended.err, ended.err


def test_without_a_signal_restore_disarms_it() -> None:
    """A service that ends on its own (files ended) and then takes its time is left alone."""
    script = (
        "import signal, time\n"
        "from streaming.runtime import ServiceShutdown\n"
        "shutdown = ServiceShutdown(budget_s=0.1, name='vigil test')\n"
        "shutdown.restore()\n"
        "signal.signal(signal.SIGTERM, lambda *_: print('handled', flush=True))\n"
        "print('ready', flush=True)\n"
        "time.sleep(0.1 + 2.0 + 1.0)\n"
        "print('clean exit', flush=True)\n"
    )
    ended = sigterm_when_ready(script)
    # SIGTERM came after restore(): no countdown started
    assert ended.code == 0 and "handled" in ended.out and "clean exit" in ended.out, ended


def test_a_kafka_client_close_that_hangs_is_left_behind(caplog: pytest.LogCaptureFixture) -> None:
    """kafka-python's close joins its IO thread without a timeout; that thread was seen stuck in
    getaddrinfo for a broker whose DNS went away with the compose stack."""
    release = threading.Event()
    t0 = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="streaming.kafka_bus"):
        _close_within(lambda: release.wait(30), 0.3, "Kafka at kafka:9092: admin client")
    took = time.monotonic() - t0
    release.set()
    assert took < 2.0, took
    assert "no answer within 0.3 s" in caplog.text and "moving on" in caplog.text

    def refuses() -> None:
        raise RuntimeError("boom")

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streaming.kafka_bus"):
        _close_within(refuses, 1.0, "Kafka at kafka:9092: admin client")
    assert "close failed" in caplog.text and "boom" in caplog.text


def test_a_kafka_call_is_bounded_and_keeps_its_result_and_errors() -> None:
    """What commit uses with a timeout: the answer, the client's own error, or a timeout."""
    assert _within(lambda: 42, 1.0, "commit") == 42
    with pytest.raises(KeyError):
        _within(lambda: {}["x"], 1.0, "commit")
    release = threading.Event()
    with pytest.raises(_Timeout, match=r"commit: no answer within 0\.2 s"):
        _within(lambda: release.wait(30), 0.2, "commit")
    release.set()
