"""PyTorch model -> ONNX: same numbers in ONNX Runtime (CPU), contract metadata, dynamic batch."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")


def test_onnx_runtime_matches_pytorch(tmp_path) -> None:
    from models.contract import ModelContract, load_model_contract
    from models.export import export_onnx, max_abs_diff_vs_torch
    from models.net import FusionNet
    from models.runtime import FusionModel

    torch.manual_seed(0)
    model = FusionNet().eval()
    path = export_onnx(model, tmp_path / "m.onnx", ModelContract(model_version="test"))
    diffs = max_abs_diff_vs_torch(model, path, batch=3)
    assert diffs["anomaly"] <= 1e-4, diffs
    assert diffs["class_probs"] <= 1e-4 and diffs["contribution"] <= 1e-4, diffs
    assert load_model_contract(path).model_version == "test"
    fm = FusionModel(path, providers=["CPUExecutionProvider"])
    for b in (1, 5):  # dynamic batch
        out = fm.predict(np.zeros((b, 8, 112, 112, 3), np.uint8), np.zeros((b, 32000), np.float32))
        assert (
            out.anomaly.shape == (b,) and out.class_probs.shape == (b, 6) and out.contribution.shape == (b, 2)
        )
        np.testing.assert_allclose(out.contribution.sum(axis=1), 1.0, atol=1e-5)


def test_log_mel_front_end_matches_a_numpy_stft() -> None:
    from models.net import LogMel

    lm = LogMel()
    x = np.random.default_rng(0).standard_normal(32000).astype(np.float32)
    with torch.no_grad():
        ours = lm(torch.from_numpy(x)[None]).numpy()[0]
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(512) / 512)
    frames = np.stack([x[i : i + 512] * win for i in range(0, 32000 - 512 + 1, 320)])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    ref = np.log(lm.mel.numpy() @ power.T + 1e-6)
    np.testing.assert_allclose(ours, ref, atol=1e-3)
