"""``vigil demo``: the whole pipeline in one process, no Kafka or Redis.

Generates (once, cached) a short camera clip with an incident, then runs ingest (the file paced
in real time, like a live camera), fusion and alert on the in-memory bus, with the metrics
endpoint up, and prints alerts as they fire with their time in the clip. Exits once the clip has
ended and the incident is resolved: 0 if every incident was raised (and resolved), 1 otherwise.

    vigil demo                          # gunshot at 4 s in a 14 s clip
    vigil demo --incident 5:scream --port 0
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Final

from prometheus_client import CollectorRegistry

from services.alert.render import PrintingSink
from services.alert.service import AlertService
from services.alert.summary import describe
from streaming import contracts
from streaming.alert_store import Alert
from streaming.config import VigilConfig
from streaming.memory_bus import MemoryBus
from streaming.observability import HealthServer, setup_logging
from streaming.runtime import topic_specs

CAMERA: Final = "demo-cam"
DEFAULT_PORT: Final = 9100
TARGET_DELAY_S: Final = 3.0
log = logging.getLogger("vigil.demo")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``vigil demo``."""
    parser.add_argument(
        "--incident",
        default="4:gunshot",
        metavar="SECONDS:CLASS",
        help="the incident in the generated clip (default 4:gunshot)",
    )
    parser.add_argument("--duration", type=float, default=14.0, help="clip length in seconds (default 14)")
    parser.add_argument(
        "--clip", type=Path, help="use this clip instead of generating one (no known incident time)"
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="metrics port (default 9100; 0 = any)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="where generated clips are kept")
    parser.add_argument("--model", type=Path, default=None, help="ONNX model (default: the bundled one)")
    parser.add_argument("--timeout", type=float, default=60.0, help="give up this long after the clip ends")


def cache_dir(explicit: Path | None) -> Path:
    """``--cache-dir``, else ``$XDG_CACHE_HOME/vigil/demo`` (``~/.cache/vigil/demo``)."""
    if explicit is not None:
        return explicit
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "vigil" / "demo"


def demo_clip(directory: Path, incident_s: float, class_name: str, duration_s: float) -> Path:
    """The demo clip (rendered with the model's training look), generated once."""
    from models.synth.clip_render import ClipSpec
    from services.clips import write_clip

    spec = ClipSpec(
        duration_s=duration_s,
        width=320,
        height=240,
        fps=15,
        incidents=((incident_s, class_name),),
        seed=7,
        style="scene",
    )
    path = directory / f"demo-{class_name}-{incident_s:g}s-{duration_s:g}s-320x240.mp4"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        print(f"generating the demo clip (once): {path}", flush=True)
        tmp = path.with_suffix(".tmp.mp4")
        write_clip(spec, tmp)
        tmp.replace(path)
    return path


def demo_config(clip: Path, port: int, model: Path | None = None) -> VigilConfig:
    """Memory bus, one camera reading the clip in real time, quick window close at the clip's end."""
    return VigilConfig.model_validate(
        {
            "bus": "memory",
            "cameras": {CAMERA: {"url": str(clip)}},
            "ingest": {"realtime": True},
            "fusion": {"idle_timeout_s": 1.5, "providers": ["CPUExecutionProvider"], "model_path": model},
            "http": {"host": "127.0.0.1", "port": port},
            "kafka": {"partitions": 1},
            "log_level": "WARNING",
        }
    )


class ClipClock:
    """Clip time of "now", from the capture time ingest stamped on the clip's first frame."""

    def __init__(self, bus: MemoryBus, video_topic: str) -> None:
        self._bus = bus
        self._topic = video_topic
        self.start_ns: int | None = None

    def now_s(self) -> float | None:
        """Seconds into the clip now (None before the first frame)."""
        if self.start_ns is None:
            records = self._bus.records(self._topic)
            if not records:
                return None
            self.start_ns = min(contracts.decode(r.value).capture_ns for r in records[:4])
        return (time.time_ns() - self.start_ns) / 1e9


class DemoPrinter:
    """Formats alerts for the terminal with their clip time and delay after the incident."""

    def __init__(self, clock: ClipClock, incident_s: float | None) -> None:
        self.clock = clock
        self.incident_s = incident_s
        self.delays: list[float] = []

    def __call__(self, alert: Alert) -> str:
        data = alert.event["data"]
        clip_t = self.clock.now_s() or 0.0
        mark = {"raised": "ALERT ", "updated": "UPDATE", "resolved": "CLEAR "}[alert.type]
        text = (
            data["summary"]
            if alert.type != "raised"
            else describe(data["class"], data["contribution"], tuple(data["missing_modalities"]))
        )
        shown = data["peak_score"]  # the incident's strongest evidence so far, not one window's
        line = f"[clip {clip_t:5.1f}s] {mark} {data['camera']}  {data['class']} {shown:.2f}  {text}"
        if alert.type == "raised" and self.incident_s is not None:
            delay = clip_t - self.incident_s
            self.delays.append(delay)
            line += f"  (incident at {self.incident_s:g}s in the clip: alerted {delay:.1f}s later)"
        return line + f"  capture-to-alert {data['capture_to_alert_seconds']:.2f}s"


def _health_server(registry: CollectorRegistry, config: VigilConfig) -> HealthServer:
    port = config.http.port if config.http.port is not None else DEFAULT_PORT
    try:
        return HealthServer(registry, config.http.host, port).start()
    except OSError:
        print(f"port {port} is taken: serving metrics on a free port instead", flush=True)
        return HealthServer(registry, config.http.host, 0).start()


def run(args: argparse.Namespace) -> int:
    """Run the demo; see the module docstring."""
    from services.fusion.service import FusionService
    from services.ingest.service import IngestService

    setup_logging("WARNING")
    incident_s: float | None = None
    if args.clip is not None:
        clip = args.clip
    else:
        time_text, _, class_name = args.incident.partition(":")
        try:
            incident_s = float(time_text)
        except ValueError:
            print(f"vigil demo: --incident {args.incident!r}: expected SECONDS:CLASS", file=sys.stderr)
            return 2
        clip = demo_clip(cache_dir(args.cache_dir), incident_s, class_name or "gunshot", args.duration)
    config = demo_config(clip, args.port, args.model)
    bus = MemoryBus(default_partitions=1)
    bus.ensure_topics(topic_specs(config))
    registry = CollectorRegistry()
    health = _health_server(registry, config)
    print(f"metrics: http://127.0.0.1:{health.port}/metrics", flush=True)

    printer = DemoPrinter(ClipClock(bus, config.topics.video), incident_s)
    sink = PrintingSink(formatter=printer)
    fusion = FusionService(config, bus, registry)
    alert = AlertService(config, bus, registry, sink)
    ingest = IngestService(config, bus, registry)
    health.add_liveness(alert.heartbeat.check)
    health.add_readiness(fusion.ready)
    health.add_readiness(alert.ready)
    alert_thread = threading.Thread(target=alert.run, name="alert", daemon=True)
    print(f"vigil demo: camera {CAMERA!r} plays {clip.name} in real time", flush=True)
    try:
        fusion.start()
        alert_thread.start()
        ingest.start()
        ingest.wait()
        clip_end = time.monotonic()
        print("[clip ended] waiting for the last windows and the resolve", flush=True)
        while time.monotonic() - clip_end < args.timeout:
            raised = {a.event["data"]["incident_id"] for a in sink.alerts if a.type == "raised"}
            resolved = {a.event["data"]["incident_id"] for a in sink.alerts if a.type == "resolved"}
            if raised and raised <= resolved:
                break
            if not raised and time.monotonic() - clip_end > config.fusion.idle_timeout_s + 5:
                break
            time.sleep(0.2)
    finally:
        ingest.stop()
        fusion.stop()
        alert.stop()
        alert_thread.join(10)
        health.stop()
    return _report(sink, printer, incident_s)


def _report(sink: PrintingSink, printer: DemoPrinter, incident_s: float | None) -> int:
    raised = [a for a in sink.alerts if a.type == "raised"]
    resolved = {a.event["data"]["incident_id"] for a in sink.alerts if a.type == "resolved"}
    if not raised:
        print("vigil demo: no alert was raised (the model did not see the incident)")
        return 1
    open_ = [a.id for a in raised if a.event["data"]["incident_id"] not in resolved]
    if printer.delays:
        delay = printer.delays[0]
        verdict = "within" if delay <= TARGET_DELAY_S else "OVER"
        print(
            f"vigil demo: incident at {incident_s:g}s alerted after {delay:.1f}s ({verdict} the {TARGET_DELAY_S:g}s target)"
        )
    if open_:
        print(f"vigil demo: {len(open_)} incident(s) not resolved before the end")
        return 1
    print(f"vigil demo: {len(raised)} incident(s) raised and resolved")
    return 0
