"""SIGTERM stops every service within 10 s even while Kafka is unreachable (as PID 1 in a
container a service that ignores it is killed after the grace period), and a service that is
still connecting is alive (/healthz) but not ready (/readyz)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

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
