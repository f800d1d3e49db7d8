"""Soak: N cameras through the whole real pipeline for a long run; RSS of every service over time.

Needs the local stack (``scripts/stack.sh up``: Kafka, Redis, the RTSP server on 8554). Writes a
config with ``--cameras`` cameras on the RTSP server's three paths (``incident``, ``quiet``,
``noaudio``, used in turn under distinct camera ids; each 30 s clip ends and ingest reconnects,
so every camera opens a new session about every 30 s), with topics, consumer groups and a Redis
stream of its own (nothing shared with other users of the broker), then runs ``vigil ingest``,
``vigil fusion`` and ``vigil alert --config`` as separate processes. Every ``--sample-s`` it
records each service's RSS (``VmRSS`` of the process and its descendants), the windows fusion
scored, the alerts delivered (their /metrics, and the Redis stream's length) and ingest's camera
reconnects (each one a new session for fusion), fusion's largest inference batch so far (its
batch-size histogram: ONNX Runtime's CPU arena keeps the memory of the largest batches run at once)
and the 1-minute load average; at the end it stops them with SIGTERM and writes ``soak.csv`` and
``soak.png`` in ``--out``.

    vigil bench soak [--cameras 8] [--minutes 30] [--sample-s 60] [--out DIR]

Verdict: fusion's RSS stays within ``--tolerance`` (10 %) of its value at the start of the last
two thirds of the run, over all of the last two thirds (start-up and warm-up are the first third).
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
STACK = Path(os.environ.get("STACK_DIR", ROOT / ".stack"))
RTSP_BASE = "rtsp://127.0.0.1:8554"
RTSP_PATHS = ("incident", "quiet", "noaudio")
SERVICES = ("ingest", "fusion", "alert")
COLOURS = {"ingest": (31, 119, 180), "fusion": (214, 39, 40), "alert": (44, 160, 44)}
TOLERANCE = 0.10


# -- verdict (pure) -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Flatness:
    """RSS over the last two thirds of a run: ``start`` (first sample in it), ``end``, ``max``, ``min``."""

    start: float
    end: float
    max: float
    min: float
    samples: int
    tolerance: float

    @property
    def growth(self) -> float:
        """End over start, minus one (0.05 = grew 5 %)."""
        return self.end / self.start - 1.0

    @property
    def flat(self) -> bool:
        """Every sample of the last two thirds within ``tolerance`` of its first one."""
        return self.max <= self.start * (1 + self.tolerance) and self.min >= self.start * (1 - self.tolerance)


def flatness(points: Sequence[tuple[float, float]], tolerance: float = TOLERANCE) -> Flatness:
    """Judge ``points`` ((time s, RSS), in time order) over the last two thirds of their time span.

    The last two thirds begin at ``t0 + (t_end - t0) / 3``; it needs at least two samples there.
    """
    if len(points) < 3:
        raise ValueError(f"need at least 3 samples, got {len(points)}")
    t0, t_end = points[0][0], points[-1][0]
    if t_end <= t0:
        raise ValueError("samples do not span any time")
    cut = t0 + (t_end - t0) / 3
    tail = [v for t, v in points if t >= cut]
    if len(tail) < 2:
        raise ValueError("fewer than 2 samples in the last two thirds")
    if tail[0] <= 0:
        raise ValueError("RSS at the start of the last two thirds is not positive")
    return Flatness(tail[0], tail[-1], max(tail), min(tail), len(tail), tolerance)


# -- processes ------------------------------------------------------------------------------------
def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the comm may hold spaces and parentheses
        children.setdefault(ppid, []).append(int(entry))
    return children


def _vm_rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_mb(pid: int) -> float:
    """RSS (MB) of ``pid`` and all its descendants, from /proc/PID/status VmRSS."""
    children = _children_map()
    todo, total = [pid], 0
    while todo:
        p = todo.pop()
        total += _vm_rss_kb(p)
        todo.extend(children.get(p, ()))
    return total / 1024


def histogram_max(metric: str, text: str) -> float:
    """The smallest bucket bound of Prometheus histogram ``metric`` that holds every observation
    (0 without observations): the largest value observed, rounded up to a bucket bound."""
    buckets: list[tuple[float, float]] = []
    count = 0.0
    for line in text.splitlines():
        if line.startswith(metric + "_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float(le), float(line.rsplit(" ", 1)[1])))
        elif line.startswith(metric + "_count"):
            count = float(line.rsplit(" ", 1)[1])
    if count == 0:
        return 0.0
    return min((le for le, n in buckets if n >= count), default=float("inf"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def soak_config(cameras: int, run_id: str) -> dict[str, object]:
    """The run's configuration: cameras on the RTSP paths in turn, topics/groups/stream of its own."""
    return {
        "log_level": "INFO",
        "cameras": {
            f"soak-{i:02d}": {"url": f"{RTSP_BASE}/{RTSP_PATHS[i % len(RTSP_PATHS)]}"} for i in range(cameras)
        },
        "topics": {
            "video": f"vigil.soak.{run_id}.video",
            "audio": f"vigil.soak.{run_id}.audio",
            "scores": f"vigil.soak.{run_id}.scores",
            "dead_letter": f"vigil.soak.{run_id}.dlq",
        },
        # short retention: a long run must not fill the shared broker's disk
        "kafka": {"retention_ms": 10 * 60_000, "scores_retention_ms": 60 * 60_000},
        "fusion": {"group_id": f"soak-fusion-{run_id}"},
        "alert": {"group_id": f"soak-alert-{run_id}"},
        "redis": {"stream": f"vigil:soak:{run_id}", "channel": f"vigil:soak:{run_id}:live"},
        "http": {"host": "127.0.0.1"},
    }


