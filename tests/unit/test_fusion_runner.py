"""WindowScorer: scores from the model, padding to prepared batch shapes on accelerators, thumbnails."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

from models.runtime import FusionModel
from services.fusion.runner import (
    MAX_CPU_WORKERS,
    WindowScorer,
    batch_buckets,
    inference_workers,
    usable_cpus,
)
from streaming.windowing import AssembledWindow
from tests.fusion_stub_model import build_stub_model, stub_contract

CONTRACT = stub_contract()


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> FusionModel:
    path = build_stub_model(tmp_path_factory.mktemp("m") / "stub.onnx", CONTRACT)
    return FusionModel(path, providers=["CPUExecutionProvider"])


def window(value: int, missing: tuple[str, ...] = ()) -> AssembledWindow:
    t, s = CONTRACT.frames_per_window, CONTRACT.samples_per_window
    h, w = CONTRACT.frame_height, CONTRACT.frame_width
    return AssembledWindow.of_arrays(
        np.full((t, h, w, 3), value, np.uint8),
        np.full(s, 0.5, np.float32),
        camera_id="cam",
        session_id="s",
        index=10,
        start_ns=10_000_000_000,
        end_ns=12_000_000_000,
        missing=missing,
        flags=(),
        num_frames=t,
        num_audio_samples=s,
        newest_capture_ns=11_900_000_000,
        closed_by="complete",
    )


@pytest.mark.parametrize(
    ("max_batch", "providers", "expected"),
    [
        (16, ["CPUExecutionProvider"], ()),
        (16, ["CUDAExecutionProvider", "CPUExecutionProvider"], (1, 2, 4, 8, 16)),
        (12, ["TensorrtExecutionProvider"], (1, 2, 4, 8, 12)),
    ],
)
def test_batch_buckets(max_batch: int, providers: list[str], expected: tuple[int, ...]) -> None:
    assert batch_buckets(max_batch, providers) == expected


@pytest.mark.parametrize("buckets", [(), (1, 2, 4, 8)])
def test_scores_with_and_without_padding(model: FusionModel, buckets: tuple[int, ...]) -> None:
    scorer = WindowScorer(model, thumbnail_threshold=0.4, buckets=buckets)
    scorer.warm_up([1])
    windows = [window(255), window(0), window(255, missing=("audio",))]
    scores, took = scorer.score(windows)
    assert len(scores) == 3 and took >= 0
    assert [round(s.anomaly, 4) for s in scores] == [0.75, 0.25, 0.5]
    assert scores[2].contribution == {"audio": 0.0, "video": 1.0}
    assert scores[0].thumbnail_jpeg.startswith(b"\xff\xd8") and scores[1].thumbnail_jpeg == b""
    assert scores[0].seq == 10 and scores[0].window_id == "cam/s/10000000000"
    assert scores[0].class_probs.keys() == set(CONTRACT.classes)


def test_usable_cpus_follows_the_cgroup_quota(tmp_path: Path) -> None:
    cores = len(os.sched_getaffinity(0))
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("max 100000\n")
    assert usable_cpus(cpu_max) == cores
    cpu_max.write_text("150000 100000\n")  # a pod limited to 1.5 CPUs
    assert usable_cpus(cpu_max) == min(cores, 2)
    cpu_max.write_text("50000 100000\n")
    assert usable_cpus(cpu_max) == 1
    assert usable_cpus(tmp_path / "absent") == cores


def test_inference_workers() -> None:
    assert inference_workers(3, ["CUDAExecutionProvider", "CPUExecutionProvider"]) == 3
    assert inference_workers(0, ["CUDAExecutionProvider", "CPUExecutionProvider"]) == 1
    assert inference_workers(0, ["CPUExecutionProvider"]) == min(MAX_CPU_WORKERS, usable_cpus())


def test_stack_writes_windows_into_rows_and_pads_with_zeros(model: FusionModel) -> None:
    scorer = WindowScorer(model, thumbnail_threshold=0.4)
    windows = [window(9), window(200, missing=("audio",))]
    batch = scorer.stack(windows, 4)
    assert batch.frames.shape[0] == batch.audio.shape[0] == batch.mask.shape[0] == 4
    np.testing.assert_array_equal(batch.frames[:2], np.stack([w.frames for w in windows]))
    np.testing.assert_array_equal(batch.audio[:2], np.stack([w.audio for w in windows]))
    assert batch.mask.tolist() == [[1.0, 1.0], [0.0, 1.0], [1.0, 1.0], [1.0, 1.0]]
    assert not batch.frames[2:].any() and not batch.audio[2:].any()
    assert batch.windows == tuple(windows)


def test_thumbnail_is_the_cameras_own_jpeg_when_the_window_has_one(model: FusionModel) -> None:
    scorer = WindowScorer(model, thumbnail_threshold=0.4)
    base = window(255)
    camera_jpeg = b"\xff\xd8 the middle frame as ingest encoded it"
    with_evidence = dataclasses.replace(base, evidence_jpeg=camera_jpeg)
    scores, _ = scorer.score([with_evidence, base])
    assert scores[0].thumbnail_jpeg == camera_jpeg  # no decoding or re-encoding
    assert scores[1].thumbnail_jpeg.startswith(b"\xff\xd8") and scores[1].thumbnail_jpeg != camera_jpeg
