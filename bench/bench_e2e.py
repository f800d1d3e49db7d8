"""The whole real stack: capture-to-alert latency, and how many 720p30 cameras with audio it sustains.

Needs the local stack (``scripts/stack.sh up``: Kafka, Redis). Runs ``vigil ingest``, ``vigil
fusion`` and ``vigil alert`` as separate processes on this machine, with their own topics, groups
and Redis stream, behind an RTSP server (port 8557) that plays generated clips in real time:

1. **latency**: cameras whose clip has incidents every 12 s; capture-to-alert p50/p99 over the
   raised alerts read back from Redis (``capture_to_alert_seconds``).
2. **capacity**: K = 1, 2, ... cameras of a noisy 720p30 ~3 Mbit/s H.264 + 16 kHz AAC clip, each
   for ``--trial-s``; K is sustained when fusion scores every window (>= 90 % of K per hop), the
   capture-to-score latency does not grow over the trial (last third vs first third < 1 s) and
   ingest drops less than 1 % of frames. Beside it, the number of the same streams that plain PyAV
   decode (K processes decoding the clip at once, each at >= 1x real time) sustains, measured
   in the same run.

    vigil bench e2e [--max-cameras N] [--trial-s 30] [--skip-latency] [--skip-capacity]

Both capacity ramps (plain decode and the pipeline) go until they fail: K doubles, then bisects.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STACK = Path(os.environ.get("STACK_DIR", ROOT / ".stack"))
BENCH_DIR = STACK / "bench"
RTSP_PORT = 8557
LATENCY_CLIP_S = 40.0
INCIDENTS = ((5.0, "gunshot"), (17.0, "scream"), (29.0, "gunshot"))


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def latency_clip() -> Path:
    """640x360 clip in the model's training look with incidents every 12 s (cached)."""
    from models.synth.clip_render import ClipSpec
    from services.clips import write_clip

    path = BENCH_DIR / f"e2e-incidents-{LATENCY_CLIP_S:g}s-640x360.mp4"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"generating {path.name} (once)...", flush=True)
        spec = ClipSpec(
            duration_s=LATENCY_CLIP_S,
            width=640,
            height=360,
            fps=15,
            incidents=INCIDENTS,
            seed=5,
            style="scene",
        )
        write_clip(spec, path.with_suffix(".tmp.mp4"))
        path.with_suffix(".tmp.mp4").replace(path)
    return path


def camera_clip(duration_s: float) -> Path:
    """The noisy 720p30 3 Mbit/s camera clip of ``vigil bench ingest`` (cached)."""
    from bench.bench_ingest import make_clip

    path = BENCH_DIR / f"e2e-720p30-noisy-{duration_s:g}s.mp4"
    if not path.exists():
        make_clip(path, duration_s)
    return path


class RtspServer:
    """scripts/stack/rtsp_server.py on RTSP_PORT with the given mounts."""

    def __init__(self, mounts: dict[str, Path]) -> None:
        args = [a for name, p in mounts.items() for a in ("--mount", f"/{name}={p}")]
        deadline = time.monotonic() + 20
        while _port_open(RTSP_PORT):  # a previous run's server still shutting down
            if time.monotonic() > deadline:
                raise RuntimeError(f"port {RTSP_PORT} is taken (another bench running?)")
            time.sleep(0.2)
        self.log = (STACK / "logs" / "rtsp-bench-e2e.log").open("ab")
        self.proc = subprocess.Popen(
            [
                os.environ.get("STACK_SYSTEM_PYTHON", "/usr/bin/python3"),
                str(ROOT / "scripts" / "stack" / "rtsp_server.py"),
                "--port",
                str(RTSP_PORT),
                *args,
            ],
            stdout=self.log,
            stderr=self.log,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while not _port_open(RTSP_PORT):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"RTSP server did not start (see {self.log.name})")
            time.sleep(0.1)
        time.sleep(0.5)
        if self.proc.poll() is not None:
            raise RuntimeError(f"RTSP server exited (port {RTSP_PORT} taken?); see {self.log.name}")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


