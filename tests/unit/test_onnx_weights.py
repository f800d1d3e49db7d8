"""`vigil train --init-from MODEL.onnx --init-member K`: the shipped model's networks back as
trainable PyTorch networks (models/onnx_weights.py)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from models.net import FusionEnsemble, FusionNet
from models.onnx_weights import (
    fit_heads,
    member_state,
    member_states,
    network_from_file,
    pooled_tokens,
    renormalise,
)
from models.runtime import DEFAULT_MODEL_PATH
from models.trainer import train
from tests.tiny_training import tiny_config


def _inputs(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (n, 8, 112, 112, 3), dtype=np.uint8)
    audio = (rng.standard_normal((n, 32000)) * 0.1).astype(np.float32)
    mask = np.ones((n, 2), np.float32)
    mask[1 % n, 1] = 0.0  # one window without video, one without audio
    mask[2 % n, 0] = 0.0
    return frames, audio, mask


def _outputs(model: torch.nn.Module, x: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    with torch.no_grad():
        return [t.numpy() for t in model(*(torch.from_numpy(a) for a in x))]


def test_the_default_models_networks_compute_what_the_file_computes() -> None:
    states = member_states(DEFAULT_MODEL_PATH)
    assert len(states) == 3
    nets = [network_from_file(DEFAULT_MODEL_PATH, k).eval() for k in range(3)]
    x = _inputs(3)
    session = ort.InferenceSession(str(DEFAULT_MODEL_PATH), providers=["CPUExecutionProvider"])
    want = session.run(None, dict(zip(("frames", "audio", "modality_mask"), x, strict=True)))
    got = _outputs(FusionEnsemble(nets).eval(), x)
    for w, g in zip(want, got, strict=True):
        np.testing.assert_allclose(g, w, atol=1e-5)
    # the three networks are different networks, not one read three times
    assert not np.allclose(_outputs(nets[0], x)[0], _outputs(nets[1], x)[0])


def test_a_single_exported_network_comes_back_too(tmp_path: Path) -> None:
    from models.contract import ModelContract
    from models.export import export_onnx

    torch.manual_seed(3)
    net = FusionNet().eval()
    with torch.no_grad():  # a trained network's weights: no two tensors alike (the exporter
        for p in net.parameters():  # stores equal tensors once, e.g. fresh LayerNorms)
            p.add_(torch.randn_like(p) * 0.01)
    for bn in (m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        # statistics far from the identity, so that a wrong fold would show
        bn.running_mean.uniform_(-0.5, 0.5)  # type: ignore[union-attr]
        bn.running_var.uniform_(0.5, 2.0)  # type: ignore[union-attr]
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.2, 0.2)
    path = export_onnx(net, tmp_path / "one.onnx", ModelContract(model_version="0.0.1"))
    back = network_from_file(path).eval()
    x = _inputs(3, seed=1)
    for w, g in zip(_outputs(net, x), _outputs(back, x), strict=True):
        np.testing.assert_allclose(g, w, atol=1e-5)
    with pytest.raises(ValueError, match="holds 1 network"):
        member_state(path, 1)


def test_renormalising_keeps_the_output_and_brings_training_mode_close_to_it() -> None:
    net = network_from_file(DEFAULT_MODEL_PATH, 0)
    frames, audio, _ = _inputs(16, seed=2)
    video = FusionNet.pool_frames(torch.from_numpy(frames))
    mel = net.logmel(torch.from_numpy(audio))
    m = torch.ones((16, 2))

    def anomaly(train_mode: bool) -> torch.Tensor:
        probe = copy.deepcopy(net)  # training mode moves the running statistics: not net's
        probe.train(train_mode)
        probe.audio.norm.eval()  # the input's norm keeps the file's statistics: not renormalised
        with torch.no_grad():
            out = probe.forward_features(video, mel, m, explain=False)
        return out[3]  # logits

    before_eval, before_train = anomaly(False), anomaly(True)
    renormalise(net, lambda: iter([(video, mel)]))
    after_eval, after_train = anomaly(False), anomaly(True)
    torch.testing.assert_close(after_eval, before_eval, atol=1e-4, rtol=1e-4)
    # on the batch whose statistics they now hold, training mode computes what eval mode does
    torch.testing.assert_close(after_train, after_eval, atol=1e-3, rtol=1e-3)
    assert float((before_train - before_eval).abs().max()) > 0.1  # and it did not before


def test_the_training_only_heads_are_fitted_on_the_frozen_tokens() -> None:
    net = network_from_file(DEFAULT_MODEL_PATH, 1)
    frames, audio, _ = _inputs(32, seed=4)
    video = FusionNet.pool_frames(torch.from_numpy(frames))
    mel = net.logmel(torch.from_numpy(audio))
    pa, pv = pooled_tokens(net, video, mel)
    assert pa.shape == pv.shape == (32, 128)
    targets = torch.zeros((32, 7))
    targets[:16, 1] = 1.0  # half ordinary...
    targets[16:, 0] = 1.0  # ...half anomalous
    targets[16:, 4] = 1.0  # gunshots
    teacher = torch.randn(32, 512)
    teacher[:4] = float("nan")  # rows without a teacher embedding do not count
    before = torch.nn.functional.binary_cross_entropy_with_logits(net.aux_a(pa), targets).item()
    weights = {k: v.clone() for k, v in net.state_dict().items() if not k.startswith(("aux_", "distill"))}
    losses = fit_heads(net, pa, pv, targets, teacher, steps=200)
    assert losses["aux_a"] < before
    assert set(losses) == {"aux_a", "aux_v", "distill"}
    # nothing but the heads moved
    after = net.state_dict()
    assert all(torch.equal(after[k], v) for k, v in weights.items())


def test_a_run_starts_from_a_network_of_the_default_model(tmp_path: Path) -> None:
    lines: list[str] = []
    cfg = tiny_config(tmp_path / "ft", init_from=str(DEFAULT_MODEL_PATH), init_member=2, lr=1e-12)
    train(cfg, log=lines.append)
    assert any("starting from network 2 of" in line for line in lines)
    assert any("heads fitted (aux_a" in line for line in lines)
    start = member_state(DEFAULT_MODEL_PATH, 2)
    tuned = torch.load(tmp_path / "ft" / "model.pt", weights_only=False)["model"]
    # with a learning rate of 1e-12 the file's weights are where the run ended (the CNNs'
    # BatchNorms were re-expressed and running statistics follow the data: they are left out)
    kept = [k for k in start if (".cnn." not in k or k.endswith(".0.weight")) and "running" not in k]
    assert len(kept) > 50
    assert all(torch.allclose(start[k], tuned[k], atol=1e-6) for k in kept if "num_batches" not in k)


def test_bad_starts_are_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="holds 3 network"):
        train(
            tiny_config(tmp_path / "a", init_from=str(DEFAULT_MODEL_PATH), init_member=3), log=lambda *_: None
        )
    with pytest.raises(FileNotFoundError, match="no model file"):
        train(tiny_config(tmp_path / "b", init_from=str(tmp_path / "none.onnx")), log=lambda *_: None)
    other = onnx.helper.make_model(
        onnx.helper.make_graph(
            [onnx.helper.make_node("Identity", ["x"], ["y"])],
            "other",
            [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
            [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
        )
    )
    onnx.save(other, str(tmp_path / "other.onnx"))
    with pytest.raises(ValueError, match="not a Vigil fusion model"):
        member_states(tmp_path / "other.onnx")
    assert not (tmp_path / "a").exists()
