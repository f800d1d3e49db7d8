"""`vigil train --hard-negative-weight`, `--everyday-weight` and `--init-from`: weighted windows, the
everyday-sound head, fine-tuning a finished run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.train_config import TrainConfig
from models.trainer import loss_fn, train, window_weights
from tests.tiny_training import tiny_config


def test_only_ordinary_windows_with_an_everyday_event_are_weighted() -> None:
    scenarios = (
        "real_negative:door",
        "real_negative:siren+speech",
        "real_ambience",
        "real_incident:gunshot",
        "dog_bark",  # a synthetic scenario: not the corpus's everyday event
    )
    labels = np.zeros((5, 6), np.float32)
    labels[[0, 1, 2, 4], 0] = 1.0  # ordinary
    labels[3, 3] = 1.0  # gunshot
    assert window_weights(scenarios, labels, 3.0).tolist() == [3.0, 3.0, 1.0, 1.0, 1.0]
    # an incident window that also holds an everyday sound keeps weight 1 (labels decide)
    labels[0] = 0.0
    labels[0, 1] = 1.0
    assert window_weights(scenarios, labels, 3.0)[0] == 1.0


def test_weights_of_one_give_the_unweighted_loss_and_a_weight_counts_a_window_again() -> None:
    g = torch.Generator().manual_seed(0)
    out = tuple(torch.randn(4, 7, generator=g) for _ in range(6))
    y = torch.zeros(4, 6)
    y[:, 0] = 1.0
    y[1] = torch.tensor([0.0, 0, 1, 0, 0, 0])
    plain = loss_fn(out, y, 0.3)
    assert torch.allclose(loss_fn(out, y, 0.3, torch.ones(4)), plain)
    # window 0 weighted 2 == window 0 listed twice, over the same batch size
    doubled = loss_fn(out, y, 0.3, torch.tensor([2.0, 1.0, 1.0, 1.0]))
    per_window = [loss_fn(tuple(o[i : i + 1] for o in out), y[i : i + 1], 0.3) for i in range(4)]
    assert torch.allclose(doubled, (2 * per_window[0] + sum(per_window[1:])) / 4)


def test_a_run_starts_from_another_runs_weights(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    train(tiny_config(first), log=lambda *_: None)
    lines: list[str] = []
    train(tiny_config(second, init_from=str(first), lr=1e-12, hard_negative_weight=2.0), log=lines.append)
    assert any(str(first) in line for line in lines)
    start = torch.load(first / "model.pt", weights_only=False)["model"]
    tuned = torch.load(second / "model.pt", weights_only=False)["model"]
    # with a learning rate of 1e-12 the weights stay where they started: the first run's, not a
    # fresh network's (BatchNorm statistics still follow the data, so they are left out)
    assert all(
        torch.allclose(start[k], tuned[k], atol=1e-6)
        for k in start
        if "num_batches" not in k and "running" not in k
    )


def test_a_missing_start_and_a_bad_weight_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"model\.pt"):
        train(tiny_config(tmp_path / "a", init_from=str(tmp_path / "nowhere")), log=lambda *_: None)
    with pytest.raises(ValueError, match="hard_negative_weight"):
        train(tiny_config(tmp_path / "b", hard_negative_weight=0.0), log=lambda *_: None)


def test_the_cli_options_reach_the_run_config() -> None:
    import argparse
    from dataclasses import fields

    from models import cli_train

    parser = argparse.ArgumentParser()
    cli_train.add_arguments(parser)
    args = parser.parse_args(
        ["--init-from", "runs/a", "--hard-negative-weight", "2.5", "--mel-augment", "--mel-tilt-db", "0"]
    )
    names = {f.name for f in fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in names})
    assert (cfg.init_from, cfg.hard_negative_weight, cfg.mel_augment, cfg.mel_tilt_db) == (
        "runs/a",
        2.5,
        True,
        0.0,
    )
    defaults = TrainConfig(**{k: v for k, v in vars(parser.parse_args([])).items() if k in names})
    assert (defaults.init_from, defaults.hard_negative_weight, defaults.mel_tilt_db) == (None, 1.0, 8.0)
    assert not defaults.picture_encoder and not defaults.relative_mel
    flags = parser.parse_args(["--picture-encoder", "--relative-mel"])
    cfg = TrainConfig(**{k: v for k, v in vars(flags).items() if k in names})
    assert cfg.picture_encoder and cfg.relative_mel


def test_everyday_sounds_are_known_only_for_ordinary_corpus_windows() -> None:
    from models.corpus.vocabulary import NEGATIVE_CLASSES
    from models.trainer import everyday_targets

    targets, known = everyday_targets(
        ["real_negative:door+siren", "real_ambience", "real_incident:gunshot", "dog_bark"]
    )
    assert known.tolist() == [True, True, False, False]
    named = {NEGATIVE_CLASSES[i] for i in np.flatnonzero(targets[0])}
    assert named == {"door", "siren"}
    assert targets[1:].sum() == 0.0


def test_the_everyday_loss_counts_only_known_windows() -> None:
    from models.trainer import everyday_loss

    logits = torch.tensor([[2.0, -1.0], [50.0, 50.0]])
    targets = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    only_first = everyday_loss(logits, targets, torch.tensor([True, False]))
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits[:1], targets[:1])
    assert torch.allclose(only_first, expected)
    none = everyday_loss(logits.requires_grad_(), targets, torch.tensor([False, False]))
    assert float(none) == 0.0 and none.requires_grad


def test_a_run_with_the_everyday_head_exports_without_it(tmp_path: Path) -> None:
    import argparse

    from models import cli_export

    train(tiny_config(tmp_path / "plain"), log=lambda *_: None)
    train(
        tiny_config(tmp_path / "ev", init_from=str(tmp_path / "plain"), everyday_weight=0.5),
        log=lambda *_: None,
    )
    state = torch.load(tmp_path / "ev" / "model.pt", weights_only=False)["model"]
    assert "everyday.weight" in state
    parser = argparse.ArgumentParser()
    cli_export.add_arguments(parser)
    args = parser.parse_args(["--run", str(tmp_path / "ev"), "--out", str(tmp_path / "m.onnx")])
    assert cli_export.run(args) == 0
    with pytest.raises(ValueError, match="everyday_weight"):
        train(tiny_config(tmp_path / "bad", everyday_weight=-1.0), log=lambda *_: None)