class Pipeline:
    """ingest, fusion and alert as processes with unique topics, groups and Redis stream."""

    def __init__(self, cameras: dict[str, str], extra_env: dict[str, str] | None = None) -> None:
        u = uuid.uuid4().hex[:8]
        self.stream = f"vigil:bench:e2e:{u}"
        self.scores_topic = f"vigil.bench.{u}.scores"
        self.logdir = Path(tempfile.mkdtemp(prefix="vigil-bench-e2e-"))
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "VIGIL_TOPICS__VIDEO": f"vigil.bench.{u}.video",
            "VIGIL_TOPICS__AUDIO": f"vigil.bench.{u}.audio",
            "VIGIL_TOPICS__SCORES": self.scores_topic,
            "VIGIL_TOPICS__DEAD_LETTER": f"vigil.bench.{u}.dlq",
            "VIGIL_FUSION__GROUP_ID": f"bench-fusion-{u}",
            "VIGIL_ALERT__GROUP_ID": f"bench-alert-{u}",
            "VIGIL_REDIS__STREAM": self.stream,
            "VIGIL_REDIS__CHANNEL": f"{self.stream}:live",
            "VIGIL_HTTP__HOST": "127.0.0.1",
            "VIGIL_LOG_LEVEL": "INFO",
            **(extra_env or {}),
        }
        for cam, url in cameras.items():
            self.env[f"VIGIL_CAMERAS__{cam}__URL"] = url
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}

    def start(self, name: str) -> None:
        self.ports[name] = port = _free_port()
        with (self.logdir / f"{name}.log").open("ab") as out:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "services.cli", name],
                cwd=ROOT,
                env={**self.env, "VIGIL_HTTP__PORT": str(port)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def get(self, name: str, path: str) -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ports[name]}{path}", timeout=2) as resp:
                return str(resp.read().decode())
        except OSError:
            return None

    def start_all(self) -> None:
        self.start("alert")
        self.start("fusion")
        deadline = time.monotonic() + 120
        while self.get("alert", "/readyz") is None or self.get("fusion", "/readyz") is None:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited; see {self.logdir / (name + '.log')}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"services not ready; logs in {self.logdir}")
            time.sleep(0.3)
        self.start("ingest")

    def metric(self, name: str, metric: str, label: str = "") -> float:
        """Sum of ``metric`` samples (whose labels contain ``label``) on the service's /metrics."""
        text = self.get(name, "/metrics") or ""
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(metric + "{") and label in line
        )

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def run_latency(cameras: int) -> list[float]:
    """Capture-to-alert seconds of every raised alert of ``cameras`` incident cameras."""
    import redis

    server = RtspServer({"incident": latency_clip()})
    pipe = Pipeline(
        {f"lat-{i}": f"rtsp://127.0.0.1:{RTSP_PORT}/incident" for i in range(cameras)},
        {"VIGIL_ALERT__DEFAULT_POLICY__COOLDOWN_S": "2"},
    )
    r = redis.Redis()
    try:
        pipe.start_all()
        time.sleep(LATENCY_CLIP_S + 6)
        entries: list[Any] = r.xrange(pipe.stream)  # type: ignore[assignment]
    finally:
        pipe.stop()
        server.close()
        r.delete(pipe.stream)
    events = [json.loads(f[b"event"]) for _id, f in entries]
    return [e["data"]["capture_to_alert_seconds"] for e in events if e["type"].endswith(".raised.v1")]


def score_latencies(topic: str, since_ns: int) -> list[tuple[int, float]]:
    """(scored_ns, capture-to-score seconds) of every window scored on ``topic`` since ``since_ns``."""
    from streaming import contracts
    from streaming.config import KafkaConfig
    from streaming.kafka_bus import KafkaBus

    bus = KafkaBus(KafkaConfig())
    consumer = bus.consumer(f"bench-read-{uuid.uuid4().hex[:6]}")
    consumer.subscribe([topic])
    out: list[tuple[int, float]] = []
    idle = 0
    while idle < 3:
        records = consumer.poll(1.0)
        idle = 0 if records else idle + 1
        for rec in records:
            s = contracts.decode_as(rec.value, contracts.WindowScore)
            if s.scored_ns >= since_ns:
                out.append((s.scored_ns, s.latency_s))
    consumer.close()
    bus.close()
    return sorted(out)


