"""``vigil demo``: the whole pipeline in one process, no Kafka or Redis.

Generates (once, cached) a short camera clip with an incident, then runs ingest (the file paced
in real time, like a live camera), fusion and alert on the in-memory bus, with the metrics
endpoint up, and prints alerts as they fire with their time in the clip. Exits once the clip has
ended and the incident is resolved: 0 if every incident was raised (and resolved), 1 otherwise.

    vigil demo                          # gunshot at 4 s in a 14 s clip
    vigil demo --incident 5:scream --port 0
    vigil demo --config vigil.yaml --camera gate-3   # the alert policy, model and window settings
                                                     # of vigil.yaml (camera gate-3's policy)

With ``--config`` the demo runs what the services would run: the alert policy (``--camera``'s
own, else ``alert.default_policy``), the model (``fusion.model_path``, unless ``--model``) and
the window settings (``fusion.*``). Only what makes it a demo is replaced: the in-memory bus, one
camera playing the clip in real time, the metrics port, and (unless the file sets them) CPU
inference and a short idle timeout so the last windows close soon after the clip ends.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Final

from prometheus_client import CollectorRegistry

from services.alert.render import PrintingSink
from services.alert.summary import describe
from services.pipeline import InProcessPipeline
from streaming import contracts
from streaming.alert_store import Alert
from streaming.config import CameraConfig, ConfigError, VigilConfig, load_config
from streaming.memory_bus import MemoryBus
from streaming.observability import HealthServer, setup_logging

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
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="a Vigil configuration whose alert policy, model and window settings the demo uses",
    )
    parser.add_argument(
        "--camera",
        default=CAMERA,
        help=f"camera id of the demo camera (its alert.cameras policy applies; default {CAMERA})",
    )


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


def demo_config(
    clip: Path,
    port: int,
    model: Path | None = None,
    base: VigilConfig | None = None,
    camera_id: str = CAMERA,
) -> VigilConfig:
    """``base`` (default: the defaults) made a demo: memory bus, one camera playing ``clip`` in real time.

    Policy, model and window settings come from ``base``; ``model`` overrides its model path.
    CPU inference, a 1.5 s idle timeout and WARNING logs apply unless ``base`` sets them.
    """
    base = base or VigilConfig()
    fusion = base.fusion
    fusion_update: dict[str, object] = {}
    if model is not None:
        fusion_update["model_path"] = model
    if "providers" not in fusion.model_fields_set:
        fusion_update["providers"] = ["CPUExecutionProvider"]
    if "idle_timeout_s" not in fusion.model_fields_set:
        fusion_update["idle_timeout_s"] = 1.5
    return base.model_copy(
        update={
            "bus": "memory",
            "cameras": {camera_id: CameraConfig(url=str(clip))},
            "ingest": base.ingest.model_copy(update={"realtime": True, "shard_index": 0, "shard_count": 1}),
            "fusion": fusion.model_copy(update=fusion_update),
            "http": base.http.model_copy(update={"host": "127.0.0.1", "port": port}),
            "kafka": base.kafka.model_copy(update={"partitions": 1}),
            "log_level": base.log_level if "log_level" in base.model_fields_set else "WARNING",
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

    def __init__(self, incident_s: float | None, clock: ClipClock | None = None) -> None:
        self.clock = clock
        self.incident_s = incident_s
        self.delays: list[float] = []

    def __call__(self, alert: Alert) -> str:
        data = alert.event["data"]
        clip_t = (self.clock.now_s() if self.clock is not None else None) or 0.0
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
    incident_s: float | None = None
    try:
        base = load_config(args.config) if args.config is not None else None
    except ConfigError as exc:
        print(f"vigil demo: {exc}", file=sys.stderr)
        return 2
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
    config = demo_config(clip, args.port, args.model, base, args.camera)
    setup_logging(config.log_level)
    registry = CollectorRegistry()
    health = _health_server(registry, config)
    print(f"metrics: http://127.0.0.1:{health.port}/metrics", flush=True)
    printer = DemoPrinter(incident_s)
    sink = PrintingSink(formatter=printer)
    pipeline = InProcessPipeline(config, sink=sink, registry=registry)
    printer.clock = ClipClock(pipeline.bus, config.topics.video)
    if args.config is not None:
        policy = config.alert.cameras.get(args.camera, config.alert.default_policy)
        print(f"vigil demo: configuration {args.config}; camera {args.camera!r} policy {policy.model_dump()}")
    print(f"vigil demo: camera {args.camera!r} plays {clip.name} in real time", flush=True)
    try:
        pipeline.start()
        assert pipeline.fusion is not None and pipeline.alert is not None
        health.add_liveness(pipeline.alert.heartbeat.check)
        health.add_readiness(pipeline.fusion.ready)
        health.add_readiness(pipeline.alert.ready)
        pipeline.wait_ingest()
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
        pipeline.stop()
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
