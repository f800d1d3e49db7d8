"""The smallest `vigil train` run that still goes through every step (for trainer tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.train_config import TrainConfig


def tiny_config(out: Path, **overrides: Any) -> TrainConfig:
    """48 synthetic windows, one epoch of three steps, no teacher, no corpus; ``overrides`` win."""
    settings: dict[str, Any] = {
        "out": str(out),
        "train_windows": 48,
        "heldout_windows": 24,
        "ambiguous_windows": 12,
        "epochs": 1,
        "batch_size": 16,
        "distill_weight": 0.0,
        "generated_everyday": 0,
        **overrides,
    }
    return TrainConfig(**settings)