def capacity_trial(k: int, trial_s: float, clip: Path) -> tuple[bool, str]:
    """Run K 720p30 cameras for ``trial_s``; were they sustained?"""
    server = RtspServer({"cam": clip})
    pipe = Pipeline({f"cam-{i}": f"rtsp://127.0.0.1:{RTSP_PORT}/cam" for i in range(k)})
    try:
        pipe.start_all()
        time.sleep(8.0)  # connect + first windows
        start_ns = time.time_ns()
        decoded0 = pipe.metric("ingest", "vigil_ingest_frames_decoded_total", 'stream="video"')
        dropped0 = pipe.metric("ingest", "vigil_ingest_dropped_total")
        time.sleep(trial_s)
        decoded = pipe.metric("ingest", "vigil_ingest_frames_decoded_total", 'stream="video"') - decoded0
        dropped = pipe.metric("ingest", "vigil_ingest_dropped_total") - dropped0
        end_ns = time.time_ns()
    finally:
        pipe.stop()
        server.close()
    lat = [(t, v) for t, v in score_latencies(pipe.scores_topic, start_ns) if t <= end_ns]
    windows_expected = k * trial_s  # hop 1 s
    third = max(1, len(lat) // 3)
    first = statistics.median(v for _t, v in lat[:third]) if lat else float("inf")
    last = statistics.median(v for _t, v in lat[-third:]) if lat else float("inf")
    fps = decoded / trial_s / k
    drop_ratio = dropped / max(1.0, decoded)
    ok = len(lat) >= 0.9 * windows_expected and last - first < 1.0 and drop_ratio < 0.01 and fps >= 0.95 * 30
    detail = (
        f"windows {len(lat)}/{windows_expected:.0f}, capture-to-score median {first:.2f}s -> {last:.2f}s, "
        f"decode {fps:.1f} video fps/camera, drops {drop_ratio:.1%}"
    )
    if not ok:
        detail += f" (service logs in {pipe.logdir})"
    return ok, detail


def _decode_worker(path: str, seconds: float, queue: Any) -> None:
    import av

    start = time.perf_counter()
    content = 0.0
    with av.open(path) as container:
        for frame in container.decode(video=0, audio=0):
            if isinstance(frame, av.VideoFrame) and frame.time is not None:
                content = frame.time
                if content >= seconds:
                    break
    queue.put(content / (time.perf_counter() - start))


def ramp(trial: Any, start: int = 1, limit: int = 64) -> tuple[int, list[tuple[int, bool]]]:
    """Largest K in [start, limit] for which ``trial(K)`` holds, assuming it holds up to some K and
    fails above: K doubles until a trial fails, then bisects between the last success and that
    failure. Returns (K, every (K, ok) tried, in order); K = start - 1 when even ``start`` fails.
    Ramping until failure (not to a fixed cap) keeps a fast baseline from being reported as a floor.
    """
    tried: list[tuple[int, bool]] = []
    good, bad = start - 1, None
    k = start
    while k <= limit:
        ok = bool(trial(k))
        tried.append((k, ok))
        if not ok:
            bad = k
            break
        good, k = k, k * 2
    if bad is None:
        bad = limit + 1
    while bad - good > 1:
        k = (good + bad) // 2
        ok = bool(trial(k))
        tried.append((k, ok))
        good, bad = (k, bad) if ok else (good, k)
    return good, tried


def plain_decode_streams(clip: Path, limit: int = 64, seconds: float = 12.0) -> tuple[int, list[str]]:
    """Largest K such that K concurrent plain PyAV decoders each run at >= 1x real time (ramped until
    they fail)."""
    lines: list[str] = []
    ctx = mp.get_context("spawn")

    def trial(k: int) -> bool:
        queue = ctx.Queue()
        procs = [ctx.Process(target=_decode_worker, args=(str(clip), seconds, queue)) for _ in range(k)]
        for p in procs:
            p.start()
        speeds = [queue.get(timeout=600) for _ in procs]
        for p in procs:
            p.join()
        lines.append(f"plain decode x{k}: slowest stream {min(speeds):.2f}x real time")
        print(lines[-1], flush=True)
        return bool(min(speeds) >= 1.0)

    best, _ = ramp(trial, 1, limit)
    return best, lines


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the numbers."""
    parser = argparse.ArgumentParser(prog="vigil bench e2e", description=__doc__)
    parser.add_argument(
        "--max-cameras", type=int, default=None, help="stop the pipeline ramp here (default: until it fails)"
    )
    parser.add_argument("--ramp-limit", type=int, default=64, help="safety cap of both ramps")
    parser.add_argument("--min-cameras", type=int, default=1, help="first K of the capacity ramp")
    parser.add_argument("--trial-s", type=float, default=30.0)
    parser.add_argument("--latency-cameras", type=int, default=2)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-capacity", action="store_true")
    parser.add_argument("--skip-plain", action="store_true", help="skip the plain-decode baseline")
    args = parser.parse_args(argv)
    print(f"bench e2e on {os.cpu_count()} CPUs (the stack and the services share them)", flush=True)
    if not args.skip_latency:
        values = run_latency(args.latency_cameras)
        if values:
            print(
                f"capture-to-alert over {len(values)} raised alerts ({args.latency_cameras} cameras, "
                f"real stack): p50 {percentile(values, 50):.3f}s  p99 {percentile(values, 99):.3f}s  "
                f"max {max(values):.3f}s",
                flush=True,
            )
        else:
            print("capture-to-alert: no alert raised (model missed the incidents?)", flush=True)
    if not args.skip_capacity:
        clip = camera_clip(args.trial_s + 20)
        plain, _ = (0, []) if args.skip_plain else plain_decode_streams(clip, args.ramp_limit)

        def pipeline_trial(k: int) -> bool:
            ok, detail = capacity_trial(k, args.trial_s, clip)
            print(f"pipeline x{k}: {'sustained' if ok else 'NOT sustained'}: {detail}", flush=True)
            return bool(ok)

        sustained, _ = ramp(pipeline_trial, args.min_cameras, args.max_cameras or args.ramp_limit)
        share = f" = {sustained / plain:.0%} of plain decode" if plain else ""
        print(
            f"720p30+audio cameras sustained in real time: whole pipeline {sustained}, "
            f"plain PyAV decode {plain}{share} (same machine, same run; both ramped until they fail)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
