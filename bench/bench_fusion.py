"""Fusion benchmark: windows/s of the whole fusion service versus bare ONNX Runtime on the same batches.

    python -m bench.bench_fusion                          # CPU, in-memory bus, 24 cameras, batch 16
    vigil bench fusion --batches 1,8,32,64 --providers CUDAExecutionProvider,CPUExecutionProvider
    vigil bench fusion --kafka                            # also through the local Kafka (scripts/stack.sh up)

For each batch size the service replays generated media (JPEG frames + s16le audio, like ingest
publishes) from a bus: decode, window assembly, dynamic batching, inference, score encoding,
produce. Every batch it ran is noted (its windows and padded size), then the same batches, built
before the clock starts, go through ``InferenceSession.run`` alone, in the same process, right
after, two ways: as the service runs them (``workers`` runs at once, same session) and ONNX
Runtime's plain way (one run at a time, its default intra-op threads). Overhead = 1 - service /
the faster of the two. A third replay with the model call replaced by constant outputs measures
the service's own CPU per window; with bare ORT's CPU per window it gives the best any service
doing this work could reach on this machine's cores (printed as a bound).
The in-memory bus isolates the service's own cost; ``--kafka`` adds the broker round trips.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry

from models.contract import ModelContract
from models.runtime import DEFAULT_MODEL_PATH, FusionModel, ModelOutput
from services.fusion.runner import (
    ModelBatch,
    WindowScorer,
    inference_workers,
    load_model,
    usable_cpus,
    without_spinning,
)
from services.fusion.service import FusionService, ReplaySpec
from streaming.bus import Bus, TopicPartition
from streaming.config import VigilConfig
from streaming.contracts import AudioChunk, VideoFrame, decode, encode
from streaming.memory_bus import MemoryBus
from streaming.runtime import topic_specs
from streaming.windowing import AssembledWindow, WindowAssembler, WindowParams

NS = 1_000_000_000


@dataclass
class Batch:
    """One batch the service ran: its windows (by id), padded size and the service's inference time."""

    window_ids: tuple[str, ...]
    size: int
    seconds: float


class RecordingScorer(WindowScorer):
    """The service's scorer, noting each batch it runs (window ids, padded size) for the baseline.

    Ids only: keeping every batch's arrays would grow memory by ~0.4 MB a window inside the
    measured run (page faults the service itself never pays); the baseline rebuilds the inputs.
    """

    def __init__(self, inner: WindowScorer) -> None:
        super().__init__(inner.model, inner.thumbnail_threshold, inner.buckets)
        self.warm = inner.warm
        self.batches: list[Batch] = []
        self.windows = 0

    def infer(self, batch: ModelBatch) -> tuple[ModelOutput, float]:
        out, took = super().infer(batch)
        self.batches.append(Batch(tuple(w.window_id for w in batch.windows), len(batch.frames), took))
        self.windows += len(batch.windows)
        return out, took


class NoInferenceScorer(RecordingScorer):
    """The service's scorer with the model call replaced by constant outputs (anomaly 0.9, so
    thumbnails are attached as for the real model on this media): the service's own cost alone.
    """

    def infer(self, batch: ModelBatch) -> tuple[ModelOutput, float]:
        n, c = len(batch.frames), self.contract
        none = np.zeros(n, bool)
        out = ModelOutput(
            anomaly=np.full(n, 0.9, np.float32),
            class_probs=np.full((n, len(c.classes)), 1 / len(c.classes), np.float32),
            contribution=np.full((n, 2), 0.5, np.float32),
            classes=c.classes,
            audio_missing=none,
            video_missing=none,
        )
        self.batches.append(Batch(tuple(w.window_id for w in batch.windows), n, 0.0))
        self.windows += len(batch.windows)
        return out, 0.0