class Services:
    """``vigil ingest|fusion|alert --config CONFIG`` as separate processes, each on its own HTTP port."""

    def __init__(self, config: Path, logdir: Path) -> None:
        self.config = config
        self.logdir = logdir
        # nothing of the caller's VIGIL_* environment: the config file is the whole configuration
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
        self.env["PYTHONPATH"] = str(ROOT)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}

    def start(self, name: str) -> None:
        self.ports[name] = port = _free_port()
        with (self.logdir / f"{name}.log").open("ab") as out:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "services.cli", name, "--config", str(self.config)],
                cwd=ROOT,
                env={**self.env, "VIGIL_HTTP__PORT": str(port)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def get(self, name: str, path: str) -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ports[name]}{path}", timeout=5) as resp:
                return str(resp.read().decode())
        except OSError:
            return None

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited ({proc.returncode}); see {self.logdir / (name + '.log')}")

    def start_all(self, timeout_s: float = 180.0) -> None:
        self.start("alert")
        self.start("fusion")
        deadline = time.monotonic() + timeout_s
        while self.get("alert", "/readyz") is None or self.get("fusion", "/readyz") is None:
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"services not ready; logs in {self.logdir}")
            time.sleep(0.5)
        self.start("ingest")
        while self.get("ingest", "/metrics") is None:  # imported and serving: sample from here
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"ingest not serving /metrics; logs in {self.logdir}")
            time.sleep(0.5)

    def metric(self, name: str, metric: str) -> float | None:
        """Sum of the samples of ``metric`` on the service's /metrics (None: not reachable)."""
        text = self.get(name, "/metrics")
        if text is None:
            return None
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith((metric + "{", metric + " "))
        )

    def largest_batch(self) -> float | None:
        """Upper bound of fusion's largest inference batch so far (from its batch-size histogram)."""
        text = self.get("fusion", "/metrics")
        return None if text is None else histogram_max("vigil_fusion_batch_size", text)

    def stop(self, timeout_s: float = 30.0) -> dict[str, int | None]:
        """SIGTERM every service, wait; kill what is still there. Returns the exit codes."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        codes: dict[str, int | None] = {}
        for name, proc in self.procs.items():
            try:
                codes[name] = proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
                codes[name] = None  # killed
        return codes


# -- plot -----------------------------------------------------------------------------------------
def _nice_step(span: float, ticks: int) -> float:
    raw = max(span, 1e-9) / ticks
    mag = 10.0 ** int(f"{raw:e}".split("e")[1])
    return float(next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw))


def plot(rows: list[dict[str, float]], path: Path, title: str, width: int = 900, height: int = 480) -> None:
    """RSS (MB) of each service against minutes: axes, ticks, one line per service, legend."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    left, right, top, bottom = 70, width - 20, 40, height - 50
    xs = [r["t_s"] / 60 for r in rows]
    x_max = max(xs[-1] if xs else 1.0, 1e-6)
    values = [r[f"{s}_rss_mb"] for r in rows for s in SERVICES]
    y_step = _nice_step(max(values, default=1.0), 6)
    y_max = y_step * (int(max(values, default=1.0) / y_step) + 1)
    x_step = _nice_step(x_max, 10)

    def px(x: float, y: float) -> tuple[float, float]:
        return left + (right - left) * x / x_max, bottom - (bottom - top) * y / y_max

    d.text((left, 12), title, fill="black")
    # a shaded band: the last two thirds of the run, where flatness is judged
    x_cut, _ = px(x_max / 3, 0)
    d.rectangle((x_cut, top, right, bottom), fill=(245, 245, 245))
    y = 0.0
    while y <= y_max + 1e-9:
        _, py = px(0, y)
        d.line((left, py, right, py), fill=(225, 225, 225))
        d.line((left - 5, py, left, py), fill="black")
        d.text((left - 8, py), f"{y:g}", fill="black", anchor="rm")
        y += y_step
    x = 0.0
    while x <= x_max + 1e-9:
        ppx, _ = px(x, 0)
        d.line((ppx, bottom, ppx, bottom + 5), fill="black")
        d.text((ppx, bottom + 8), f"{x:g}", fill="black", anchor="mt")
        x += x_step
    d.line((left, top, left, bottom), fill="black")
    d.line((left, bottom, right, bottom), fill="black")
    d.text(((left + right) / 2, height - 18), "minutes", fill="black", anchor="mm")
    d.text((8, top - 22), "RSS (MB)", fill="black")
    for i, service in enumerate(SERVICES):
        pts = [px(x, r[f"{service}_rss_mb"]) for x, r in zip(xs, rows, strict=True)]
        if len(pts) > 1:
            d.line(pts, fill=COLOURS[service], width=2)
        for ppx, ppy in pts:
            d.ellipse((ppx - 2, ppy - 2, ppx + 2, ppy + 2), fill=COLOURS[service])
        lx, ly = right - 150, bottom - 12 - 16 * (len(SERVICES) - i)  # legend, low: RSS lines run high
        if i == 0:
            d.rectangle((lx - 6, ly - 4, right - 6, ly + 16 * len(SERVICES)), fill="white", outline="black")
        d.line((lx, ly + 5, lx + 22, ly + 5), fill=COLOURS[service], width=3)
        d.text((lx + 28, ly), service, fill="black")
    d.text((x_cut + 4, bottom - 14), "last two thirds (judged)", fill=(120, 120, 120))
    img.quantize(colors=32).save(path, optimize=True)


