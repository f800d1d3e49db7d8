"""A tiny ONNX model with a valid ``vigil.contract``, built with onnx.helper, for fusion tests.

It honours the model contract (inputs frames uint8 [B,T,H,W,3], audio float32 [B,S],
modality_mask float32 [B,2]; outputs anomaly [B], class_probs [B,C], contribution [B,2]) with
simple arithmetic, so fusion tests are fast and independent of the trained model:
anomaly = 0.5 * mask_v * mean(frames)/255 + 0.5 * mask_a * mean(|audio|).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from models.contract import CONTRACT_KEY, ModelContract

STUB_CLASSES = ("normal", "fight", "scream", "gunshot", "glass_break", "explosion")


def stub_contract(
    *,
    fps: int = 4,
    size: int = 16,
    sample_rate: int = 800,
    window_s: float = 2.0,
    hop_s: float = 1.0,
    model_version: str = "stub-1",
) -> ModelContract:
    """A contract with small frames and a low sample rate (fast tests)."""
    return ModelContract(
        model_version=model_version,
        window_s=window_s,
        hop_s=hop_s,
        fps=fps,
        frame_height=size,
        frame_width=size,
        sample_rate=sample_rate,
        classes=STUB_CLASSES,
    )


def build_stub_model(
    path: Path, contract: ModelContract | None = None, *, with_contract: bool = True
) -> Path:
    """Write the stub model to ``path`` and return it."""
    c = contract or stub_contract()
    t, h, w, s = c.frames_per_window, c.frame_height, c.frame_width, c.samples_per_window
    n_classes = len(c.classes)
    inputs = [
        helper.make_tensor_value_info("frames", TensorProto.UINT8, ["B", t, h, w, 3]),
        helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["B", s]),
        helper.make_tensor_value_info("modality_mask", TensorProto.FLOAT, ["B", 2]),
    ]
    outputs = [
        helper.make_tensor_value_info("anomaly", TensorProto.FLOAT, ["B"]),
        helper.make_tensor_value_info("class_probs", TensorProto.FLOAT, ["B", n_classes]),
        helper.make_tensor_value_info("contribution", TensorProto.FLOAT, ["B", 2]),
    ]
    weights = np.linspace(-1.0, 2.0, n_classes, dtype=np.float32).reshape(1, n_classes)
    init = [
        numpy_helper.from_array(np.array(1 / 255.0, np.float32), "inv255"),
        numpy_helper.from_array(np.array(0.5, np.float32), "half"),
        numpy_helper.from_array(np.array(1e-6, np.float32), "eps"),
        numpy_helper.from_array(weights, "class_w"),
        numpy_helper.from_array(np.array([0], np.int64), "idx_a"),
        numpy_helper.from_array(np.array([1], np.int64), "idx_v"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
    ]
    nodes = [
        helper.make_node("Cast", ["frames"], ["frames_f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["frames_f"], ["fmean"], axes=[1, 2, 3, 4], keepdims=0),
        helper.make_node("Mul", ["fmean", "inv255"], ["fnorm"]),
        helper.make_node("Abs", ["audio"], ["aabs"]),
        helper.make_node("ReduceMean", ["aabs"], ["amean"], axes=[1], keepdims=0),
        helper.make_node("Gather", ["modality_mask", "idx_a"], ["mask_a2"], axis=1),
        helper.make_node("Gather", ["modality_mask", "idx_v"], ["mask_v2"], axis=1),
        helper.make_node("Squeeze", ["mask_a2", "axis1"], ["mask_a"]),
        helper.make_node("Squeeze", ["mask_v2", "axis1"], ["mask_v"]),
        helper.make_node("Mul", ["fnorm", "mask_v"], ["v_part0"]),
        helper.make_node("Mul", ["amean", "mask_a"], ["a_part0"]),
        helper.make_node("Mul", ["v_part0", "half"], ["v_part"]),
        helper.make_node("Mul", ["a_part0", "half"], ["a_part"]),
        helper.make_node("Add", ["v_part", "a_part"], ["anomaly"]),
        helper.make_node("Unsqueeze", ["anomaly", "axis1"], ["anomaly2"]),
        helper.make_node("MatMul", ["anomaly2", "class_w"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["class_probs"], axis=1),
        helper.make_node("ReduceSum", ["modality_mask", "axis1"], ["mask_sum"], keepdims=1),
        helper.make_node("Add", ["mask_sum", "eps"], ["mask_sum_eps"]),
        helper.make_node("Div", ["modality_mask", "mask_sum_eps"], ["contribution"]),
    ]
    graph = helper.make_graph(nodes, "vigil_stub", inputs, outputs, init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="vigil-tests")
    model.ir_version = 8
    if with_contract:
        helper.set_model_props(model, {CONTRACT_KEY: c.to_json()})
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


# -- generated media records ------------------------------------------------------------------
NS = 1_000_000_000
CHUNK_S = 0.25


@dataclass(frozen=True)
class Media:
    """One generated media record: ``kind`` "video" or "audio", its key and wire bytes."""

    kind: str
    key: bytes
    value: bytes
    capture_ns: int


def audio_signal(first: int, n: int) -> np.ndarray:
    """Global sample ``i`` is a sawtooth (i % 1000) / 1000 quantised like s16le: exact after decode."""
    idx = np.arange(first, first + n)
    raw = ((idx % 1000) / 1000.0).astype(np.float32)
    return ((np.clip(raw, -1, 1) * 32767.0).round().astype(np.int16).astype(np.float32)) / np.float32(32767.0)


def media_records(
    camera: str,
    session: str,
    t0_ns: int,
    seconds: float,
    contract: ModelContract,
    *,
    audio: bool = True,
    audio_until_ns: int | None = None,
    codec: str = "rgb24",
) -> list[Media]:
    """Frames at the contract fps (pixel value = frame index % 256) and 0.25 s audio chunks, by time."""
    from streaming.contracts import AudioChunk, VideoFrame, encode

    out: list[Media] = []
    fps, rate, h, w = contract.fps, contract.sample_rate, contract.frame_height, contract.frame_width
    chunk = int(rate * CHUNK_S)
    n_frames = int(seconds * fps)
    chunks_per_frame = 1 / (fps * CHUNK_S)
    key = camera.encode()
    for i in range(n_frames):
        t = t0_ns + i * NS // fps
        rgb = np.full((h, w, 3), i % 256, dtype=np.uint8)
        frame = VideoFrame.from_rgb(
            rgb,
            camera_id=camera,
            session_id=session,
            seq=i,
            capture_ns=t,
            camera_has_audio=audio,
            codec=codec,
        )
        out.append(Media("video", key, encode(frame), t))
        if not audio:
            continue
        j0, j1 = int(i * chunks_per_frame), int((i + 1) * chunks_per_frame)
        for j in range(j0, j1):
            ta = t0_ns + j * chunk * NS // rate
            if audio_until_ns is not None and ta >= audio_until_ns:
                continue
            samples = audio_signal(j * chunk, chunk)
            rec = AudioChunk.from_float32(
                samples, camera_id=camera, session_id=session, seq=j, capture_ns=ta, sample_rate=rate
            )
            out.append(Media("audio", key, encode(rec), ta))
    return out


def expected_anomaly(start_ns: int, t0_ns: int, contract: ModelContract, *, audio: bool = True) -> float:
    """What the stub model says about the complete window starting at ``start_ns``."""
    fps, rate = contract.fps, contract.sample_rate
    t = contract.frames_per_window
    slot = int(contract.window_s * NS) // t
    frames = []
    for j in range(t):
        lo = start_ns + j * slot
        i = -((t0_ns - lo) // (NS // fps))  # first frame at or after the slot start
        frames.append(i % 256)
    video = float(np.mean(frames)) / 255.0
    if not audio:
        return 0.5 * video
    first = (start_ns - t0_ns) * rate // NS
    return 0.5 * video + 0.5 * float(np.mean(np.abs(audio_signal(first, contract.samples_per_window))))
