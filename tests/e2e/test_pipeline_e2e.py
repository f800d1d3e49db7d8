"""Camera to subscriber on the real stack: RTSP -> ingest -> Kafka -> fusion -> alert -> Redis -> subscriber.

Three cameras play clips with incidents at known times (gunshot at 4 s, scream at 5 s) and one
without. Expected: exactly one raised alert per incident, of the right class, a resolved event
after it, nothing for the quiet camera; every alert's capture-to-alert latency is recorded
(``e2e-latency.json`` in the test's tmp dir and the test output).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from streaming.alerts_client import AlertsClient, ReceivedAlert
from streaming.config import RedisConfig

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Pipeline:
    """The three services as separate processes sharing unique topics, groups and a Redis stream."""

    def __init__(self, cameras, tmp: Path) -> None:
        u = uuid.uuid4().hex[:8]
        self.stream = f"vigil:test:e2e:{u}"
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "VIGIL_TOPICS__VIDEO": f"vigil.e2e.{u}.video",
            "VIGIL_TOPICS__AUDIO": f"vigil.e2e.{u}.audio",
            "VIGIL_TOPICS__SCORES": f"vigil.e2e.{u}.scores",
            "VIGIL_TOPICS__DEAD_LETTER": f"vigil.e2e.{u}.deadletter",
            "VIGIL_KAFKA__PARTITIONS": "2",
            "VIGIL_FUSION__GROUP_ID": f"vigil-fusion-e2e-{u}",
            "VIGIL_FUSION__PROVIDERS": '["CPUExecutionProvider"]',
            "VIGIL_ALERT__GROUP_ID": f"vigil-alert-e2e-{u}",
            "VIGIL_REDIS__STREAM": self.stream,
            "VIGIL_REDIS__CHANNEL": f"{self.stream}:live",
            "VIGIL_HTTP__HOST": "127.0.0.1",
            "VIGIL_LOG_LEVEL": "INFO",
        }
        for mount in cameras.clips:
            self.env[f"VIGIL_CAMERAS__cam-{mount}__URL"] = cameras.url(mount)
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}

    def start(self, name: str) -> None:
        port = free_port()
        self.ports[name] = port
        with (self.tmp / f"{name}.log").open("ab") as out:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "services.cli", name],
                cwd=ROOT,
                env={**self.env, "VIGIL_HTTP__PORT": str(port)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def ready(self, name: str) -> bool:
        proc = self.procs[name]
        if proc.poll() is not None:
            pytest.fail(f"{name} exited with {proc.returncode}:\n{self.log(name)[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ports[name]}/readyz", timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def pipeline(e2e_cameras, stack, tmp_path: Path) -> Iterator[Pipeline]:
    p = Pipeline(e2e_cameras, tmp_path)
    try:
        yield p
    finally:
        p.stop()
        r = redis.Redis.from_url(stack.redis_url)
        r.delete(p.stream)


def wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.25)


def test_camera_to_subscriber(pipeline: Pipeline, e2e_cameras, stack, tmp_path: Path) -> None:
    pipeline.start("alert")
    pipeline.start("fusion")
    wait_for(lambda: pipeline.ready("alert") and pipeline.ready("fusion"), 90, "alert and fusion ready")
    pipeline.start("ingest")
    client = AlertsClient.from_config(RedisConfig(url=stack.redis_url, stream=pipeline.stream))
    received: list[ReceivedAlert] = []
    incident_cams = {f"cam-{m}" for m, inc in e2e_cameras.clips.items() if inc}

    def resolved_all() -> bool:
        for alert in client.consume("e2e-subscriber", "test"):
            received.append(alert)
            client.ack("e2e-subscriber", alert)
        return {a.camera for a in received if a.type == "resolved"} >= incident_cams

    try:
        wait_for(resolved_all, 120, f"raised and resolved alerts of {sorted(incident_cams)}")
        time.sleep(3.0)  # a stray duplicate or a late alert for the quiet camera would show now
        resolved_all()
    finally:
        logs = {name: pipeline.log(name)[-2000:] for name in pipeline.procs}
        pipeline.stop()
    latency = [
        {
            "camera": a.camera,
            "type": a.type,
            "class": a.event["data"]["class"],
            "capture_to_alert_seconds": a.event["data"]["capture_to_alert_seconds"],
        }
        for a in received
    ]
    (tmp_path / "e2e-latency.json").write_text(json.dumps(latency, indent=1))
    print("capture-to-alert:", json.dumps(latency))
    assert len({a.id for a in received}) == len(received), "an alert was delivered twice"
    for mount, incident in e2e_cameras.clips.items():
        cam = f"cam-{mount}"
        mine = [a for a in received if a.camera == cam]
        if incident is None:
            assert mine == [], f"alerts for the quiet camera: {[a.event['data']['summary'] for a in mine]}"
            continue
        raised = [a for a in mine if a.type == "raised"]
        assert len(raised) == 1, (cam, [a.id for a in mine], logs)
        assert raised[0].event["data"]["class"] == incident[1]
        kinds = [a.type for a in mine]
        assert kinds.index("resolved") > kinds.index("raised")
        assert {a.event["data"]["incident_id"] for a in mine} == {raised[0].event["data"]["incident_id"]}
        assert all(a.event["data"]["capture_to_alert_seconds"] > 0 for a in mine)