# -- run ------------------------------------------------------------------------------------------
def _redis_len(stream: str) -> int | None:
    try:
        import redis

        return int(redis.Redis(socket_timeout=5).xlen(stream))
    except Exception:
        return None


def _cleanup(config: dict[str, object]) -> None:
    stream = config["redis"]["stream"]  # type: ignore[index]
    topics = list(config["topics"].values())  # type: ignore[attr-defined]
    try:
        import redis

        redis.Redis(socket_timeout=5).delete(stream)
    except Exception as exc:
        print(f"soak: could not delete Redis stream {stream}: {exc}", file=sys.stderr)
    try:
        from streaming.config import KafkaConfig
        from streaming.kafka_bus import KafkaBus

        bus = KafkaBus(KafkaConfig())
        bus.delete_topics(topics)
        bus.close()
    except Exception as exc:
        print(f"soak: could not delete topics {topics}: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print a line per sample, then the summary; 1 if fusion's RSS is not flat."""
    parser = argparse.ArgumentParser(prog="vigil bench soak", description=__doc__)
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--sample-s", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=None, help="default: .stack/bench/soak-<time>")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE, help="fusion flatness bound (0.10)")
    parser.add_argument("--keep", action="store_true", help="keep the run's topics and Redis stream")
    args = parser.parse_args(argv)
    if args.cameras < 1 or args.minutes <= 0 or args.sample_s <= 0:
        parser.error("--cameras, --minutes and --sample-s must be positive")
    run_id = uuid.uuid4().hex[:8]
    out: Path = args.out or STACK / "bench" / f"soak-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    out.mkdir(parents=True, exist_ok=True)
    config = soak_config(args.cameras, run_id)
    config_path = out / "soak.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    print(
        f"bench soak: {args.cameras} cameras, {args.minutes:g} min, a sample every {args.sample_s:g} s, "
        f"run {run_id}, {os.cpu_count()} CPUs; config, logs and results in {out}",
        flush=True,
    )
    services = Services(config_path, out)
    rows: list[dict[str, float]] = []
    codes: dict[str, int | None] = {}
    failure = ""
    stream = f"vigil:soak:{run_id}"
    try:
        services.start_all()
        pids = {name: proc.pid for name, proc in services.procs.items()}
        print("services up: " + ", ".join(f"{n} pid {p}" for n, p in pids.items()), flush=True)
        t0 = time.monotonic()
        total_s = args.minutes * 60
        n_samples = int(total_s // args.sample_s)
        for i in range(n_samples + 1):
            time.sleep(max(0.0, t0 + i * args.sample_s - time.monotonic()))
            services.check_alive()
            row: dict[str, float] = {"t_s": round(time.monotonic() - t0, 1)}
            for name in SERVICES:
                row[f"{name}_rss_mb"] = round(tree_rss_mb(pids[name]), 1)
            scored = services.metric("fusion", "vigil_fusion_windows_scored_total")
            alerts = services.metric("alert", "vigil_alerts_total")
            stored = _redis_len(stream)
            reconnects = services.metric("ingest", "vigil_ingest_reconnects_total")  # = sessions opened - 1
            batch = services.largest_batch()
            row["windows_scored"] = -1 if scored is None else scored
            row["alerts_delivered"] = -1 if alerts is None else alerts
            row["alerts_in_stream"] = -1 if stored is None else stored
            row["ingest_reconnects"] = -1 if reconnects is None else reconnects
            row["fusion_largest_batch"] = -1 if batch is None else batch
            row["load_1min"] = round(os.getloadavg()[0], 2)  # the machine is shared: contention shows here
            rows.append(row)
            print(
                f"[{row['t_s'] / 60:5.1f} min] RSS MB ingest {row['ingest_rss_mb']:6.1f}  "
                f"fusion {row['fusion_rss_mb']:6.1f}  alert {row['alert_rss_mb']:6.1f}  |  "
                f"windows scored {row['windows_scored']:.0f}  alerts {row['alerts_delivered']:.0f} "
                f"(stream {row['alerts_in_stream']:.0f})  reconnects {row['ingest_reconnects']:.0f}  "
                f"largest batch <= {row['fusion_largest_batch']:g}  load {row['load_1min']:.2f}",
                flush=True,
            )
    except KeyboardInterrupt:
        print("soak: interrupted; stopping the services", file=sys.stderr)
        failure = "interrupted"
    except RuntimeError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        failure = str(exc)
    finally:
        codes = services.stop()
        if not args.keep:
            _cleanup(config)
    print("services stopped (SIGTERM): " + ", ".join(f"{n} exit {c}" for n, c in codes.items()), flush=True)
    if not rows:
        print("soak: no samples", file=sys.stderr)
        return 2
    with (out / "soak.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    plot(
        rows,
        out / "soak.png",
        f"vigil bench soak: {args.cameras} cameras, {rows[-1]['t_s'] / 60:.0f} min, {stamp}: RSS per service",
    )
    if len(rows) < 3:
        print("soak: too few samples for a verdict (need 3)", file=sys.stderr)
        return 2
    print(f"{'service':8} {'RSS@1/3 MB':>11} {'end MB':>8} {'max MB':>8} {'growth last 2/3':>16}")
    verdict: Flatness | None = None
    for name in SERVICES:
        judged = flatness([(r["t_s"], r[f"{name}_rss_mb"]) for r in rows], args.tolerance)
        if name == "fusion":
            verdict = judged
        print(f"{name:8} {judged.start:11.1f} {judged.end:8.1f} {judged.max:8.1f} {judged.growth:+15.1%}")
    assert verdict is not None
    print(
        f"windows scored {rows[-1]['windows_scored']:.0f}, alerts delivered {rows[-1]['alerts_delivered']:.0f}, "
        f"camera reconnects (new sessions) {rows[-1]['ingest_reconnects']:.0f}; "
        f"wrote {out / 'soak.csv'} and {out / 'soak.png'}"
    )
    print(
        f"fusion RSS over the last two thirds: {verdict.min:.1f}..{verdict.max:.1f} MB around "
        f"{verdict.start:.1f} MB (growth {verdict.growth:+.1%}), bound ±{args.tolerance:.0%}: "
        f"{'PASS' if verdict.flat else 'FAIL'}",
        flush=True,
    )
    if failure:
        print(f"soak: the run did not complete ({failure})", file=sys.stderr)
        return 2
    return 0 if verdict.flat else 1


if __name__ == "__main__":
    sys.exit(main())
