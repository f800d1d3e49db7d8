"""SIGTERM stops every service within 10 s even while Kafka is unreachable (as PID 1 in a
container a service that ignores it is killed after the grace period), also when Kafka went away
mid-run with records in flight (within the shutdown budget); a shutdown that hangs anyway is ended
by the watchdog; and a service that is still connecting is alive (/healthz) but not ready (/readyz)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import redis

from streaming.bus import TopicSpec
from streaming.config import KafkaConfig
from streaming.kafka_bus import KafkaBus
from tests.fusion_stub_model import build_stub_model
from tests.integration.conftest import LocalStack
from tests.integration.private_kafka import PrivateKafka
from tests.integration.processes import STUB_SERVICES_YAML, ServiceProcesses
from tests.integration.test_ingest_rtsp import wait_for

ROOT = Path(__file__).resolve().parents[2]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.parametrize("service", ["ingest", "fusion", "alert"])
def test_sigterm_while_kafka_is_down(service: str, tmp_path: Path) -> None:
    http_port = _closed_port()
    config = tmp_path / "vigil.yaml"
    config.write_text(
        "cameras:\n  cam0:\n    url: " + str(tmp_path / "missing.mp4") + "\n"
        f"redis:\n  url: redis://127.0.0.1:{_closed_port()}/0\n"
    )
    env = {
        **os.environ,
        "VIGIL_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{_closed_port()}",
        "VIGIL_HTTP__PORT": str(http_port),
    }
    log = (tmp_path / "log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", service, "--config", str(config)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        ready: tuple[int, dict[str, object]] | None = None
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            if service != "ingest":  # ingest serves HTTP once its producer is up
                try:
                    ready = _get(f"http://127.0.0.1:{http_port}/readyz")
                    alive = _get(f"http://127.0.0.1:{http_port}/healthz")
                    break
                except OSError:
                    continue
            elif "Kafka unreachable" in (tmp_path / "log").read_text():
                break
        assert proc.poll() is None, (tmp_path / "log").read_text()
        if ready is not None:
            assert ready[0] == 503 and not ready[1]["ok"], ready
            assert alive[0] == 200, alive
        time.sleep(1.0)  # well inside the connection retries
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    text = (tmp_path / "log").read_text()
    assert code == 0, text
    assert took < 10.0
    assert "Traceback" not in text, text


def test_sigterm_after_kafka_was_lost_mid_run(stack: LocalStack, tmp_path: Path) -> None:
    """The compose stack stops every container at once: Kafka goes while ingest has records in
    flight and fusion and alert are in their groups. Each service must still end within its
    shutdown budget (flush, final commit, leaving the group all bounded by it), exit 0 and not
    need the watchdog, which would end it 2 s later with exit 70."""
    budget_s = 3.0
    kafka = PrivateKafka(tmp_path / "kafka-state")
    kafka.start()
    u = uuid.uuid4().hex[:8]
    config = tmp_path / "vigil.yaml"
    config.write_text(STUB_SERVICES_YAML.format(model=build_stub_model(tmp_path / "stub.onnx")))
    env = {
        "VIGIL_CONFIG": str(config),
        "VIGIL_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap,
        "VIGIL_REDIS__URL": stack.redis_url,
        "VIGIL_REDIS__STREAM": f"vigil:test:shutdown:{u}",
        "VIGIL_REDIS__CHANNEL": f"vigil:test:shutdown:{u}:live",
        "VIGIL_HTTP__HOST": "127.0.0.1",
        "VIGIL_HTTP__PORT": "0",
        "VIGIL_SHUTDOWN_TIMEOUT_S": str(budget_s),
        "VIGIL_CAMERAS__cam0__URL": stack.rtsp_url("incident"),  # live: records keep coming
    }
    services = ServiceProcesses(env, tmp_path)
    try:
        for name in ("ingest", "fusion", "alert"):
            services.start(name)
        up = wait_for(
            lambda: (
                "streaming" in services.log("ingest")
                and "fusion: assigned" in services.log("fusion")
                and "alert: assigned" in services.log("alert")
            ),
            90,
        )
        assert up, "\n".join(f"== {n}\n{services.log(n)[-2000:]}" for n in services.procs)
        time.sleep(3.0)  # scores flowing, offsets committed
        assert services.exited(but="") is None, {n: services.log(n)[-2000:] for n in services.procs}
        kafka.stop()
        time.sleep(3.0)  # every client has noticed: ingest queues records, commits fail
        took: dict[str, float] = {}
        t0 = time.monotonic()
        for proc in services.procs.values():
            proc.send_signal(signal.SIGTERM)
        for name, proc in services.procs.items():
            proc.wait(timeout=budget_s + 10)
            took[name] = round(time.monotonic() - t0, 1)
    finally:
        services.stop()
        kafka.stop()
        redis.Redis.from_url(stack.redis_url).delete(env["VIGIL_REDIS__STREAM"])
    print(f"stopped after Kafka went away (budget {budget_s} s): {took}")
    for name, proc in services.procs.items():
        log = services.log(name)
        assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{log[-4000:]}"
        assert "overran its shutdown budget" not in log, log[-4000:]
        assert took[name] < budget_s + 1.5, f"{name} took {took[name]} s (budget {budget_s} s): {took}"


def test_a_producer_closed_while_kafka_is_away_lets_the_process_exit(
    stack: LocalStack, tmp_path: Path
) -> None:
    """close(timeout) with records queued for a broker that is gone ends within the timeout in
    all (kafka-python's own close flushes again: it gets only what is left, not a second timeout)
    and leaves no thread that would keep the process from exiting, nor the producer's IO thread
    (kafka-python's close raises at its flush and left it reconnecting for good)."""
    kafka = PrivateKafka(tmp_path / "kafka-state")
    kafka.start()
    before = {t for t in threading.enumerate() if not t.daemon}
    before_any = set(threading.enumerate())
    try:
        bus = KafkaBus(KafkaConfig(bootstrap_servers=kafka.bootstrap), "it-close", connect_timeout_s=20)
        topic = f"it.close.{uuid.uuid4().hex[:8]}"
        bus.ensure_topics([TopicSpec(topic, 1, 60_000)])
        producer = bus.producer(client_id="it-close")
        producer.send(topic, b"before")
        producer.flush(30)
        kafka.stop()
        for i in range(50):  # queued for a broker that is gone
            producer.send(topic, b"x" * 1000, key=str(i).encode(), block=False)
        t0 = time.monotonic()
        producer.close(timeout=1.0)
        took = time.monotonic() - t0
        bus.close()
    finally:
        kafka.stop()
    left = {t for t in threading.enumerate() if not t.daemon} - before - {threading.main_thread()}
    assert took < 1.8, took  # 1 s; two timeouts in a row would be 2 s
    assert not [t for t in left if t.is_alive()], f"non-daemon threads left: {sorted(t.name for t in left)}"
    started = set(threading.enumerate()) - before_any  # the clients' IO threads among them
    for t in started:
        t.join(2.0)
    assert not [t for t in started if t.is_alive()], (
        f"threads still running: {sorted(t.name for t in started)}"
    )
