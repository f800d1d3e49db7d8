"""The optional frozen picture encoder (`vigil train --picture-encoder`, models/backbone.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from models.backbone import LITE0_BLOCKS, EfficientNetLite0Trunk, pretrained_weights_path  # noqa: E402
from models.net import FusionEnsemble, FusionNet  # noqa: E402
from models.trainer import Features, attach_pictures, load_init, predict_features  # noqa: E402


def _inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    frames = torch.randint(0, 256, (3, 8, 112, 112, 3), generator=g, dtype=torch.uint8)
    audio = 0.1 * torch.randn(3, 32000, generator=g)
    return frames, audio, torch.ones(3, 2)


@pytest.fixture(scope="module")
def weights() -> Path:
    return pretrained_weights_path()


def test_the_trunk_takes_every_pretrained_tensor_of_its_blocks(weights: Path) -> None:
    trunk = EfficientNetLite0Trunk(len(LITE0_BLOCKS) - 1).load_pretrained(weights)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    for name, value in trunk.state_dict().items():
        assert torch.equal(value, state[name]), name
    # what it does not take is the ImageNet classifier
    assert {k.split(".")[0] for k in set(state) - set(trunk.state_dict())} == {"_conv_head", "_bn1", "_fc"}


def test_the_trunk_stays_frozen_inside_a_training_network(weights: Path) -> None:
    net = FusionNet(picture_encoder=True)
    assert net.picture is not None
    net.picture.trunk.load_pretrained(weights)
    net.train()
    assert not net.picture.trunk.training
    assert not any(m.training for m in net.picture.trunk.modules())
    assert not any(p.requires_grad for p in net.picture.trunk.parameters())
    before = {k: v.clone() for k, v in net.picture.trunk.state_dict().items()}
    frames, audio, mask = _inputs()
    net.forward_features(net.pool_frames(frames), net.logmel(audio), mask, explain=False)[3].sum().backward()
    # BatchNorm statistics did not move in training mode, and no gradient reached the trunk
    for k, v in net.picture.trunk.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in net.picture.trunk.parameters())
    assert net.picture.proj.weight.grad is not None


def test_a_network_gaining_the_encoder_starts_where_the_plain_one_was(weights: Path) -> None:
    plain = FusionNet().eval()
    net = FusionNet(picture_encoder=True)
    assert net.picture is not None
    net.picture.trunk.load_pretrained(weights)
    load_init(net, plain.state_dict())
    net.eval()
    with torch.no_grad():
        for a, b in zip(plain(*_inputs()), net(*_inputs()), strict=True):
            assert torch.equal(a, b)
    # the pretrained trunk was kept, not replaced by the start's (absent) weights
    state = torch.load(weights, map_location="cpu", weights_only=True)
    assert torch.equal(net.picture.trunk._conv_stem.weight, state["_conv_stem.weight"])


def test_a_start_that_does_not_fit_is_refused() -> None:
    net = FusionNet(picture_encoder=True)
    state = FusionNet().state_dict()
    del state["head.0.weight"]
    with pytest.raises(ValueError, match="do not fit"):
        load_init(net, state)
    with pytest.raises(RuntimeError):  # a plain network cannot take an encoder's weights
        load_init(FusionNet(), FusionNet(picture_encoder=True).state_dict())


def test_cached_picture_features_give_what_the_graph_computes(tmp_path: Path, weights: Path) -> None:
    net = FusionNet(picture_encoder=True)
    assert net.picture is not None
    net.picture.trunk.load_pretrained(weights)
    torch.nn.init.normal_(net.picture.proj.weight, std=0.05)  # a trained projection, not zeros
    frames, audio, _ = _inputs(1)
    video = (net.pool_frames(frames) * 255.0).round().to(torch.uint8).numpy()
    mel = net.logmel(audio).detach().numpy()
    labels = np.zeros((3, 6), np.float32)
    labels[:, 0] = 1.0
    sets = {"x": Features(video, mel, labels, ("a", "b", "c"))}
    attach_pictures(net, sets, tmp_path, log=lambda *_: None)
    assert sets["x"].pictures is not None and sets["x"].pictures.shape == (3, 8, 224)
    cached = predict_features(net, sets["x"], (1.0, 1.0))
    sets["x"].pictures = None  # now computed inside the graph from the frames
    computed = predict_features(net, sets["x"], (1.0, 1.0))
    np.testing.assert_allclose(cached[0], computed[0], atol=2e-3)
    # a second run reads the cache instead of computing it again
    assert len(list(tmp_path.glob("pictures-x-n3-*.npy"))) == 1
    attach_pictures(net, sets, tmp_path, log=lambda *_: None)
    assert sets["x"].pictures is not None


def test_the_kind_of_network_is_read_from_its_weights_and_exports(tmp_path: Path, weights: Path) -> None:
    from models.contract import ModelContract
    from models.export import export_onnx, max_abs_diff_vs_torch

    net = FusionNet(picture_encoder=True)
    assert net.picture is not None
    net.picture.trunk.load_pretrained(weights)
    torch.nn.init.normal_(net.picture.proj.weight, std=0.05)
    again = FusionNet.for_state(net.state_dict())
    assert again.picture is not None
    assert FusionNet.for_state(FusionNet().state_dict()).picture is None
    again.load_state_dict(net.state_dict())
    other = FusionNet(picture_encoder=True)
    assert other.picture is not None
    other.picture.trunk.load_pretrained(weights)
    torch.nn.init.normal_(other.picture.proj.weight, std=0.05)
    members = [again.eval(), other.eval(), FusionNet().eval()]
    model = FusionEnsemble(members)
    # the ensemble computes the trunk once and gives each member what its own trunk would
    with torch.no_grad():
        together = model(*_inputs(2))
        apart = [m(*_inputs(2)) for m in members]
    for k in range(3):
        expected = torch.stack([a[k] for a in apart]).mean(0)
        torch.testing.assert_close(together[k], expected, atol=1e-5, rtol=0)
    out = export_onnx(model, tmp_path / "m.onnx", ModelContract(model_version="test"))
    assert max_abs_diff_vs_torch(model, out)["anomaly"] <= 1e-4
    import onnx

    stems = [i for i in onnx.load(str(out)).graph.initializer if tuple(i.dims) == (32, 3, 3, 3)]
    assert len(stems) == 1  # one trunk in the file, not one per member


def test_members_with_other_trunk_weights_are_refused(weights: Path) -> None:
    a, b = FusionNet(picture_encoder=True), FusionNet(picture_encoder=True)
    assert a.picture is not None
    a.picture.trunk.load_pretrained(weights)
    with pytest.raises(ValueError, match="different trunk weights"):
        FusionEnsemble([a, b])


def test_a_plain_run_fine_tuned_with_the_encoder_trains_and_exports(tmp_path: Path) -> None:
    from models import cli_export
    from models.trainer import train
    from tests.tiny_training import tiny_config

    train(tiny_config(tmp_path / "plain"), log=lambda *_: None)
    lines: list[str] = []
    train(
        tiny_config(tmp_path / "pic", init_from=str(tmp_path / "plain"), picture_encoder=True),
        log=lines.append,
    )
    assert any("picture encoder: EfficientNet-Lite0" in line for line in lines)
    # the synthetic train set's features were cached on their own, for runs with other seeds
    cached = sorted(p.name.split("-")[1] for p in (tmp_path / "pic").glob("pictures-*.npy"))
    assert cached == ["ambiguous", "heldout", "train"]
    state = torch.load(tmp_path / "pic" / "model.pt", weights_only=False)["model"]
    assert float(state["picture.proj.weight"].abs().sum()) > 0.0  # it learned from zero
    import argparse

    parser = argparse.ArgumentParser()
    cli_export.add_arguments(parser)
    args = parser.parse_args(
        ["--run", str(tmp_path / "pic"), str(tmp_path / "plain"), "--out", str(tmp_path / "m.onnx")]
    )
    assert cli_export.run(args) == 0
