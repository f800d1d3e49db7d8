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


def test_an_ensemble_exports_as_the_mean_of_its_members(tmp_path) -> None:
    from models.contract import ModelContract
    from models.export import export_onnx, max_abs_diff_vs_torch
    from models.net import FusionEnsemble, FusionNet
    from models.runtime import FusionModel

    members = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        members.append(FusionNet().eval())
    ensemble = FusionEnsemble(members).eval()
    path = export_onnx(ensemble, tmp_path / "e.onnx", ModelContract(model_version="test"))
    diffs = max_abs_diff_vs_torch(ensemble, path, batch=3)
    assert max(diffs.values()) <= 1e-4, diffs

    rng = np.random.default_rng(5)
    frames = rng.integers(0, 256, (3, 8, 112, 112, 3), dtype=np.uint8)
    audio = (0.1 * rng.standard_normal((3, 32000))).astype(np.float32)
    mask = np.asarray([[1, 1], [1, 0], [0, 1]], np.float32)
    with torch.no_grad():
        each = [m(torch.from_numpy(frames), torch.from_numpy(audio), torch.from_numpy(mask)) for m in members]
    out = FusionModel(path, providers=["CPUExecutionProvider"]).predict(frames, audio, mask)
    for got, k in ((out.anomaly, 0), (out.class_probs, 1), (out.contribution, 2)):
        want = (each[0][k].numpy() + each[1][k].numpy()) / 2
        np.testing.assert_allclose(got, want, atol=1e-5)
    assert out.contribution[1, 1] == pytest.approx(0.0) and out.contribution[2, 0] == pytest.approx(0.0)
    # one front end, named as a single network's (bench_model counts it as fixed, not learned)
    import onnx

    names = {i.name for i in onnx.load(str(path)).graph.initializer}
    assert {"logmel.dft", "logmel.mel"} <= names
    assert not any(".logmel." in n for n in names)


def test_an_ensemble_refuses_members_with_other_front_ends() -> None:
    from models.net import FusionEnsemble, FusionNet

    with pytest.raises(ValueError, match="member 1 has another log-mel front end"):
        FusionEnsemble([FusionNet(), FusionNet(n_mels=48)])
    with pytest.raises(ValueError, match="at least one member"):
        FusionEnsemble([])


def _fake_run(path, seed: int, windows: int = 24) -> None:
    """A run directory as `vigil train` leaves it: model.pt with its config, cached held-out windows."""
    from dataclasses import asdict

    from models.net import FusionNet
    from models.synth.windows import AMBIGUOUS_MIX, TRAIN_MIX, make_dataset
    from models.train_config import TrainConfig
    from models.trainer import _cache_path, _cached, _stem, featurize

    cfg = TrainConfig(out=str(path), seed=seed, heldout_windows=windows, ambiguous_windows=windows)
    torch.manual_seed(seed)
    net = FusionNet().eval()
    path.mkdir()
    torch.save({"model": net.state_dict(), "config": asdict(cfg)}, path / "model.pt")
    for name, n, s, mix in (
        ("heldout", cfg.heldout_windows, cfg.heldout_seed, TRAIN_MIX),
        ("ambiguous", cfg.ambiguous_windows, cfg.ambiguous_seed, AMBIGUOUS_MIX),
    ):
        cache = _cache_path(path, _stem(name, s, n), need_teacher=False)
        _cached(cache, lambda n=n, s=s, mix=mix: featurize(make_dataset(n, s, mix), net))


def test_vigil_export_of_several_runs_writes_a_measured_ensemble(tmp_path, capsys) -> None:
    import argparse

    from models import cli_export
    from models.contract import load_model_contract

    runs = [tmp_path / "a", tmp_path / "b"]
    for seed, run in enumerate(runs):
        _fake_run(run, seed)
    parser = argparse.ArgumentParser()
    cli_export.add_arguments(parser)
    out = tmp_path / "e.onnx"
    args = parser.parse_args(["--run", *map(str, runs), "--out", str(out), "--model-version", "9.9.9"])
    assert cli_export.run(args) == 0
    training = load_model_contract(out).training
    assert training["ensemble_of"] == ["a", "b"]
    assert [m["run"] for m in training["members"]] == ["a", "b"]
    # the ensemble's own numbers, measured on the first run's cached windows
    assert 0.0 <= training["metrics"]["anomaly_ap"] <= 1.0
    assert training["metrics"]["heldout_windows"] == 24
    assert "measuring the ensemble of 2" in capsys.readouterr().out

    # without the first run's cached windows it says so, and writes nothing
    for cache in runs[0].glob("data-*.npz"):
        cache.unlink()
    args = parser.parse_args(["--run", *map(str, runs), "--out", str(tmp_path / "f.onnx")])
    assert cli_export.run(args) == 2
    assert "cached heldout windows are gone" in capsys.readouterr().out
    assert not (tmp_path / "f.onnx").exists()
