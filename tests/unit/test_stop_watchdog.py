"""The shutdown watchdog (streaming.runtime.StopWatchdog via ServiceShutdown), in real processes:
only a process gets real signals and can be ended by ``os._exit``."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from streaming.runtime import EXIT_STOP_OVERRUN, WATCHDOG_MARGIN_S, StopBudget

ROOT = Path(__file__).resolve().parents[2]


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
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == EXIT_STOP_OVERRUN, err
    assert "vigil test: overran its shutdown budget" in err, err
    assert "stuck_in_shutdown" in err, err  # the stack says where it hung
    assert 0.5 + WATCHDOG_MARGIN_S - 0.2 < took < 0.5 + WATCHDOG_MARGIN_S + 3.0, took


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
        "time.sleep(0.2 + 2.0 + 1.0)  # past the watchdog's time: it was disarmed\n"
        "print('clean exit', flush=True)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and "clean exit" in out, (proc.returncode, out, err)


def test_stop_budget_shares_one_deadline_between_steps() -> None:
    now = [100.0]
    budget = StopBudget(5.0, clock=lambda: now[0])
    assert budget.left() == 5.0  # the first call starts the clock when nobody did
    now[0] += 2.0
    budget.start()  # a later start keeps the first deadline
    assert budget.left() == 3.0
    now[0] += 10.0
    assert budget.left() == 0.1 and budget.left(floor_s=0.0) == 0.0
