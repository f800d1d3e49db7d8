"""Alert delivery and subscribers against the real Redis: idempotency, Redis restarts, XAUTOCLAIM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from streaming.alert_store import Alert, RedisAlertStore
from streaming.alerts_client import AlertsClient
from streaming.config import RedisConfig

ROOT = Path(__file__).resolve().parents[2]


def make_alert(i: int, camera: str = "cam-1", blob: bytes = b"") -> Alert:
    event = {
        "id": f"inc-{i:024x}.0.raised",
        "type": "vigil.alert.raised.v1",
        "data": {"camera": camera, "n": i},
    }
    blobs = {f"vigil:evidence:test:{uuid.uuid4().hex}": blob} if blob else {}
    return Alert(event["id"], camera, "raised", event, 0.5, blobs)  # type: ignore[arg-type]


@pytest.fixture
def rconfig(stack) -> Iterator[RedisConfig]:
    name = f"vigil:test:{uuid.uuid4().hex[:8]}"
    cfg = RedisConfig(
        url=stack.redis_url,
        stream=name,
        channel=f"{name}:live",
        dedup_ttl_s=600,
        retry_backoff_initial_s=0.05,
        retry_backoff_max_s=0.5,
        socket_timeout_s=2.0,
    )
    yield cfg
    r = redis.Redis.from_url(stack.redis_url)
    try:
        r.delete(name)
        for key in r.scan_iter("vigil:alert:seen:inc-*"):
            r.delete(key)
    except redis.RedisError:
        pass


def stream_ids(cfg: RedisConfig) -> list[str]:
    r = redis.Redis.from_url(cfg.url.get_secret_value())
    entries: list[Any] = r.xrange(cfg.stream)  # type: ignore[assignment]
    return [fields[b"id"].decode() for _eid, fields in entries]


def test_delivery_is_idempotent_and_publishes_live(rconfig: RedisConfig) -> None:
    store = RedisAlertStore(rconfig)
    client = AlertsClient.from_config(rconfig)
    received: list[dict[str, object]] = []
    subscriber = threading.Thread(target=lambda: received.extend(client.live(timeout_s=2.0)))
    subscriber.start()
    time.sleep(0.3)
    alert = make_alert(1, blob=b"\xff\xd8" + b"x" * 100)
    assert store.deliver(alert) is True
    assert store.deliver(alert) is False  # re-delivery: nothing doubled
    subscriber.join()
    assert stream_ids(rconfig) == [alert.id]
    assert [e["id"] for e in received] == [alert.id]
    ((key, blob),) = alert.blobs.items()
    r = redis.Redis.from_url(rconfig.url.get_secret_value())
    assert r.get(key) == blob and 0 < r.ttl(key) <= rconfig.evidence_ttl_s
    assert 0 < r.ttl("vigil:alert:seen:" + alert.id) <= rconfig.dedup_ttl_s
    assert [a.id for a in client.read(last=10)] == [alert.id]
    store.close()


def test_redis_restart_mid_stream_loses_nothing_doubles_nothing(stack, rconfig: RedisConfig) -> None:
    errors: list[BaseException] = []
    store = RedisAlertStore(rconfig, on_error=errors.append)
    alerts = [make_alert(100 + i) for i in range(60)]
    done = threading.Event()

    def deliver_all() -> None:
        for i, alert in enumerate(alerts):
            store.deliver(alert)
            if i % 3 == 0:
                store.deliver(alert)  # and a re-delivery now and then
            time.sleep(0.03)
        done.set()

    writer = threading.Thread(target=deliver_all)
    writer.start()
    time.sleep(0.5)
    stack.redis_restart(down_s=1.0)
    writer.join(60)
    assert done.is_set()
    assert errors, "the restart should have been noticed (the test proves nothing otherwise)"
    ids = stream_ids(rconfig)
    assert sorted(ids) == sorted(a.id for a in alerts)
    assert len(ids) == len(set(ids))
    store.close()


CRASHING_SUBSCRIBER = """
import sys, time
from streaming.alerts_client import AlertsClient
from streaming.config import RedisConfig
cfg = RedisConfig(url=sys.argv[1], stream=sys.argv[2])
client = AlertsClient.from_config(cfg)
for n, alert in enumerate(client.consume("ops", "crashy")):
    if n < 4:
        client.ack("ops", alert)
        print("acked", alert.id, flush=True)
    else:
        print("read", alert.id, flush=True)  # read, never acknowledged: pending
print("waiting", flush=True)
time.sleep(600)
"""


def test_crashed_subscriber_pending_alerts_are_claimed(rconfig: RedisConfig) -> None:
    store = RedisAlertStore(rconfig)
    alerts = [make_alert(200 + i, camera=f"cam-{i % 2}") for i in range(10)]
    for alert in alerts:
        store.deliver(alert)
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHING_SUBSCRIBER, rconfig.url.get_secret_value(), rconfig.stream],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        if line.startswith("waiting"):
            break
        lines.append(line.split())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    acked = {i for verb, i in lines if verb == "acked"}
    pending = {i for verb, i in lines if verb == "read"}
    assert len(acked) == 4 and len(pending) == 6
    client = AlertsClient.from_config(rconfig)
    assert client.pending_count("ops") == 6
    time.sleep(0.2)
    got = list(client.consume("ops", "rescuer", claim_idle_ms=100))
    assert {a.id for a in got} == pending  # exactly the crashed member's unacknowledged alerts
    for claimed in got:
        client.ack("ops", claimed)
    assert client.pending_count("ops") == 0
    assert acked | pending == {a.id for a in alerts}
    store.close()


def test_tail_cli_prints_json_and_filters_camera(rconfig: RedisConfig) -> None:
    store = RedisAlertStore(rconfig)
    for i in range(4):
        store.deliver(make_alert(300 + i, camera=f"cam-{i % 2}"))
    env = {
        **os.environ,
        "VIGIL_REDIS__URL": rconfig.url.get_secret_value(),
        "VIGIL_REDIS__STREAM": rconfig.stream,
    }
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.cli",
            "alerts",
            "tail",
            "--json",
            "--camera",
            "cam-1",
            "--group",
            "tailers",
            "--consumer",
            "t1",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    assert len(out) == 2 and all('"camera":"cam-1"' in line for line in out)
    assert AlertsClient.from_config(rconfig).pending_count("tailers") == 0
    store.close()
