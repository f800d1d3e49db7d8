"""`vigil train --ema-decay`: the moving average of the weights is what is evaluated and saved."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.train_config import TrainConfig
from models.trainer import train
from tests.tiny_training import tiny_config


def tiny(out: Path, ema_decay: float) -> TrainConfig:
    return tiny_config(out, ema_decay=ema_decay)


def test_the_saved_model_is_the_moving_average(tmp_path: Path) -> None:
    train(tiny(tmp_path, 0.5), log=lambda *_: None)
    checkpoint = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    saved = torch.load(tmp_path / "model.pt", weights_only=False)["model"]
    average = {k.removeprefix("module."): v for k, v in checkpoint["ema"].items() if k != "n_averaged"}
    assert saved.keys() == checkpoint["model"].keys() == average.keys()
    assert all(torch.equal(saved[k], average[k]) for k in saved)
    # the average lags the last step's weights: they differ (BatchNorm statistics included)
    assert any(
        not torch.equal(saved[k], checkpoint["model"][k]) for k in saved if saved[k].is_floating_point()
    )
    assert int(checkpoint["ema"]["n_averaged"]) == 3  # one update per step: 48 windows / 16


def test_without_it_the_last_weights_are_saved(tmp_path: Path) -> None:
    train(tiny(tmp_path, 0.0), log=lambda *_: None)
    checkpoint = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    saved = torch.load(tmp_path / "model.pt", weights_only=False)["model"]
    assert "ema" not in checkpoint
    assert all(torch.equal(saved[k], checkpoint["model"][k]) for k in saved)


def test_a_decay_outside_0_1_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ema_decay"):
        train(tiny(tmp_path, 1.0), log=lambda *_: None)
