"""Training-time augmentation of cached log-mel features: one set of recordings heard many ways.

The model fails on sounds by other sound designers mostly because a few hundred source
recordings, however they are mixed, are still a few hundred recordings. Each training batch is
therefore re-heard in the feature domain (natural-log mel power, as :class:`models.net.LogMel`
computes it), at no decoding cost:

- **level** — a gain per window (cameras differ by tens of dB);
- **colour** — a spectral tilt per window (microphones, codecs, distance and the recording chain
  of another studio shift energy between low and high bands);
- **background** — some windows get a second, *ordinary* window's sound added at a random level
  (``logaddexp`` of the powers): the incident, or the everyday sound, now sits over a bed it never
  had in the corpus. Labels are unchanged (the added window holds no incident);
- **masks** — a few bands and frames hidden (SpecAugment), so no single band or instant decides.

Pure numpy; deterministic for a given generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DB_TO_LN_POWER = math.log(10.0) / 10.0  # x dB of power is x * this in natural-log power


@dataclass(frozen=True)
class MelAugment:
    """How strongly each batch is re-heard (see the module doc); ``enabled=False`` is the identity."""

    enabled: bool = True
    gain_db: float = 6.0  # level: uniform in ±gain_db
    tilt_db: float = 8.0  # colour: the top band differs from the bottom one by up to ±tilt_db
    background_share: float = 0.35  # share of windows that get an ordinary window's sound added
    background_db: tuple[float, float] = (-15.0, 3.0)  # its level relative to its own recording
    freq_masks: int = 2
    freq_mask_bands: int = 6  # widest mask, in mel bands
    time_masks: int = 2
    time_mask_frames: int = 8  # widest mask, in frames


def augment_mel(
    mel: np.ndarray,
    pool: np.ndarray,
    ordinary_rows: np.ndarray,
    rng: np.random.Generator,
    aug: MelAugment,
) -> tuple[np.ndarray, np.ndarray]:
    """Re-heard copies of ``mel`` [B, M, F] and which rows got a background added [B] (bool).

    Backgrounds are drawn from ``pool`` [N, M, F] (the training set's log-mels) at
    ``ordinary_rows``, the windows with no incident (none: no backgrounds). ``mel`` is not modified.
    """
    out = np.array(mel, dtype=np.float32, copy=True)
    b, m, f = out.shape
    mixed = np.zeros(b, dtype=bool)
    if not aug.enabled or b == 0:
        return out, mixed
    if len(ordinary_rows) and aug.background_share > 0:
        mixed = np.asarray(rng.random(b) < aug.background_share)
        rows = np.flatnonzero(mixed)
        if rows.size:
            partners = pool[np.sort(ordinary_rows[rng.integers(0, len(ordinary_rows), rows.size)])]
            partners = partners[rng.permutation(rows.size)]
            lo, hi = aug.background_db
            level = rng.uniform(lo, hi, (rows.size, 1, 1)) * DB_TO_LN_POWER
            out[rows] = np.logaddexp(out[rows], partners + level).astype(np.float32)
    gain = rng.uniform(-aug.gain_db, aug.gain_db, (b, 1, 1)) * DB_TO_LN_POWER
    ramp = np.linspace(-0.5, 0.5, m, dtype=np.float32).reshape(1, m, 1)
    tilt = rng.uniform(-aug.tilt_db, aug.tilt_db, (b, 1, 1)) * DB_TO_LN_POWER * ramp
    out += (gain + tilt).astype(np.float32)
    fill = out.mean(axis=(1, 2))
    for i in range(b):
        for _ in range(aug.freq_masks):
            width = int(rng.integers(0, aug.freq_mask_bands + 1))
            start = int(rng.integers(0, max(1, m - width + 1)))
            out[i, start : start + width, :] = fill[i]
        for _ in range(aug.time_masks):
            width = int(rng.integers(0, aug.time_mask_frames + 1))
            start = int(rng.integers(0, max(1, f - width + 1)))
            out[i, :, start : start + width] = fill[i]
    return out, mixed
