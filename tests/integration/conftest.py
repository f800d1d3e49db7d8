"""Fixtures for tests against the real local stack (Kafka, Redis, RTSP test camera).

Every test under tests/integration/ is marked ``integration`` automatically.

``stack`` (session scope) runs ``scripts/stack.sh up`` once (idempotent: fast when the stack is
already up, e.g. under ``make test``, and a plain ``pytest`` starts it) and returns a
:class:`LocalStack`:

    def test_something(stack):
        producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap)   # "127.0.0.1:9092"
        r = redis.Redis.from_url(stack.redis_url)                           # "redis://127.0.0.1:6379/0"
        url = stack.rtsp_url("incident")      # rtsp://127.0.0.1:8554/incident (also "quiet", "noaudio")
        stack.rtsp_stop()                     # camera drops: connections fail/close
        stack.rtsp_start()                    # camera back (waits until /incident answers DESCRIBE)

Clips (``stack.clips_dir``): incident.mp4 (30 s, 640x360, 15 fps, 16 kHz mono AAC, gunshot at
t=4 s), quiet.mp4 (same, no incident), noaudio.mp4 (video only). Each RTSP client gets its own
playback from the clip's start, in real time; the stream ends after 30 s.
A test that stops the RTSP server must start it again (use try/finally); the fixture also
restarts it at the end of the session if it was left stopped.

``rtsp_auth_server`` (function scope) starts a second RTSP server on 127.0.0.1:8555 that
requires basic auth (user ``vigil``, password ``s3cret``) and serves ``/incident``; it returns
an :class:`AuthRtspServer` with ``url(user, password)``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STACK_SH = ROOT / "scripts" / "stack.sh"
STACK_DIR = Path(os.environ.get("STACK_DIR", ROOT / ".stack"))


def _stack(*args: str, timeout: float = 300) -> None:
    """Run scripts/stack.sh; fail the test with its output when it fails."""
    proc = subprocess.run(
        ["bash", str(STACK_SH), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"scripts/stack.sh {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")


@dataclass(frozen=True)
class LocalStack:
    """Addresses of the local stack and helpers to make the RTSP camera drop and come back."""

    kafka_bootstrap: str = "127.0.0.1:9092"
    redis_url: str = "redis://127.0.0.1:6379/0"
    rtsp_base_url: str = "rtsp://127.0.0.1:8554"
    clips_dir: Path = STACK_DIR / "clips"

    def rtsp_url(self, mount: str) -> str:
        """URL of a mount: "incident", "quiet" or "noaudio"."""
        return f"{self.rtsp_base_url}/{mount.lstrip('/')}"

    def rtsp_stop(self) -> None:
        """Stop the RTSP server (like a camera going offline); returns once it has exited."""
        _stack("rtsp-stop")

    def rtsp_start(self) -> None:
        """Start the RTSP server again; returns once /incident answers a real DESCRIBE."""
        _stack("rtsp-start")

    def rtsp_running(self) -> bool:
        """Whether the RTSP port accepts connections."""
        return _port_open(8554)

    def redis_restart(self, down_s: float = 1.0) -> None:
        """Stop Redis (SHUTDOWN: the append-only file is flushed), stay down ``down_s``, start it again."""
        subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", "6379", "shutdown"], capture_output=True, check=False
        )
        deadline = time.monotonic() + 10
        while _port_open(6379) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(down_s)
        _stack("up")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class RtspTestServer:
    """A private instance of the stack's RTSP camera (``scripts/stack/rtsp_server.py``) on its
    own port: tests that stop, restart or authenticate a camera use one, so the shared server on
    8554 stays up for everything else. ``mounts`` maps mount names to clips."""

    def __init__(self, port: int, mounts: dict[str, Path], *, log_name: str, user: str | None = None) -> None:
        self.port = port
        self.mounts = mounts
        self.log_path = STACK_DIR / "logs" / log_name
        self.user = user  # "name:password" turns on basic auth
        self.proc: subprocess.Popen[bytes] | None = None

    def running(self) -> bool:
        """True while the port accepts connections."""
        return _port_open(self.port)

    def start(self) -> None:
        """Start the server and wait (20 s at most) until it accepts connections."""
        command = [
            os.environ.get("STACK_SYSTEM_PYTHON", "/usr/bin/python3"),
            str(ROOT / "scripts" / "stack" / "rtsp_server.py"),
            "--port",
            str(self.port),
        ]
        for name, clip in self.mounts.items():
            command += ["--mount", f"/{name}={clip}"]
        if self.user:
            command += ["--user", self.user]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not self.running():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"RTSP test server on port {self.port} did not start (see {self.log_path})")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this directory ``integration``."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    """The running local stack (started by ``scripts/stack.sh up`` if needed)."""
    _stack("up")
    local = LocalStack()
    yield local
    if not local.rtsp_running():
        _stack("rtsp-start")


@dataclass(frozen=True)
class AuthRtspServer:
    """An RTSP server that requires basic auth; see the module docstring."""

    user: str
    password: str
    port: int

    def url(self, user: str | None = None, password: str | None = None, mount: str = "incident") -> str:
        """URL with the given credentials (defaults: the right ones)."""
        user = self.user if user is None else user
        password = self.password if password is None else password
        return f"rtsp://{user}:{password}@127.0.0.1:{self.port}/{mount}"


@pytest.fixture
def rtsp_auth_server(stack: LocalStack) -> Iterator[AuthRtspServer]:
    """A second RTSP server on 127.0.0.1:8555 with basic auth (vigil / s3cret) serving /incident."""
    server = AuthRtspServer(user="vigil", password="s3cret", port=8555)
    process = RtspTestServer(
        server.port,
        {"incident": stack.clips_dir / "incident.mp4"},
        log_name="rtsp-auth.log",
        user=f"{server.user}:{server.password}",
    )
    process.start()
    try:
        yield server
    finally:
        process.stop()
