"""Subscribers survive Redis restarts: `vigil alerts tail` and the Python client reconnect.

Redis here is a private ``redis-server`` on its own port (with a password, append-only file
fsynced on every write so a kill -9 loses nothing), so restarting it never disturbs the shared
stack. Alerts are written by the real :class:`RedisAlertStore` while Redis goes down twice: once
with SHUTDOWN, once with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from streaming.alert_store import RedisAlertStore
from streaming.alerts_client import AlertsClient, RedisOutage
from streaming.config import RedisConfig
from tests.integration.test_alert_redis import make_alert
from tests.integration.test_ingest_rtsp import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "tail-s3cret-pw"


class PrivateRedis:
    """A redis-server of our own: stop it (gracefully or with SIGKILL) and start it again."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://:{PASSWORD}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = (self.workdir / "redis.log").open("ab")
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.workdir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--requirepass",
                PASSWORD,
            ],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        assert wait_for(lambda: self._answers(client), 10), "private redis-server did not start"

    @staticmethod
    def _answers(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()  # SIGTERM: a graceful SHUTDOWN
        self.proc.wait(10)
        self.proc = None

    def restart(self, down_s: float, *, kill: bool = False) -> None:
        self.stop(kill=kill)
        time.sleep(down_s)
        self.start()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop(kill=True)


class Tail:
    """`vigil alerts tail ...` as a subprocess; stdout and stderr lines collected by threads."""

    def __init__(self, cfg: RedisConfig, *args: str) -> None:
        env = {
            **os.environ,
            "VIGIL_REDIS__URL": cfg.url.get_secret_value(),
            "VIGIL_REDIS__STREAM": cfg.stream,
            "VIGIL_REDIS__CHANNEL": cfg.channel,
            "VIGIL_REDIS__RETRY_BACKOFF_INITIAL_S": "0.05",
            "VIGIL_REDIS__RETRY_BACKOFF_MAX_S": "0.5",
            "VIGIL_REDIS__SOCKET_TIMEOUT_S": "2",
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "alerts", "tail", "--json", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._threads = [
            threading.Thread(target=self._collect, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._collect, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _collect(stream: object, into: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            into.append(line.rstrip("\n"))

    def ids(self) -> list[str]:
        return [json.loads(line)["id"] for line in self.out if line.startswith("{")]

    def stop(self) -> int | None:
        """SIGINT (Ctrl-C); the exit status, or None if it was not running any more before."""
        was_running = self.proc.poll() is None
        if was_running:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for thread in self._threads:
            thread.join(5)
        return self.proc.returncode if was_running else None


def test_tail_and_client_survive_redis_restarts_and_print_every_alert_once(
    private_redis: PrivateRedis,
) -> None:
    name = f"vigil:test:{uuid.uuid4().hex[:8]}"
    cfg = RedisConfig(
        url=private_redis.url,
        stream=name,
        channel=f"{name}:live",
        dedup_ttl_s=600,
        retry_backoff_initial_s=0.05,
        retry_backoff_max_s=0.5,
        socket_timeout_s=2.0,
    )
    alerts = [make_alert(500 + i, camera=f"cam-{i % 3}") for i in range(90)]
    group_tail = Tail(cfg, "--follow", "--group", "ops", "--consumer", "phone-1")
    live_tail = Tail(cfg, "--live")
    outages: list[RedisOutage] = []
    client = AlertsClient.from_config(cfg, on_outage=outages.append)
    followed: list[str] = []
    reader_done = threading.Event()

    def follow() -> None:
        for alert in client.read(follow=True):
            followed.append(alert.id)
            if len(followed) >= len(alerts) or reader_done.is_set():
                return

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    errors: list[BaseException] = []
    store = RedisAlertStore(cfg, on_error=errors.append)
    restarted: list[float] = []

    def deliver(batch: list) -> None:  # type: ignore[type-arg]
        for alert in batch:
            store.deliver(alert)
            time.sleep(0.04)

    try:
        # every subscriber is connected before the first alert (the live one could miss it otherwise)
        time.sleep(3.0)
        deliver(alerts[:30])
        writer = threading.Thread(target=deliver, args=(alerts[30:60],))
        writer.start()
        time.sleep(0.4)
        private_redis.restart(1.5)  # SHUTDOWN while alerts are written and read
        restarted.append(time.monotonic())
        writer.join(60)
        writer = threading.Thread(target=deliver, args=(alerts[60:],))
        writer.start()
        time.sleep(0.4)
        private_redis.restart(1.5, kill=True)  # and a crash
        restarted.append(time.monotonic())
        writer.join(60)
        want = {a.id for a in alerts}
        assert wait_for(lambda: set(group_tail.ids()) == want, 30), len(set(group_tail.ids()))
        assert wait_for(lambda: len(followed) >= len(alerts), 30), len(followed)
        time.sleep(1.5)  # room for a duplicate to show up
        assert group_tail.proc.poll() is None, group_tail.err  # kept running through both restarts
        assert live_tail.proc.poll() is None, live_tail.err
        pending = AlertsClient.from_config(cfg).pending_count("ops")
    finally:
        reader_done.set()
        group_code = group_tail.stop()
        live_code = live_tail.stop()
        store.close()
    printed = group_tail.ids()
    print("\n" + "\n".join(group_tail.err + live_tail.err))
    assert sorted(printed) == sorted(want) and len(printed) == len(alerts)  # every alert exactly once
    assert sorted(followed) == sorted(want) and len(followed) == len(alerts)  # the Python client too
    assert pending == 0  # everything printed was acknowledged
    assert errors, "the writer never noticed an outage (the test would prove nothing)"
    err = "\n".join(group_tail.err)
    assert err.count("lost Redis") >= 2 and err.count("Redis back after") >= 2, err
    assert 'resuming group "ops" from its pending entries' in err
    live_err = "\n".join(live_tail.err)
    assert "were not seen here" in live_err, live_err
    assert live_tail.ids() and live_tail.ids()[-1] == alerts[-1].id  # subscribed again: live again
    assert [o.away_s is None for o in outages[:2]] == [True, False]
    assert all(o.away_s < 10 for o in outages if o.away_s is not None)
    for text in (err, live_err, *(o.describe() for o in outages)):
        assert PASSWORD not in text
    assert group_code in (0, 130) and live_code in (0, 130), (group_code, live_code)