def scene_frames(n: int, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Camera-like frames (smooth background, a moving box, mild noise): JPEG decodes like real video.

    Pure noise would be the worst case for JPEG (every coefficient set) and overstate decode cost.
    """
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        img = np.stack([60 + 80 * yy / h, 90 + 60 * xx / w, 120 + 40 * (xx + yy) / (h + w)], axis=-1)
        x0 = (i * w // n) % (w - w // 4)
        img[h // 3 : h // 3 + h // 4, x0 : x0 + w // 4] = (200, 40, 40)
        img += rng.normal(0, 4, img.shape)
        out[i] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def media(
    contract: ModelContract, cameras: int, seconds: float, codec: str
) -> list[tuple[str, bytes, bytes]]:
    """Generated records (kind, key, value) for ``cameras`` cameras, interleaved by capture time."""
    rng = np.random.default_rng(0)
    h, w, fps, rate = contract.frame_height, contract.frame_width, contract.fps, contract.sample_rate
    chunk = rate // 4
    t0 = (time.time_ns() // NS - 3600) * NS + 100_000_000
    base = scene_frames(8, h, w, rng)
    out: list[tuple[int, str, bytes, bytes]] = []
    for c in range(cameras):
        cam = f"bench-{c:03d}"
        for i in range(int(seconds * fps)):
            t = t0 + i * NS // fps
            frame = VideoFrame.from_rgb(
                base[(i + c) % 8],
                camera_id=cam,
                session_id="s",
                seq=i,
                capture_ns=t,
                camera_has_audio=True,
                codec=codec,
            )
            out.append((t, "video", cam.encode(), encode(frame)))
        for j in range(int(seconds * 4)):
            t = t0 + j * NS // 4
            samples = (0.1 * rng.standard_normal(chunk)).astype(np.float32)
            rec = AudioChunk.from_float32(
                samples, camera_id=cam, session_id="s", seq=j, capture_ns=t, sample_rate=rate
            )
            out.append((t, "audio", cam.encode(), encode(rec)))
    out.sort(key=lambda r: r[0])
    return [(k, key, value) for _t, k, key, value in out]


def run_service(
    bus: Bus,
    config: VigilConfig,
    model: FusionModel,
    records: list[tuple[str, bytes, bytes]],
    scores_topic: str,
    infer: bool = True,
) -> dict[str, Any]:
    """Publish ``records``, replay them through the service; windows/s and the batches it ran.

    ``infer=False``: constant outputs instead of the model (:class:`NoInferenceScorer`).
    """
    topics = config.topics
    producer = bus.producer(client_id="bench")
    for kind, key, value in records:
        producer.send(topics.video if kind == "video" else topics.audio, value, key=key)
    producer.flush(60)
    service = FusionService(config, bus, CollectorRegistry(), model=model, replay=ReplaySpec(0, scores_topic))
    recorder = RecordingScorer(service.scorer) if infer else NoInferenceScorer(service.scorer)
    service.scorer = recorder
    service.warm_up()
    t0, c0 = time.perf_counter(), time.process_time()
    service.run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"windows": recorder.windows, "seconds": wall, "cpu_s": cpu, "batches": recorder.batches}


def rebuild_windows(
    contract: ModelContract, records: list[tuple[str, bytes, bytes]]
) -> dict[str, AssembledWindow]:
    """Every window of ``records`` by id, assembled outside any measurement (for the baseline)."""
    params = WindowParams.create(
        window_s=contract.window_s,
        hop_s=contract.hop_s,
        fps=contract.fps,
        sample_rate=contract.sample_rate,
        lateness_s=3600.0,
        idle_timeout_s=3600.0,
    )
    assembler = WindowAssembler(params, (contract.frame_height, contract.frame_width))
    tp = TopicPartition("bench", 0)
    windows: list[AssembledWindow] = []
    for offset, (_kind, _key, value) in enumerate(records):
        item = decode(value)
        if isinstance(item, VideoFrame):
            windows += assembler.add_frame(
                item.camera_id,
                item.session_id,
                item.capture_ns,
                item.to_rgb(),
                has_audio=True,
                tp=tp,
                offset=offset,
                now=0.0,
            )
        elif isinstance(item, AudioChunk):
            windows += assembler.add_audio(
                item.camera_id,
                item.session_id,
                item.capture_ns,
                item.to_float32(),
                tp=tp,
                offset=offset,
                now=0.0,
            )
    windows += assembler.flush(0.0)
    return {w.window_id: w for w in windows}


def bare_runtime(
    model: FusionModel, batches: list[Batch], windows: dict[str, AssembledWindow], workers: int = 1
) -> dict[str, float]:
    """The same batches (same windows, same padded sizes, same order) through ``InferenceSession.run``
    only, ``workers`` runs at a time like the service (each batch to the next free worker).

    Every input is built before the clock starts; the clock covers the runs alone (wall and CPU).
    """
    scorer = WindowScorer(model, 1.0)

    def inputs(b: Batch) -> dict[str, np.ndarray]:
        try:
            batch = scorer.stack([windows[i] for i in b.window_ids], b.size)
        except KeyError as exc:
            raise RuntimeError(f"the service scored window {exc} that the rebuild did not produce") from None
        return {"frames": batch.frames, "audio": batch.audio, "modality_mask": batch.mask}

    feeds = [inputs(b) for b in batches]
    for feed in feeds[:2]:  # same warm state as the service (it warmed up too)
        model.session.run(None, feed)
    lat = [0.0] * len(feeds)
    next_index = iter(range(len(feeds)))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                i = next(next_index, None)
            if i is None:
                return
            t = time.perf_counter()
            model.session.run(None, feeds[i])
            lat[i] = time.perf_counter() - t

    threads = [threading.Thread(target=worker) for _ in range(workers - 1)]
    t0, c0 = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    worker()
    for thread in threads:
        thread.join()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"seconds": wall, "cpu_s": cpu, "p99_ms": 1e3 * float(np.percentile(lat, 99)) if lat else 0.0}


def bench_one(
    bus_name: str,
    models: Models,
    batch: int,
    records: list[tuple[str, bytes, bytes]],
    partitions: int,
    repeats: int = 1,
) -> dict[str, Any]:
    """Service then bare runtime, ``repeats`` times alternating (the machine may be shared): medians."""
    runs = [_bench_once(bus_name, models, batch, records, partitions) for _ in range(repeats)]
    out = dict(runs[0])
    for key in (
        "service_windows_per_s",
        "bare_ort_windows_per_s",
        "bare_one_run_windows_per_s",
        "service_p99_batch_ms",
        "bare_p99_batch_ms",
        "service_cpu_ms_per_window",
        "bare_cpu_ms_per_window",
        "no_inference_windows_per_s",
        "no_inference_cpu_ms_per_window",
    ):
        out[key] = round(float(np.median([r[key] for r in runs])), 2)
    out["overhead_pct"] = round(float(np.median([r["overhead_pct"] for r in runs])), 1)
    out["overhead_runs_pct"] = [r["overhead_pct"] for r in runs]
    return out


@dataclass
class Models:
    """The model as the service runs it (``workers`` batches at once) and ONNX Runtime's plain way."""

    service: FusionModel
    workers: int
    one_run: FusionModel  # ONNX Runtime's default intra-op threads, one run at a time


def _bench_once(
    bus_name: str, models: Models, batch: int, records: list[tuple[str, bytes, bytes]], partitions: int
) -> dict[str, Any]:
    model = models.service
    svc = _service_run(bus_name, models, batch, records, partitions, infer=True)
    own = _service_run(bus_name, models, batch, records, partitions, infer=False)
    windows = rebuild_windows(model.contract, records)
    base = bare_runtime(model, svc["batches"], windows, models.workers)
    one_run = bare_runtime(models.one_run, svc["batches"], windows, 1)
    del windows
    service_wps = svc["windows"] / svc["seconds"]
    bare_wps = svc["windows"] / base["seconds"] if base["seconds"] else 0.0
    one_run_wps = svc["windows"] / one_run["seconds"] if one_run["seconds"] else 0.0
    best_wps = max(bare_wps, one_run_wps)  # overhead against the faster way to run bare
    sizes = [b.size for b in svc["batches"]]
    return {
        "bus": bus_name,
        "max_batch": batch,
        "windows": svc["windows"],
        "mean_batch": round(svc["windows"] / len(sizes), 1) if sizes else 0.0,  # before padding
        "service_windows_per_s": round(service_wps, 1),
        "bare_ort_windows_per_s": round(bare_wps, 1),
        "bare_one_run_windows_per_s": round(one_run_wps, 1),
        "overhead_pct": round(100 * (1 - service_wps / best_wps), 1) if best_wps else None,
        "service_p99_batch_ms": round(1e3 * float(np.percentile([b.seconds for b in svc["batches"]], 99)), 2)
        if sizes
        else None,
        "bare_p99_batch_ms": round(base["p99_ms"], 2),
        "service_cpu_ms_per_window": round(1e3 * svc["cpu_s"] / max(1, svc["windows"]), 2),
        "bare_cpu_ms_per_window": round(1e3 * base["cpu_s"] / max(1, svc["windows"]), 2),
        "no_inference_windows_per_s": round(own["windows"] / own["seconds"], 1),
        "no_inference_cpu_ms_per_window": round(1e3 * own["cpu_s"] / max(1, own["windows"]), 2),
    }


def _service_run(
    bus_name: str,
    models: Models,
    batch: int,
    records: list[tuple[str, bytes, bytes]],
    partitions: int,
    infer: bool,
) -> dict[str, Any]:
    """One replay of ``records`` through a fresh service on its own topics (deleted after on Kafka)."""
    u = uuid.uuid4().hex[:6]
    settings: dict[str, Any] = {
        "bus": "memory" if bus_name == "memory" else "kafka",
        "kafka": {"partitions": partitions},
        "fusion": {
            "max_batch": batch,
            "max_wait_ms": 50,
            "max_queue_windows": 4 * batch + 64,
            "inference_workers": models.workers,
        },
        "topics": {
            "video": f"vigil.bench.video.{u}",
            "audio": f"vigil.bench.audio.{u}",
            "scores": f"vigil.bench.scores-live.{u}",
            "dead_letter": f"vigil.bench.deadletter.{u}",
        },
    }
    config = VigilConfig.model_validate(settings)
    bus: Bus
    if bus_name == "memory":
        bus = MemoryBus(default_partitions=partitions, retention_records=10_000_000)
    else:
        from streaming.kafka_bus import KafkaBus

        bus = KafkaBus(config.kafka, "vigil-bench")
    bus.ensure_topics(topic_specs(config))
    try:
        return run_service(bus, config, models.service, records, f"vigil.bench.scores.{u}", infer)
    finally:
        bus.close()
        if bus_name == "kafka":
            t = config.topics
            _delete_topics(config, [t.video, t.audio, t.scores, t.dead_letter, f"vigil.bench.scores.{u}"])


def _delete_topics(config: VigilConfig, names: list[str]) -> None:
    """Remove the benchmark's topics from the broker (best effort)."""
    try:
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=config.kafka.bootstrap_servers)
        admin.delete_topics(names)
        admin.close()
    except Exception as exc:
        print(f"(could not delete benchmark topics: {exc})")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table (and JSON with --json)."""
    ap = argparse.ArgumentParser(prog="bench_fusion", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--model", default=str(DEFAULT_MODEL_PATH))
    ap.add_argument(
        "--providers", default="CPUExecutionProvider", help="comma-separated ONNX Runtime providers"
    )
    ap.add_argument(
        "--workers", type=int, default=0, help="batches run at once (0: the service's choice, see runner.py)"
    )
    ap.add_argument(
        "--threads", type=int, default=0, help="intra-op threads of a run (0: the service's choice)"
    )
    ap.add_argument("--batches", default="16", help="max batch sizes to run, e.g. 1,8,32,64")
    ap.add_argument("--cameras", type=int, default=0, help="cameras (default: max(24, largest batch))")
    ap.add_argument("--seconds", type=float, default=60.0, help="media seconds per camera")
    ap.add_argument("--repeats", type=int, default=3, help="alternating service/bare runs (medians)")
    ap.add_argument("--codec", default="jpeg", choices=("jpeg", "rgb24"))
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--kafka", action="store_true", help="also run through Kafka at kafka.bootstrap_servers")
    ap.add_argument("--spin", action="store_true", help="keep ONNX Runtime's spinning threads (CPU)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    providers = args.providers.split(",")
    model = load_model(args.model, providers, args.workers)  # as the service loads it
    workers = inference_workers(args.workers, model.providers)
    cpu = model.providers == ["CPUExecutionProvider"]
    if args.threads or args.spin:
        model = FusionModel(Path(args.model), providers=providers, intra_op_threads=args.threads or None)
        if cpu and not args.spin:
            without_spinning(model, args.threads or None)
    one_run = (
        load_model(args.model, providers, 1) if not args.spin else FusionModel(Path(args.model), providers)
    )
    models = Models(model, workers, one_run)
    cameras = args.cameras or max(24, max(batches))
    records = media(model.contract, cameras, args.seconds, args.codec)
    threads = model.session.get_session_options().intra_op_num_threads or "default"
    print(
        f"fusion bench: model {model.contract.model_version} on {','.join(model.providers)}, "
        f"{workers} batch(es) at once, intra-op threads {threads}; "
        f"{cameras} cameras x {args.seconds:g} s ({len(records)} records, {args.codec})",
        flush=True,
    )
    buses = ["memory", "kafka"] if args.kafka else ["memory"]
    results = [
        bench_one(bus, models, b, records, args.partitions, args.repeats) for bus in buses for b in batches
    ]
    print(
        f"{'bus':>6} {'batch':>5} {'mean':>5} {'windows':>7} {'service w/s':>11} {'bare ORT w/s':>12} "
        f"{'(1 run)':>8} {'overhead':>8} {'p99 batch ms (svc/bare)':>24}"
    )
    for r in results:
        print(
            f"{r['bus']:>6} {r['max_batch']:>5} {r['mean_batch']:>5} {r['windows']:>7} "
            f"{r['service_windows_per_s']:>11} {r['bare_ort_windows_per_s']:>12} "
            f"{r['bare_one_run_windows_per_s']:>8} {r['overhead_pct']:>7}% "
            f"{r['service_p99_batch_ms']:>12} / {r['bare_p99_batch_ms']}   runs {r['overhead_runs_pct']}"
        )
        own, bare = r["no_inference_cpu_ms_per_window"], r["bare_cpu_ms_per_window"]
        print(
            f"{'':>6} CPU per window (all threads): service {r['service_cpu_ms_per_window']} ms, "
            f"bare {bare} ms; the service without inference {own} ms ({r['no_inference_windows_per_s']} w/s)"
        )
        best = max(r["bare_ort_windows_per_s"], r["bare_one_run_windows_per_s"])
        if own and bare and best:
            cores = usable_cpus()
            bound = cores / ((own + bare) / 1e3)
            print(
                f"{'':>6} at best on {cores} cores (the service's own CPU and bare's, perfectly overlapped): "
                f"{bound:.0f} w/s, overhead >= {max(0.0, 100 * (1 - bound / best)):.1f}%"
            )
    print(
        "bare ORT: the same batches run as the service runs them; (1 run): one run at a time with "
        "ONNX Runtime's default threads. Overhead = 1 - service / the faster of the two."
    )
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
