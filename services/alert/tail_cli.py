"""``vigil alerts tail``: print alerts from Redis.

vigil alerts tail                       # the last 20 alerts, pretty
vigil alerts tail --follow --json       # and every new one, as CloudEvent JSON lines
vigil alerts tail --camera gate-3 --follow
vigil alerts tail --group ops --consumer phone-1 --follow --claim-idle-ms 30000
                                        # in a consumer group: XACK after printing; entries a
                                        # crashed member left pending are claimed (XAUTOCLAIM)
vigil alerts tail --live                # Pub/Sub: lowest latency, at-most-once

Following, a Redis restart or a lost connection is waited out (capped backoff); the tail says on
stderr when Redis went away and how long it was away, then resumes: a group from its pending
entries, the stream after the last alert printed (each alert is printed once), --live by
subscribing again, with a warning that alerts published in the gap were not seen there.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from typing import Any

import redis

from services.alert.render import pretty
from streaming.alert_store import RedisSetupError, setup_problem
from streaming.alerts_client import AlertsClient, RedisOutage
from streaming.config import ConfigError, load_config
from streaming.runtime import StopWatchdog

# After SIGTERM/SIGINT a tail blocked in C (resolving a Redis host whose DNS went away with the
# stack) is ended this long after the signal, still with exit 0: a tail loses nothing by stopping
# (a group re-reads what it did not acknowledge).
TAIL_STOP_BUDGET_S = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``vigil alerts``."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    tail = sub.add_parser(
        "tail",
        help="print alerts (pretty by default)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tail.add_argument("--config", help="YAML configuration (Redis address and stream names)")
    tail.add_argument("--json", action="store_true", help="one CloudEvent JSON object per line")
    tail.add_argument("--camera", help="only this camera's alerts")
    tail.add_argument("--follow", "-f", action="store_true", help="keep waiting for new alerts")
    tail.add_argument(
        "--last", type=int, default=20, help="without a group: start with the last N (default 20)"
    )
    tail.add_argument("--group", help="read in this consumer group (created at the stream's start)")
    tail.add_argument("--consumer", help="consumer name in the group (default: host name)")
    tail.add_argument(
        "--claim-idle-ms",
        type=int,
        default=None,
        help="with --group: first claim entries other consumers left pending this long (XAUTOCLAIM)",
    )
    tail.add_argument("--live", action="store_true", help="Pub/Sub instead of the stream (at-most-once)")


def _events(args: argparse.Namespace, client: AlertsClient) -> Iterator[dict[str, Any]]:
    if args.live:
        yield from client.live(camera=args.camera)
        return
    if args.group:
        consumer = args.consumer or socket.gethostname()
        for alert in client.consume(
            args.group, consumer, follow=args.follow, claim_idle_ms=args.claim_idle_ms, camera=args.camera
        ):
            yield alert.event
            client.ack(args.group, alert)  # printed = handled
        return
    for alert in client.read(last=args.last, follow=args.follow, camera=args.camera):
        yield alert.event


def _report_outage(outage: RedisOutage) -> None:
    print(f"vigil alerts tail: {outage.describe()}", file=sys.stderr, flush=True)


def _stop_on_signals() -> tuple[dict[int, Any], StopWatchdog | None]:
    """SIGTERM (docker/podman stop, Kubernetes) and SIGINT end a tail cleanly, exit 0.

    SIGINT is set explicitly: a process started from a non-interactive shell's background job
    inherits it ignored, and Python then never turns it into KeyboardInterrupt. The watchdog
    covers a main thread blocked in C, where the KeyboardInterrupt cannot be raised.
    """
    if threading.current_thread() is not threading.main_thread():
        return {}, None  # called as a library from a worker thread: the caller owns the signals

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    before: dict[int, Any] = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    watchdog = StopWatchdog(
        TAIL_STOP_BUDGET_S,
        exit_code=0,
        message="vigil alerts tail: stopped while waiting on Redis",
        dump_stacks=False,
    )
    return before, watchdog


def run(args: argparse.Namespace) -> int:
    """Print alerts until the stream is drained (or forever with ``--follow``); 0 when stopped by a signal."""
    before, watchdog = _stop_on_signals()
    try:
        return _run(args)
    finally:
        if watchdog is not None:
            watchdog.close()
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"vigil alerts: {exc}", file=sys.stderr)
        return 2
    if args.group is None and (args.consumer or args.claim_idle_ms is not None):
        print("vigil alerts tail: --consumer/--claim-idle-ms need --group", file=sys.stderr)
        return 2
    client = AlertsClient.from_config(config.redis, on_outage=_report_outage)
    try:
        for event in _events(args, client):
            line = json.dumps(event, separators=(",", ":"), sort_keys=True) if args.json else pretty(event)
            print(line, flush=True)
    except redis.RedisError as exc:
        problem = exc if isinstance(exc, RedisSetupError) else setup_problem(exc, config.redis, probe=True)
        if problem is not None:  # refused (credentials, TLS): say what to fix
            print(f"vigil alerts tail: {problem}", file=sys.stderr)
        else:
            print(f"vigil alerts tail: redis: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except (BrokenPipeError, KeyboardInterrupt):
        return 0
    finally:
        client.close()
    return 0
