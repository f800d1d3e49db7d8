"""Ingest CPU cost and bus bandwidth per camera, against plain PyAV decode of the same clip.

The clip looks like an IP camera's: 720p30 H.264 (no B-frames, key frame every 2 s) at about
3 Mbit/s with sensor noise in every frame, plus 16 kHz AAC (a flat synthetic clip decodes
unrealistically fast). Everything runs in this process, one variant after the other, and the
table reports process CPU seconds (all threads) per second of camera content:

- ``plain decode``: PyAV decodes every video and audio frame, default decoder options;
- ``ingest ...``: the real :class:`CameraSession` (decode, sample to the analysis fps,
  convert + resize, JPEG, resample + chunk audio, encode records, publish to the in-memory bus)
  at default settings and with one option changed at a time.

    vigil bench ingest [--clip PATH] [--duration 20] [--rounds 2] [--instructions]

CPU seconds on a shared VM move by ±15 % between identical runs, so ``--instructions`` also
counts machine instructions with valgrind's callgrind (deterministic: the same total for the
same binary and input, whatever else the machine does) for plain decode and ingest at
defaults over the first seconds of the clip, minus the instructions of an interpreter that
only imports the same modules.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import av
from prometheus_client import CollectorRegistry

from services.ingest.analysis import AnalysisSpec, default_spec
from services.ingest.metrics import IngestMetrics
from services.ingest.publisher import MediaPublisher
from services.ingest.session import CameraSession, SessionOptions
from services.ingest.supervisor import session_options
from streaming.config import IngestConfig, TopicsConfig
from streaming.memory_bus import MemoryBus
from streaming.runtime import topic_specs

TARGET_RATIO = 0.75
TARGET_BYTES_PER_S = 100_000
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = Path(os.environ.get("STACK_DIR", ROOT / ".stack")) / "bench" / "ingest-720p30-noisy.mp4"


@dataclass
class Measure:
    """One variant's cost."""

    name: str
    cpu_s: float  # process CPU seconds (best of the rounds)
    content_s: float
    bus_bytes: int | None = None
    frames: int = 0
    per_round: list[float] = field(default_factory=list)  # CPU seconds of each round

    @property
    def cpu_per_camera_s(self) -> float:
        return self.cpu_s / self.content_s


def make_clip(path: Path, duration_s: float) -> None:
    """Write the noisy 720p30 ~3 Mbit/s H.264 + AAC camera clip (once; it is cached)."""
    from models.synth.clip_render import ClipSpec
    from services.clips import write_clip

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.mp4")
    spec = ClipSpec(duration_s=duration_s, width=1280, height=720, fps=30, noise=6.0, seed=11)
    print(f"generating {path} ({duration_s:.0f} s 720p30, noise 6, 3 Mbit/s; once)...", flush=True)
    write_clip(spec, tmp, bitrate=3_000_000)
    tmp.rename(path)


def clip_info(path: Path) -> tuple[float, str]:
    """Duration in seconds and a one-line description of the clip."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        duration = float(c.duration or 0) / av.time_base
        kbps = path.stat().st_size * 8 / duration / 1000
        audio = (
            f", {c.streams.audio[0].codec_context.name} {c.streams.audio[0].rate} Hz"
            if c.streams.audio
            else ""
        )
        desc = f"{v.codec_context.name} {v.width}x{v.height}@{float(v.average_rate or 0):.0f}{audio}, {kbps:.0f} kbit/s"
        return duration, desc


def cpu_time() -> float:
    """Process CPU seconds, user + system, all threads (what a core budget pays for)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def plain_decode(
    path: Path, *, threads: int = 1, options: dict[str, str] | None = None, skip: Any = None
) -> int:
    """Decode every frame of every stream, like a naive reader would."""
    frames = 0
    with av.open(str(path)) as c:
        streams = list(c.streams.video[:1]) + list(c.streams.audio[:1])
        ctx = streams[0].codec_context
        ctx.thread_count = threads
        if threads != 1:
            ctx.thread_type = "AUTO"
        if options:
            ctx.options = options
        if skip is not None:
            ctx.skip_frame = skip
        for packet in c.demux(*streams):
            frames += len(packet.decode())
    return frames


