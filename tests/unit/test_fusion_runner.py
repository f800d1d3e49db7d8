"""WindowScorer: scores from the model, padding to prepared batch shapes on accelerators, thumbnails."""

from __future__ import annotations

import numpy as np
import pytest

from models.runtime import FusionModel
from services.fusion.runner import WindowScorer, batch_buckets
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
