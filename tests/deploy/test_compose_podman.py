"""docker-compose.yml brought up for real with podman-compose (Debian's podman 4.3, rootful, runc).

The Vigil images are built from the Dockerfiles (scripts/podman-images.sh, tag ``dev`` as the compose
file names them); Kafka, Redis and Prometheus are TEST STAND-INS built from Debian packages under the
names the compose file uses (apache/kafka:4.1.0 <- openjdk-17 + the Kafka jars of
scripts/stack/kafka-pom.xml; redis:7.4-alpine <- Debian's redis-server 7.0; prom/prometheus:v3.5.0
<- Debian's prometheus 2.42): no image registry is reachable here. Grafana has no Debian package, so
no stand-in: it is left out (every other service is started).

deploy/podman/compose.test.yml publishes only Redis and Prometheus, on free host ports, so nothing
clashes with the local stack on this machine; the project name is unique per run and the stack is
always taken down (with its volumes) at the end.

Oracles: the camera container's incident clip becomes an alert in Redis, read from the host with
``vigil alerts tail --json``; Prometheus reports every Vigil target up; ``podman-compose stop`` ends
every container with SIGTERM well within its grace period (no SIGKILL, no exit 137), and each Vigil
service exits within its shutdown budget (+1.5 s) of the SIGTERM it logs, even when Kafka went first.

podman-compose 1.6 ignores ``depends_on: {condition: service_healthy}`` on podman < 4.6 (it warns),
and without systemd podman runs no periodic healthchecks: the services start together and the Vigil
ones wait for Kafka and Redis themselves; Kafka's compose healthcheck is run once by hand here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from streaming.config import VigilConfig
from tests.deploy.conftest import ROOT

pytestmark = pytest.mark.slow

CONTAINERS_CONF = ROOT / "deploy" / "podman" / "containers.conf"
OVERRIDE = ROOT / "deploy" / "podman" / "compose.test.yml"
# every service of docker-compose.yml but grafana (no Debian package, no stand-in)
SERVICES = ("kafka", "redis", "camera", "ingest", "fusion", "alert", "alerts", "prometheus")
VIGIL_JOBS = {"vigil-ingest", "vigil-fusion", "vigil-alert"}  # deploy/prometheus/prometheus.yml
INCIDENT_CAMERA = "lobby"  # deploy/compose/vigil.yaml: rtsp://camera:8554/incident
GRACE_S = 10  # docker-compose.yml sets no stop_grace_period: compose's (and podman-compose's) 10 s
# a Vigil service's own stop, from the SIGTERM it logs (streaming/runtime.py) to its exit: its shutdown
# budget (streaming/config.py, default 3 s) and the overshoot of the last close, under the watchdog's
# +2 s (which would exit 70). podman-compose itself takes 1-3 s before its SIGTERMs reach the services,
# so that part is bounded from the `stop` command instead (STOPPED_WITHIN_S).
SIGTERM_LOGGED = "signal 15: stopping"
SERVICE_STOP_S = VigilConfig.model_fields["shutdown_timeout_s"].default + 1.5
STOPPED_WITHIN_S = GRACE_S * 0.8
BUILD_TIMEOUT_S = 3600
KAFKA_HEALTHY_WITHIN_S = 180
TARGETS_UP_WITHIN_S = 180
ALERT_WITHIN_S = 240  # after the stack is up; the incident clip loops every 30 s


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def run(cmd: list[str], timeout: float, check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and out.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {out.returncode}:\n{out.stdout[-3000:]}\n{out.stderr[-4000:]}")
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    project: str
    compose: list[str]  # podman-compose -p PROJECT -f ... -f ...
    redis_port: int
    prometheus_port: int
    up_at: float

    def containers(self) -> dict[str, dict[str, Any]]:
        """service name -> podman inspect of its container"""
        names = run(
            [
                "podman",
                "ps",
                "-a",
                "--filter",
                f"label=io.podman.compose.project={self.project}",
                "--format",
                "{{.Names}}",
            ],
            timeout=60,
            env=podman_env(),
        ).stdout.split()
        assert names, f"no containers of project {self.project}"
        data = json.loads(run(["podman", "inspect", *names], timeout=60, env=podman_env()).stdout)
        return {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in data}

    def logs(self, service: str, tail: int = 40) -> str:
        name = self.containers()[service]["Name"]
        out = run(["podman", "logs", "--tail", str(tail), name], timeout=60, check=False, env=podman_env())
        return out.stdout + out.stderr


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    for tool in ("podman", "debootstrap", "mvn"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found: run `bash scripts/install-system.sh` (make install-system does)")
    if os.geteuid() != 0:
        pytest.fail("the compose test runs rootful podman: run it as root")
    t0 = time.monotonic()
    build = run(
        [
            "bash",
            str(ROOT / "scripts" / "podman-images.sh"),
            "standins",
            "vigil",
            "camera",
            "fusion",
            "kafka",
            "redis",
            "prometheus",
        ],
        timeout=BUILD_TIMEOUT_S,
        env={**podman_env(), "PODMAN_IMAGE_TAG": "dev"},
    )
    print(f"images built in {time.monotonic() - t0:.0f} s\n{build.stderr[-1500:]}")

    redis_port, prometheus_port = free_port(), free_port()
    override = tmp_path_factory.mktemp("compose") / "compose.test.yml"
    # podman-compose 1.6 does not interpolate ${VAR} inside !override values: substitute here.
    override.write_text(
        OVERRIDE.read_text()
        .replace("${COMPOSE_TEST_REDIS_PORT}", str(redis_port))
        .replace("${COMPOSE_TEST_PROMETHEUS_PORT}", str(prometheus_port))
    )
    project = f"vigil-compose-test-{uuid.uuid4().hex[:8]}"
    compose = [
        sys.executable, "-m", "podman_compose", "-p", project,
        "-f", str(ROOT / "docker-compose.yml"), "-f", str(override),
    ]  # fmt: skip
    try:
        t0 = time.monotonic()
        run([*compose, "up", "-d", *SERVICES], timeout=600, env=podman_env(), cwd=ROOT)
        print(f"podman-compose up -d: {time.monotonic() - t0:.0f} s")
        yield Stack(project, compose, redis_port, prometheus_port, time.monotonic())
    finally:
        out = run(
            [*compose, "down", "-v", "-t", str(GRACE_S)], timeout=300, check=False, env=podman_env(), cwd=ROOT
        )
        if out.returncode != 0:
            print(f"podman-compose down exited {out.returncode}: {out.stderr[-2000:]}")


def test_kafka_stand_in_passes_the_compose_healthcheck(stack: Stack) -> None:
    name = stack.containers()["kafka"]["Name"]
    deadline = time.monotonic() + KAFKA_HEALTHY_WITHIN_S
    while True:
        out = run(["podman", "healthcheck", "run", name], timeout=120, check=False, env=podman_env())
        if out.returncode == 0:
            return
        if time.monotonic() > deadline:
            pytest.fail(
                f"kafka not healthy in {KAFKA_HEALTHY_WITHIN_S} s: {out.stdout}{out.stderr}\n{stack.logs('kafka')}"
            )
        time.sleep(3)


def test_prometheus_reports_every_vigil_target_up(stack: Stack) -> None:
    url = f"http://127.0.0.1:{stack.prometheus_port}/api/v1/targets"
    deadline = time.monotonic() + TARGETS_UP_WITHIN_S
    health: dict[str, str] = {}
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                targets = json.load(resp)["data"]["activeTargets"]
            health = {t["labels"]["job"]: f"{t['health']} {t.get('lastError', '')}".strip() for t in targets}
        except OSError as exc:
            health = {"prometheus": f"unreachable: {exc}"}
        if health.keys() >= VIGIL_JOBS and all(health[j] == "up" for j in VIGIL_JOBS):
            return
        time.sleep(3)
    pytest.fail(f"Vigil targets not all up within {TARGETS_UP_WITHIN_S} s: {health}")


def test_the_camera_incident_reaches_an_alert_read_from_the_host(stack: Stack) -> None:
    env = {**os.environ, "VIGIL_REDIS__URL": f"redis://127.0.0.1:{stack.redis_port}/0"}
    env.pop("VIGIL_CONFIG", None)
    cmd = [sys.executable, "-m", "services.cli", "alerts", "tail", "--json", "--last", "100"]
    deadline = stack.up_at + ALERT_WITHIN_S
    seen: list[dict[str, Any]] = []
    while True:
        out = run(cmd, timeout=60, check=False, env=env, cwd=ROOT)
        assert out.returncode == 0, f"vigil alerts tail exited {out.returncode}: {out.stderr[-2000:]}"
        seen = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
        if any(e["data"]["camera"] == INCIDENT_CAMERA for e in seen):
            alert = next(e for e in seen if e["data"]["camera"] == INCIDENT_CAMERA)
            assert alert["specversion"] == "1.0" and alert["source"] == f"/cameras/{INCIDENT_CAMERA}"
            print(f"alert after {time.monotonic() - stack.up_at:.0f} s: {alert['data']['summary']}")
            return
        if time.monotonic() > deadline:
            break
        time.sleep(5)
    pytest.fail(
        f"no alert from camera {INCIDENT_CAMERA!r} in Redis within {ALERT_WITHIN_S} s of `up` "
        f"(alerts seen: {[(e['data']['camera'], e['subject']) for e in seen]})\n"
        f"alert:\n{stack.logs('alert')}\nfusion:\n{stack.logs('fusion')}\ningest:\n{stack.logs('ingest')}"
    )


def _timestamp(text: str) -> float:
    # "2026-12-01T14:03:15.590249617Z" (podman): fromisoformat takes at most microseconds
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text)).timestamp()


def _finished(state: dict[str, Any]) -> float:
    return _timestamp(str(state["FinishedAt"]))


def _sigterm_seen(stack: Stack, service: str, since: float) -> float | None:
    """When the service logged that SIGTERM reached it (podman's own timestamp of that line), if it did."""
    name = stack.containers()[service]["Name"]
    iso = datetime.fromtimestamp(since, tz=UTC).isoformat()
    out = run(
        ["podman", "logs", "--timestamps", "--since", iso, name], timeout=60, check=False, env=podman_env()
    )
    lines = (out.stdout + out.stderr).splitlines()
    return next((_timestamp(ln.split(" ", 1)[0]) for ln in lines if SIGTERM_LOGGED in ln), None)


def test_stop_is_clean_within_the_grace_period(stack: Stack) -> None:
    """Runs last: `podman-compose stop` (grace 10 s) must end every container with SIGTERM alone."""
    before = stack.containers()
    restarts = {s: c["RestartCount"] for s, c in before.items() if c["RestartCount"]}
    assert not restarts, f"containers restarted while the stack ran: {restarts}"
    assert all(c["State"]["Running"] for c in before.values()), {
        s: c["State"]["Status"] for s, c in before.items()
    }
    t0 = time.time()
    out = run([*stack.compose, "stop"], timeout=120, env=podman_env(), cwd=ROOT)
    took = time.time() - t0
    after = stack.containers()
    report = {s: (c["State"]["ExitCode"], round(_finished(c["State"]) - t0, 1)) for s, c in after.items()}
    # seconds from the SIGTERM a Vigil service logged to its exit
    own = {
        s: round(_finished(after[s]["State"]) - seen, 1)
        for s in after
        if (seen := _sigterm_seen(stack, s, since=t0)) is not None
    }
    print(f"podman-compose stop: {took:.1f} s; exit code, seconds to stop: {report}; from SIGTERM: {own}")
    unclean = [
        s
        for s, (code, secs) in report.items()
        if code not in (0, 143) or secs >= STOPPED_WITHIN_S or own.get(s, 0.0) >= SERVICE_STOP_S
    ]
    # what a service that overran printed last (the watchdog's thread stacks, exit 70)
    logs = "\n".join(f"== {s}\n{stack.logs(s, tail=80)}" for s in unclean)
    print(logs)  # in full: pytest shortens an assertion's message
    print(next((ln for ln in stack.logs("ingest", tail=20).splitlines() if "ingest: stopped (" in ln), ""))
    assert "SIGKILL" not in out.stdout + out.stderr, f"{out.stderr[-3000:]}\n{report}\n{logs}"
    for service, (code, seconds) in report.items():
        # 0, or 143 (128 + SIGTERM) from the JVM's own shutdown in the Kafka stand-in; 137 = SIGKILL
        assert code in (0, 143) and not after[service]["State"]["OOMKilled"], (service, code, report, logs)
        assert seconds < STOPPED_WITHIN_S, f"{service} took {seconds} s to stop (grace {GRACE_S} s): {report}"
    assert set(after) == set(SERVICES), sorted(after)
    # every Vigil service logs the SIGTERM; each stopped within its own budget of it
    assert own.keys() >= {"ingest", "fusion", "alert"}, (own, logs)
    slow = {s: secs for s, secs in own.items() if secs >= SERVICE_STOP_S}
    assert not slow, f"stopped later than {SERVICE_STOP_S} s after their SIGTERM: {slow} ({report})\n{logs}"
