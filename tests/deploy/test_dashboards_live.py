"""Every dashboard query returns data from a live pipeline.

Runs the real services (`vigil ingest`, `vigil fusion`, `vigil alert`) as processes on the local
stack (Kafka, Redis, the RTSP test camera serving a clip with an incident, plus a camera without
audio), with Debian's Prometheus scraping their /metrics every second. Once alerts have fired,
every panel query of every dashboard (Grafana variables expanded) is run through Prometheus'
HTTP API over the run: a query that does not parse, or returns no sample that is a number, fails.

Topics, consumer groups and Redis keys are unique to the run, so other tests sharing the stack
are not disturbed. Fusion uses the stub model of tests/fusion_stub_model.py (small and fast) and a
low alert threshold, so alerts fire whatever the trained model's quality: this test is about the
dashboards, not the model.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import DASHBOARDS, ROOT, RULES, expand_grafana_vars
from tests.deploy.test_dashboards import load, queries
from tests.fusion_stub_model import build_stub_model
from tests.integration.conftest import LocalStack, stack  # noqa: F401  (the stack fixture)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVICES = ("ingest", "fusion", "alert")
READY_TIMEOUT_S = 150.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        pytest.fail("prometheus not found: run `bash scripts/install-system.sh` (Debian package prometheus)")
    return found


@dataclass
class Pipeline:
    """The running services and the Prometheus scraping them."""

    prometheus_url: str
    start: float
    logs: dict[str, Path]

    def api(self, path: str, **params: str) -> dict[str, Any]:
        """GET /api/v1/<path>; returns the JSON body, also for 4xx (PromQL errors)."""
        url = f"{self.prometheus_url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                body: dict[str, Any] = json.load(response)
        except urllib.error.HTTPError as exc:
            body = json.load(exc)
        return body

    def scalar(self, expr: str) -> float:
        """Value of an instant query (NaN when it returns nothing)."""
        result = self.api("query", query=expr)["data"]["result"]
        return float(result[0]["value"][1]) if result else math.nan

    def log_tails(self) -> str:
        return "\n".join(
            f"--- {name} ---\n" + path.read_text(errors="replace")[-3000:] for name, path in self.logs.items()
        )


def _scalar_or_nan(live: Pipeline, expr: str) -> float:
    """An instant query's value; NaN while Prometheus is not answering yet."""
    try:
        return live.scalar(expr)
    except OSError:
        return math.nan


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def pipeline(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:  # noqa: F811
    tmp = tmp_path_factory.mktemp("live")
    run = uuid.uuid4().hex[:8]
    model = build_stub_model(tmp / "stub.onnx")
    config = {
        "bus": "kafka",
        "kafka": {"bootstrap_servers": stack.kafka_bootstrap, "partitions": 2},
        "redis": {
            "url": stack.redis_url,
            "stream": f"vigil:test:{run}:alerts",
            "channel": f"vigil:test:{run}:alerts:live",
        },
        "topics": {
            "video": f"vigil.test.{run}.video.v1",
            "audio": f"vigil.test.{run}.audio.v1",
            "scores": f"vigil.test.{run}.scores.v1",
            "dead_letter": f"vigil.test.{run}.deadletter.v1",
        },
        "http": {"host": "127.0.0.1"},
        "cameras": {
            "lobby": {"url": stack.rtsp_url("incident")},
            "garage": {"url": stack.rtsp_url("noaudio"), "audio": False},
        },
        "fusion": {
            "model_path": str(model),
            "providers": ["CPUExecutionProvider"],
            "group_id": f"vigil-fusion-{run}",
            "max_wait_ms": 20,
        },
        "alert": {
            "group_id": f"vigil-alert-{run}",
            "default_policy": {
                "anomaly_threshold": 0.0,
                "raise_k": 1,
                "raise_n": 1,
                "update_min_interval_s": 1,
            },
        },
    }
    config_path = tmp / "vigil.yaml"
    config_path.write_text(yaml.safe_dump(config))

    ports = {name: free_port() for name in SERVICES}
    prom_port = free_port()
    (tmp / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(RULES / "vigil-alerts.yaml")],
                "scrape_configs": [
                    {"job_name": f"vigil-{name}", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
                    for name, port in ports.items()
                ],
            }
        )
    )
    logs = {name: tmp / f"{name}.log" for name in (*SERVICES, "prometheus")}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    try:
        with logs["prometheus"].open("wb") as log:
            procs["prometheus"] = subprocess.Popen(
                [
                    prometheus_binary(),
                    f"--config.file={tmp / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                    "--storage.tsdb.retention.time=1h",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        live = Pipeline(f"http://127.0.0.1:{prom_port}", time.time(), logs)
        deadline = time.monotonic() + READY_TIMEOUT_S

        def start(name: str) -> None:
            with logs[name].open("wb") as log:
                procs[name] = subprocess.Popen(
                    [sys.executable, "-m", "services.cli", name, "--config", str(config_path)],
                    cwd=ROOT,
                    env={**env, "VIGIL_HTTP__PORT": str(ports[name])},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )

        # Downstream first, and ingest only once Prometheus has scraped fusion and alert: their
        # counters and histograms then start from a scraped zero, so rate() sees every event.
        start("fusion")
        start("alert")
        while _scalar_or_nan(live, 'sum(up{job=~"vigil-(fusion|alert)"})') != 2:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs.values()):
                pytest.fail(f"fusion/alert not scraped\n{live.log_tails()}")
            time.sleep(0.5)
        start("ingest")
        # Wait for the whole chain: frames decoded, windows scored, an alert delivered, and every
        # target scraped long enough for rate() over a minute.
        checks = {
            "targets up": "sum(up)",
            "frames": "sum(vigil_ingest_frames_decoded_total)",
            "windows": "sum(vigil_fusion_windows_scored_total)",
            "alerts": "sum(vigil_alerts_total)",
            "capture-to-alert": "sum(rate(vigil_alert_capture_to_alert_seconds_count[1m]))",
        }
        while True:
            exited = [name for name, proc in procs.items() if proc.poll() is not None]
            if exited:
                pytest.fail(f"processes exited early: {exited}\n{live.log_tails()}")
            values = {name: _scalar_or_nan(live, expr) for name, expr in checks.items()}
            if values["targets up"] == len(SERVICES) and all(v > 0 for v in values.values()):
                break
            if time.monotonic() > deadline:
                pytest.fail(f"pipeline not producing after {READY_TIMEOUT_S}s: {values}\n{live.log_tails()}")
            time.sleep(2)
        time.sleep(8)  # a few more scrapes after the first alert
        yield live
    finally:
        for proc in reversed(list(procs.values())):
            _stop(proc)


@pytest.mark.parametrize("path", sorted(DASHBOARDS.glob("*.json")), ids=lambda p: p.name)
def test_every_panel_query_returns_data(pipeline: Pipeline, path: Path) -> None:
    end = time.time()
    failures = []
    for title, expr in queries(load(path)):
        promql = expand_grafana_vars(expr)
        body = pipeline.api(
            "query_range", query=promql, start=f"{pipeline.start:.3f}", end=f"{end:.3f}", step="1"
        )
        if body.get("status") != "success":
            failures.append(f"{title!r}: {body.get('errorType')}: {body.get('error')} ({promql})")
            continue
        numbers = [
            float(v)
            for series in body["data"]["result"]
            for _, v in series["values"]
            if not math.isnan(float(v))
        ]
        if not numbers:
            failures.append(f"{title!r}: no data ({promql})")
    assert not failures, "\n".join(failures) + "\n" + pipeline.log_tails()


def test_camera_variable_lists_the_cameras(pipeline: Pipeline) -> None:
    body = pipeline.api("label/camera/values", **{"match[]": "vigil_camera_up"})
    assert set(body["data"]) == {"lobby", "garage"}


def test_alerting_rules_evaluate_on_live_metrics(pipeline: Pipeline) -> None:
    """The alerting rules load into a real Prometheus and evaluate without errors."""
    groups = pipeline.api("rules")["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    source = yaml.safe_load((RULES / "vigil-alerts.yaml").read_text())
    assert {r["name"] for r in rules} == {r["alert"] for g in source["groups"] for r in g["rules"]}
    time.sleep(2)  # evaluation interval 1 s: every rule has been evaluated
    rules = [rule for group in pipeline.api("rules")["data"]["groups"] for rule in group["rules"]]
    bad = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
    assert not bad, bad
