"""models.augment: the batch is re-heard, never relabelled, and the identity when disabled."""

from __future__ import annotations

import numpy as np

from models.augment import DB_TO_LN_POWER, MelAugment, augment_mel

M, F = 64, 99


def batch(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(-3.0, 1.0, (n, M, F)).astype(np.float32)


def test_disabled_is_the_identity() -> None:
    mel = batch(4)
    out, mixed = augment_mel(
        mel, batch(10), np.arange(10), np.random.default_rng(0), MelAugment(enabled=False)
    )
    np.testing.assert_array_equal(out, mel)
    assert not mixed.any()


def test_the_input_is_not_modified_and_runs_repeat() -> None:
    mel = batch(8)
    before = mel.copy()
    a, ma = augment_mel(mel, batch(20, 1), np.arange(20), np.random.default_rng(5), MelAugment())
    b, mb = augment_mel(mel, batch(20, 1), np.arange(20), np.random.default_rng(5), MelAugment())
    np.testing.assert_array_equal(mel, before)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ma, mb)
    assert not np.array_equal(a, mel)


def test_level_and_tilt_stay_within_their_bounds() -> None:
    aug = MelAugment(background_share=0.0, freq_masks=0, time_masks=0, gain_db=6.0, tilt_db=8.0)
    mel = batch(64)
    out, mixed = augment_mel(mel, mel, np.arange(0), np.random.default_rng(1), aug)
    delta = out - mel
    assert not mixed.any()
    # per row: a gain (same for every frame) plus a tilt linear in the band index
    np.testing.assert_allclose(delta, delta[:, :, :1].repeat(F, axis=2), atol=1e-5)
    assert np.abs(delta).max() <= (6.0 + 8.0 / 2) * DB_TO_LN_POWER + 1e-5
    spread = delta[:, -1, 0] - delta[:, 0, 0]  # top band minus bottom band
    assert np.abs(spread).max() <= 8.0 * DB_TO_LN_POWER + 1e-5
    assert np.abs(spread).max() > 4.0 * DB_TO_LN_POWER  # it does colour


def test_backgrounds_come_only_from_ordinary_windows_and_only_add_energy() -> None:
    aug = MelAugment(background_share=1.0, gain_db=0.0, tilt_db=0.0, freq_masks=0, time_masks=0)
    quiet = np.full((4, M, F), -20.0, np.float32)
    pool = np.concatenate([np.full((5, M, F), 0.0, np.float32), np.full((5, M, F), 5.0, np.float32)])
    ordinary = np.arange(5)  # only the 0.0 rows are ordinary; 5.0 rows hold incidents
    out, mixed = augment_mel(quiet, pool, ordinary, np.random.default_rng(2), aug)
    assert mixed.all()
    assert (out >= quiet).all()  # adding power never removes any
    # the loudest background allowed is an ordinary row at +3 dB: log(e^-20 + e^(0 + 3 dB))
    assert out.max() <= np.logaddexp(-20.0, 3.0 * DB_TO_LN_POWER) + 1e-5


def test_masks_hide_bands_and_frames() -> None:
    aug = MelAugment(background_share=0.0, gain_db=0.0, tilt_db=0.0, freq_masks=2, time_masks=2)
    mel = batch(32, 3)
    out, _ = augment_mel(mel, mel, np.arange(0), np.random.default_rng(4), aug)
    flat_bands = [(np.ptp(out[i], axis=1) == 0).sum() for i in range(32)]
    flat_frames = [(np.ptp(out[i], axis=0) == 0).sum() for i in range(32)]
    assert max(flat_bands) > 0 and max(flat_frames) > 0
    assert max(flat_bands) <= 2 * aug.freq_mask_bands and max(flat_frames) <= 2 * aug.time_mask_frames
