"""Generated everyday hard negatives (sirens, horns, alarms) for the train bank."""

from __future__ import annotations

import numpy as np
import pytest

from models.corpus.mixer import SoundBank, add_generator_sounds
from models.synth import sounds

SR = 16_000


def dominant_hz(x: np.ndarray, start_s: float, length_s: float = 0.1) -> float:
    seg = x[int(start_s * SR) : int((start_s + length_s) * SR)]
    spec = np.abs(np.fft.rfft(seg * np.hanning(seg.size)))
    return float(np.fft.rfftfreq(seg.size, 1 / SR)[int(np.argmax(spec))])


@pytest.mark.parametrize("make", [sounds.siren, sounds.horn, sounds.alarm])
def test_sounds_are_bounded_reproducible_and_audible(make: object) -> None:
    for seed in range(8):
        a = make(np.random.default_rng(seed), SR)  # type: ignore[operator]
        b = make(np.random.default_rng(seed), SR)  # type: ignore[operator]
        assert a.dtype == np.float32 and np.isfinite(a).all()
        assert np.array_equal(a, b)
        assert 0.99 <= float(np.abs(a).max()) <= 1.0
        assert a.size >= int(0.2 * SR)
        assert float(np.sqrt(np.mean(a**2))) > 0.05  # not silence


def test_a_siren_changes_pitch() -> None:
    rng = np.random.default_rng(3)
    for _ in range(6):
        s = sounds.siren(rng, SR)
        track = [dominant_hz(s, t) for t in np.arange(0.1, s.size / SR - 0.2, 0.1)]
        assert max(track) / min(track) > 1.15, track  # wail, yelp or two-tone: never one note


def test_everyday_negatives_join_the_bank_without_moving_the_rest() -> None:
    before, after = SoundBank(), SoundBank()
    add_generator_sounds(before, np.random.default_rng([11, 77]), glass=3, beds=2)
    add_generator_sounds(after, np.random.default_rng([11, 77]), glass=3, beds=2, everyday=4)
    for key, clips in before.clips.items():
        assert all(np.array_equal(x, y) for x, y in zip(clips, after.clips[key], strict=True))
    for cls in ("siren", "horn", "alarm"):
        assert len(after.clips[("negative", cls)]) == 4
        assert all(o.startswith("models.synth:") for o in after.origins[("negative", cls)])
    assert ("negative", "siren") not in before.clips