def ingest_once(path: Path, spec: AnalysisSpec, options: SessionOptions) -> tuple[int, int]:
    """One real ingest session over the clip into the in-memory bus: (frames decoded, bus bytes)."""
    bus = MemoryBus(default_partitions=1)
    topics = TopicsConfig()
    from streaming.config import VigilConfig

    bus.ensure_topics(topic_specs(VigilConfig()))
    registry = CollectorRegistry()
    metrics = IngestMetrics(registry)
    publisher = MediaPublisher(bus.producer(), topics, metrics, max_inflight_per_camera=64)
    session = CameraSession("bench", str(path), spec, options, publisher.publish, metrics)
    result = session.run()
    if result.reason != "eof":
        raise RuntimeError(f"ingest session ended with {result.reason}: {result.detail}")
    size = sum(len(r.value) for t in (topics.video, topics.audio) for r in bus.records(t))
    return result.frames_decoded, size


def run_variants(path: Path, content_s: float, rounds: int) -> list[Measure]:
    """Measure every variant ``rounds`` times, interleaved (A B C ... A B C ...), each time on its
    second consecutive run (warm), keeping the least CPU of each: on a shared machine the minimum
    is the least disturbed run."""
    spec = default_spec()
    defaults = session_options(IngestConfig())
    variants: list[tuple[str, Callable[[], tuple[int, int | None]]]] = []

    def plain(name: str, **kw: Any) -> None:
        variants.append((name, lambda: (plain_decode(path, **kw), None)))

    def ingest(name: str, options: SessionOptions = defaults, s: AnalysisSpec = spec) -> None:
        variants.append((name, lambda: ingest_once(path, s, options)))

    plain("plain decode (baseline)")
    ingest("ingest defaults")  # right after its baseline: the pair sees the same machine load
    plain("plain decode, skip_loop_filter=all", options={"skip_loop_filter": "all"})
    plain("plain decode, skip_frame=NONREF", skip="NONREF")
    plain("plain decode, threads=2", threads=2)
    ingest("ingest, loop filter on", replace(defaults, skip_loop_filter=False))
    ingest("ingest, skip_frame=NONREF", replace(defaults, skip_nonref=True))
    ingest("ingest, threads=2", replace(defaults, decode_threads=2))
    for interp in ("FAST_BILINEAR", "BILINEAR"):
        ingest(f"ingest, resize {interp}", replace(defaults, interpolation=interp))
    for quality in (60, 95):
        ingest(f"ingest, JPEG quality {quality}", replace(defaults, jpeg_quality=quality))
    ingest("ingest, raw rgb24 frames", replace(defaults, video_codec="rgb24"))
    ingest("ingest, 224x224 frames", s=replace(spec, width=224, height=224))

    best: dict[str, Measure] = {}
    for r in range(rounds):
        print(f"  round {r + 1}/{rounds}", flush=True)
        for name, fn in variants:
            fn()  # warm-up: the run right after another variant pays for its caches and heap
            gc.collect()
            start = cpu_time()
            frames, size = fn()
            cpu = cpu_time() - start
            m = best.setdefault(name, Measure(name, cpu, content_s, size, frames))
            m.cpu_s = min(m.cpu_s, cpu)
            m.per_round.append(cpu)
    return [best[name] for name, _ in variants]


def report(measures: list[Measure], desc: str, content_s: float) -> bool:
    base = measures[0].cpu_per_camera_s
    print()
    print(f"clip: {desc}, {content_s:.1f} s; analysis defaults: {default_spec()}")
    print(f"{'variant':40} {'CPU s/cam-s':>11} {'vs plain':>9} {'cams/core':>9} {'bus KB/s':>9}")
    for m in measures:
        kbs = "-" if m.bus_bytes is None else f"{m.bus_bytes / content_s / 1000:.1f}"
        print(
            f"{m.name:40} {m.cpu_per_camera_s:11.4f} {m.cpu_per_camera_s / base:9.2f} "
            f"{1 / m.cpu_per_camera_s:9.1f} {kbs:>9}"
        )
    ingest = next(m for m in measures if m.name == "ingest defaults")
    # paired per round (same moment, same machine load), then the median: robust on a busy box
    ratio = statistics.median(i / p for i, p in zip(ingest.per_round, measures[0].per_round, strict=True))
    print(
        f"\nper-round ingest/plain ratios: {[round(i / p, 3) for i, p in zip(ingest.per_round, measures[0].per_round, strict=True)]}"
    )
    rate = (ingest.bus_bytes or 0) / content_s
    ok_cpu, ok_bytes = ratio <= TARGET_RATIO, rate <= TARGET_BYTES_PER_S
    print()
    print(
        f"ingest at defaults: {ratio:.2f} x plain decode CPU (median of paired rounds) (target <= {TARGET_RATIO}) "
        f"{'OK' if ok_cpu else 'MISSED'}; {1 / ingest.cpu_per_camera_s:.1f} cameras in real time per core; "
        f"{rate / 1000:.1f} KB/s per camera to the bus (target <= {TARGET_BYTES_PER_S / 1000:.0f}) "
        f"{'OK' if ok_bytes else 'MISSED'}"
    )
    return ok_cpu and ok_bytes


