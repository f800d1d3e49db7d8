"""Scores closed windows with the ONNX model: batch arrays in, :class:`WindowScore` records out."""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from models.runtime import DEFAULT_MODEL_PATH, FusionModel, ModelOutput
from streaming.contracts import WindowScore, encode_jpeg
from streaming.windowing import AUDIO, VIDEO, AssembledWindow

log = logging.getLogger(__name__)

THUMBNAIL_SIZE = 64
THUMBNAIL_QUALITY = 75


MAX_CPU_WORKERS = 8  # concurrent single-threaded runs at most (each holds its own activations)
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup v2 CPU quota (a pod's limit)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def inference_workers(requested: int, providers: Sequence[str]) -> int:
    """How many batches run at once: ``requested``, or for 0 one per usable core (at most
    :data:`MAX_CPU_WORKERS`) on the CPU provider and one on an accelerator.

    On CPUs, single-threaded runs side by side beat one run over a thread pool: no barrier after
    every operator, and a core that the consumer thread takes for a moment stalls one run instead
    of all of them (bare ONNX Runtime on 2 cores: 786 against 541 windows/s, bench/RESULTS.md).
    """
    if requested:
        return requested
    if all(p == "CPUExecutionProvider" for p in providers):
        return min(MAX_CPU_WORKERS, usable_cpus())
    return 1


def load_model(
    path: str | Path | None, providers: Sequence[str] | None = None, workers: int = 0
) -> FusionModel:
    """Open the model (default: the bundled one); raises ``ModelContractError`` without a valid contract.

    On the CPU provider the session is re-created for the service: single-threaded when several
    batches run at once (see :func:`inference_workers`), otherwise with intra-op spinning off, as
    spinning pool threads burn the cores the consumer thread needs for decoding.
    """
    model = FusionModel(path or DEFAULT_MODEL_PATH, providers=providers)
    if model.providers == ["CPUExecutionProvider"]:
        n = inference_workers(workers, model.providers)
        without_spinning(model, 1 if n > 1 else None)
    return model


def without_spinning(model: FusionModel, intra_op_threads: int | None = None) -> FusionModel:
    """Replace the model's CPU session by one whose idle intra-op threads sleep instead of spinning."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if intra_op_threads:
        opts.intra_op_num_threads = intra_op_threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    model.session = ort.InferenceSession(str(model.path), sess_options=opts, providers=model.providers)
    return model


def thumbnail_jpeg(frame: np.ndarray, size: int = THUMBNAIL_SIZE) -> bytes:
    """A small ``size`` x ``size`` JPEG of one ``[H, W, 3]`` uint8 frame (evidence for the alert).

    Used when the window carries no camera JPEG of its own (raw ``rgb24`` frames). Cheap on
    purpose (every window above ``fusion.thumbnail_threshold`` may get one): an integer box
    reduction in C (``Image.reduce``, antialiased) to about ``size`` (112 -> 56), nearest-neighbour
    to exactly ``size``, TurboJPEG via :func:`streaming.contracts.encode_jpeg`. Measured on a
    112x112 frame: about 35 us against 160 us for Pillow's BILINEAR resize (a 1.75x reducing
    filter) plus Pillow's JPEG encoder.
    """
    img = Image.fromarray(np.ascontiguousarray(frame, dtype=np.uint8), mode="RGB")
    factor = round(min(img.width, img.height) / size)
    if factor >= 2:
        img = img.reduce(factor)
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.NEAREST)
    return encode_jpeg(np.asarray(img), quality=THUMBNAIL_QUALITY)


def batch_buckets(max_batch: int, providers: Sequence[str]) -> tuple[int, ...]:
    """Batch sizes to pad to on accelerators (TensorRT builds, cuDNN tunes, per input shape).

    On the CPU provider every size runs as is (empty tuple). Elsewhere: powers of two below
    ``max_batch``, and ``max_batch`` itself, so a handful of shapes are prepared at warm-up.
    """
    if all(p == "CPUExecutionProvider" for p in providers):
        return ()
    sizes = {max_batch}
    b = 1
    while b < max_batch:
        sizes.add(b)
        b *= 2
    return tuple(sorted(sizes))


@dataclass(frozen=True, slots=True)
class ModelBatch:
    """Windows and their model inputs, padded: frames [B,T,H,W,3], audio [B,S], mask [B,2] (B >= len(windows))."""

    windows: tuple[AssembledWindow, ...]
    frames: np.ndarray
    audio: np.ndarray
    mask: np.ndarray


class WindowScorer:
    """Runs batches of windows through a :class:`FusionModel`."""

    def __init__(self, model: FusionModel, thumbnail_threshold: float, buckets: Sequence[int] = ()) -> None:
        self.model = model
        self.contract = model.contract
        self.thumbnail_threshold = thumbnail_threshold
        self.buckets = tuple(sorted(buckets))
        self.warm = False

    def _padded_size(self, n: int) -> int:
        return next((b for b in self.buckets if b >= n), n)

    def warm_up(self, batch_sizes: Sequence[int] = (1,)) -> float:
        """Run zero batches once per size (allocations, kernel/engine selection); returns seconds."""
        c = self.contract
        t0 = time.perf_counter()
        for b in batch_sizes:
            frames = np.zeros((b, c.frames_per_window, c.frame_height, c.frame_width, 3), np.uint8)
            audio = np.zeros((b, c.samples_per_window), np.float32)
            self.model.predict(frames, audio, np.ones((b, 2), np.float32))
        self.warm = True
        took = time.perf_counter() - t0
        log.info("model %s warm on %s in %.2fs", c.model_version, self.model.providers, took)
        return took

    def stack(self, windows: Sequence[AssembledWindow], size: int = 0) -> ModelBatch:
        """Model inputs for ``windows`` with zero rows up to ``size`` (frames [B,T,H,W,3], audio [B,S],
        mask [B,2]): each window's media are written straight into its rows, the one copy they make.
        """
        c = self.contract
        n = len(windows)
        b = max(n, size)
        frames = np.empty((b, c.frames_per_window, c.frame_height, c.frame_width, 3), np.uint8)
        audio = np.empty((b, c.samples_per_window), np.float32)
        mask = np.ones((b, 2), np.float32)
        for i, w in enumerate(windows):
            w.fill(frames[i], audio[i])
            mask[i] = w.modality_mask
        if b > n:  # padding rows: their outputs are dropped
            frames[n:] = 0
            audio[n:] = 0.0
        return ModelBatch(tuple(windows), frames, audio, mask)

    def prepare(self, windows: Sequence[AssembledWindow]) -> ModelBatch:
        """:meth:`stack` ``windows``, padded with zero rows to a prepared batch shape (accelerators)."""
        return self.stack(windows, self._padded_size(len(windows)))

    def infer(self, batch: ModelBatch) -> tuple[ModelOutput, float]:
        """Run the model on a prepared batch; returns its outputs and the inference time in seconds."""
        t0 = time.perf_counter()
        out = self.model.predict(batch.frames, batch.audio, batch.mask, owned=True)
        return out, time.perf_counter() - t0

    def records(self, batch: ModelBatch, out: ModelOutput, scored_ns: int) -> list[WindowScore]:
        """One :class:`WindowScore` per window of ``batch`` (padding rows dropped)."""
        windows = batch.windows
        n = len(windows)
        classes = self.contract.classes
        version = self.contract.model_version
        scores: list[WindowScore] = []
        # Python floats for the whole batch at once (exact, like float(x) per item)
        anomalies: list[float] = np.asarray(out.anomaly)[:n].astype(np.float64).tolist()
        contributions: list[list[float]] = np.asarray(out.contribution)[:n].astype(np.float64).tolist()
        probs: list[list[float]] = np.asarray(out.class_probs)[:n].astype(np.float64).tolist()
        for i, w in enumerate(windows):
            anomaly = anomalies[i]
            a, v = contributions[i]
            total = a + v
            contribution = {AUDIO: a / total, VIDEO: v / total} if total > 0 else {AUDIO: 0.5, VIDEO: 0.5}
            thumb = b""
            if anomaly >= self.thumbnail_threshold and VIDEO not in w.missing:
                # the camera's own JPEG of the middle frame when there is one: no encoding at all
                thumb = w.evidence_jpeg or thumbnail_jpeg(w.frames[len(w.frames) // 2])
            scores.append(
                WindowScore(
                    camera_id=w.camera_id,
                    session_id=w.session_id,
                    seq=w.index,
                    capture_ns=w.start_ns,
                    window_start_ns=w.start_ns,
                    window_end_ns=w.end_ns,
                    anomaly=anomaly,
                    class_probs=dict(zip(classes, probs[i], strict=True)),
                    contribution=contribution,
                    missing=w.missing,
                    model_version=version,
                    latency_s=max(0.0, (scored_ns - w.newest_capture_ns) / 1e9),
                    scored_ns=scored_ns,
                    num_frames=w.num_frames,
                    num_audio_samples=w.num_audio_samples,
                    flags=w.flags,
                    thumbnail_jpeg=thumb,
                )
            )
        return scores

    def score(self, windows: Sequence[AssembledWindow]) -> tuple[list[WindowScore], float]:
        """Score ``windows`` in one go (prepare, infer, records); returns the records and inference seconds."""
        batch = self.prepare(windows)
        out, took = self.infer(batch)
        return self.records(batch, out, time.time_ns()), took
