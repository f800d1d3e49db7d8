"""The audio branch's optional relative-mel channel (`vigil train --relative-mel`)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from models.net import FusionNet  # noqa: E402
from models.trainer import load_init  # noqa: E402


def _inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    frames = torch.randint(0, 256, (4, 8, 112, 112, 3), generator=g, dtype=torch.uint8)
    return frames, 0.1 * torch.randn(4, 32000, generator=g), torch.ones(4, 2)


def test_a_network_gaining_the_channel_starts_where_the_plain_one_was() -> None:
    plain = FusionNet()
    with torch.no_grad():  # statistics and weights a trained network would have, not the defaults
        plain.audio.norm.running_mean.fill_(-6.0)
        plain.audio.norm.running_var.fill_(9.0)
        plain.audio.norm.weight.fill_(1.5)
    plain.eval()
    net = FusionNet(relative_mel=True)
    load_init(net, plain.state_dict())
    net.eval()
    with torch.no_grad():
        for a, b in zip(plain(*_inputs()), net(*_inputs()), strict=True):
            assert torch.equal(a, b)
    assert float(net.audio.cnn[0][0].weight[:, 1].abs().sum()) == 0.0


def test_the_relative_channel_ignores_a_steady_colour_the_plain_one_hears() -> None:
    net = FusionNet(relative_mel=True).audio
    captured: list[torch.Tensor] = []
    net.norm.register_forward_hook(lambda _m, inp, _o: captured.append(inp[0]))
    mel = torch.randn(2, 64, 99)
    colour = torch.linspace(-3.0, 3.0, 64).reshape(1, 64, 1)  # a microphone's tilt, the same all along
    net(mel)
    net(mel + colour)
    plain, rel = captured[0], captured[1]
    assert torch.allclose(plain[:, 1], rel[:, 1], atol=1e-5)
    assert not torch.allclose(plain[:, 0], rel[:, 0])


def test_the_kind_is_read_from_the_weights() -> None:
    assert FusionNet.for_state(FusionNet(relative_mel=True).state_dict()).audio.relative
    assert not FusionNet.for_state(FusionNet().state_dict()).audio.relative