def cut_clip(src: Path, dst: Path, seconds: float) -> None:
    """Copy the first ``seconds`` of ``src`` (stream copy, no re-encode) to ``dst``."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        mapping = {
            s.index: out.add_stream_from_template(s) for s in (*inp.streams.video[:1], *inp.streams.audio[:1])
        }
        for packet in inp.demux(*(s for s in inp.streams if s.index in mapping)):
            if packet.dts is None:
                continue
            if packet.pts is not None and float(packet.pts * packet.time_base) > seconds:
                break
            packet.stream = mapping[packet.stream.index]
            out.mux(packet)


def _instructions(mode: str, clip: Path) -> int:
    """Instructions callgrind collects for one ``--_one MODE`` child process."""
    proc = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-m",
            "bench.bench_ingest",
            "--_one",
            mode,
            "--clip",
            str(clip),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if not found:
        raise RuntimeError(f"callgrind printed no total for {mode}: {proc.stderr[-500:]}")
    return int(found.group(1))


def instruction_report(path: Path, seconds: float) -> bool:
    """Plain decode vs ingest at defaults in machine instructions (callgrind), same clip cut."""
    if shutil.which("valgrind") is None:
        print("valgrind not found (apt-get install valgrind): instruction counts skipped")
        return True
    clip = path.with_name(f"{path.stem}-first{seconds:.0f}s.mp4")
    if not clip.exists():
        cut_clip(path, clip, seconds)
    print(
        f"\ncounting instructions with callgrind over the first {seconds:.0f} s (about a minute)...",
        flush=True,
    )
    base = _instructions("none", clip)
    plain = _instructions("plain", clip) - base
    ingest = _instructions("ingest", clip) - base
    ratio = ingest / plain
    print(f"{'plain decode (baseline)':40} {plain / 1e6:11.0f} M instructions")
    print(f"{'ingest defaults':40} {ingest / 1e6:11.0f} M instructions")
    print(
        f"ingest at defaults: {ratio:.2f} x plain decode in instructions (deterministic) "
        f"(target <= {TARGET_RATIO}) {'OK' if ratio <= TARGET_RATIO else 'MISSED'}"
    )
    return ratio <= TARGET_RATIO


def _one(mode: str, clip: Path) -> None:
    """A single measured workload, for the callgrind child processes."""
    if mode == "plain":
        plain_decode(clip)
    elif mode == "ingest":
        ingest_once(clip, default_spec(), session_options(IngestConfig()))
    # "none": imports only, subtracted from the others


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vigil bench ingest``."""
    parser = argparse.ArgumentParser(prog="vigil bench ingest", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clip", type=Path, default=None, help=f"camera clip (default: generate {DEFAULT_CLIP})"
    )
    parser.add_argument(
        "--duration", type=float, default=20.0, help="length of the generated clip in seconds"
    )
    parser.add_argument("--rounds", type=int, default=3, help="runs per variant; the least CPU counts")
    parser.add_argument(
        "--instructions", action="store_true", help="also count instructions with callgrind (deterministic)"
    )
    parser.add_argument(
        "--instructions-seconds", type=float, default=5.0, help="clip seconds callgrind runs over"
    )
    parser.add_argument("--_one", choices=("none", "plain", "ingest"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv or [])
    path: Path = args.clip or DEFAULT_CLIP
    if args._one:
        _one(args._one, path)
        return 0
    if args.clip is None and not path.exists():
        make_clip(path, args.duration)
    content_s, desc = clip_info(path)
    start = time.monotonic()
    measures = run_variants(path, content_s, max(1, args.rounds))
    ok = report(measures, desc, content_s)
    if args.instructions:
        ok = instruction_report(path, args.instructions_seconds) and ok
    print(f"(benchmark took {time.monotonic() - start:.0f} s wall)")
    return 0 if ok else 1


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
