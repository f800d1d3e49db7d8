"""The real-sound scene mixer and the camera microphone chain (no corpus needed: synthetic clips)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from models.contract import CLASSES, SAMPLE_RATE
from models.corpus.camera_audio import aac_roundtrip, camera_chain, change_speed, convolve, rms, room_impulse
from models.corpus.heldout import incident_times, write_av
from models.corpus.mixer import SoundBank, mix_timeline, mix_window
from models.corpus.windows import make_real_dataset
from models.realclips import decode_clip
from models.synth import sounds


@pytest.fixture(scope="module")
def bank() -> SoundBank:
    rng = np.random.default_rng(0)
    b = SoundBank()
    for i in range(3):
        b.add("event", "gunshot", sounds.bang(rng, SAMPLE_RATE), "pkg-a", f"shot{i}.wav")
        b.add("event", "glass_break", sounds.shatter(rng, SAMPLE_RATE), "pkg-a", f"glass{i}.wav")
        b.add("event", "scream", sounds.scream(rng, SAMPLE_RATE), "pkg-b", f"scream{i}.wav")
        b.add("negative", "door", 0.5 * sounds.bang(rng, SAMPLE_RATE), "pkg-b", f"door{i}.wav")
        b.add(
            "bed",
            "city",
            (0.05 * rng.standard_normal(3 * SAMPLE_RATE)).astype(np.float32),
            "pkg-c",
            f"city{i}.ogg",
        )
    return b


def test_aac_roundtrip_keeps_length_and_alignment() -> None:
    t = np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE
    x = (0.2 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 1250 * t)).astype(np.float32)
    x[12_000:12_050] += 0.5
    y = aac_roundtrip(x, 32_000)
    assert y.shape == x.shape and y.dtype == np.float32
    lags = range(-2000, 2001)
    best = max(lags, key=lambda lag: float(np.dot(np.roll(y, -lag)[4000:28000], x[4000:28000])))
    assert best == 0
    assert rms(y - x) < 0.3 * rms(x)


def test_camera_chain_stays_in_range_and_is_seeded() -> None:
    x = (3.0 * np.random.default_rng(2).standard_normal(SAMPLE_RATE)).astype(np.float32)
    a = camera_chain(x, np.random.default_rng(7))
    b = camera_chain(x, np.random.default_rng(7))
    assert a.shape == x.shape and np.abs(a).max() <= 1.0
    np.testing.assert_array_equal(a, b)


def test_reverb_and_speed_change_lengths() -> None:
    rng = np.random.default_rng(3)
    h = room_impulse(rng)
    assert 0.1 * SAMPLE_RATE <= h.size <= SAMPLE_RATE and np.abs(h).max() == pytest.approx(1.0)
    x = np.ones(1000, np.float32)
    assert convolve(x, h).size == 1000 + h.size - 1
    assert change_speed(x, 2.0).size == 500
    assert change_speed(x, 0.5).size == 2000


@pytest.mark.parametrize("kind", ["incident", "negative", "ambience"])
def test_mix_window_labels(bank: SoundBank, kind: str) -> None:
    for i in range(10):
        w = mix_window(bank, np.random.default_rng([5, i]), kind)
        assert w.audio.shape == (2 * SAMPLE_RATE,) and w.audio.dtype == np.float32
        assert w.labels.sum() == 1.0
        if kind == "incident":
            assert w.incident in ("gunshot", "glass_break", "scream")
            assert w.labels[CLASSES.index(w.incident)] == 1.0
        else:
            assert w.labels[0] == 1.0 and w.incident is None


def test_incident_is_inside_the_window(bank: SoundBank) -> None:
    # with no ambience bed energy and no camera chain, the window holds the event's loud part
    quiet = SoundBank(used=set())
    for key, clips in bank.clips.items():
        if key[0] == "event":
            for c in clips:
                quiet.add("event", key[1], c, "p", "m")
    quiet.add("bed", "silence", np.full(3 * SAMPLE_RATE, 1e-6, np.float32), "p", "bed")
    for i in range(20):
        w = mix_window(quiet, np.random.default_rng([9, i]), "incident", camera=False)
        loud = np.abs(w.audio) > 0.05 * np.abs(w.audio).max()
        assert loud.sum() > 0.02 * SAMPLE_RATE
    assert quiet.used and all(o.startswith("p:") for o in quiet.used)


def test_unknown_kind_is_refused(bank: SoundBank) -> None:
    with pytest.raises(ValueError, match="window kind"):
        mix_window(bank, np.random.default_rng(0), "riot")


def test_timeline_places_incidents_where_asked(bank: SoundBank) -> None:
    audio, placed = mix_timeline(bank, np.random.default_rng(4), 30.0, [(5.0, "gunshot"), (18.0, "scream")])
    assert audio.shape == (30 * SAMPLE_RATE,)
    events = [e for e in placed if e.role == "event"]
    assert [(e.start_s, e.cls) for e in events] == [(5.0, "gunshot"), (18.0, "scream")]
    assert all(e.end_s > e.start_s for e in placed)


def test_incident_times_are_spaced() -> None:
    times = incident_times(np.random.default_rng(0), 60.0, 4, 11.0, ["gunshot", "scream"], first=1)
    starts = [t for t, _ in times]
    assert all(b - a >= 11.0 for a, b in itertools.pairwise(starts))
    assert [c for _, c in times] == ["scream", "gunshot", "scream", "gunshot"]
    with pytest.raises(ValueError, match="do not fit"):
        incident_times(np.random.default_rng(0), 20.0, 4, 11.0, ["gunshot"], first=0)


def test_make_real_dataset(bank: SoundBank) -> None:
    ws = make_real_dataset(bank, 12, seed=3)
    assert ws.frames.shape == (12, 8, 112, 112, 3) and ws.audio.shape == (12, 2 * SAMPLE_RATE)
    assert ws.labels.shape == (12, len(CLASSES))
    again = make_real_dataset(bank, 12, seed=3)
    np.testing.assert_array_equal(ws.audio, again.audio)
    assert ws.scenarios == again.scenarios


def test_written_clip_decodes_aligned(tmp_path: Path) -> None:
    a = (0.02 * np.random.default_rng(6).standard_normal(6 * SAMPLE_RATE)).astype(np.float32)
    a[3 * SAMPLE_RATE : 3 * SAMPLE_RATE + 80] += 0.9
    frames = (np.full((112, 176, 3), k * 10, np.uint8) for k in range(24))
    write_av(tmp_path / "c.mp4", frames, 4, a)
    decoded, audio = decode_clip(tmp_path / "c.mp4")
    assert len(decoded) == 24 and audio is not None
    peak = int(np.argmax(np.abs(audio[2 * SAMPLE_RATE : 4 * SAMPLE_RATE]))) + 2 * SAMPLE_RATE
    assert abs(peak - 3 * SAMPLE_RATE) < 100


def test_ambiguous_set_fools_each_modality_in_turn(bank: SoundBank, tmp_path: Path) -> None:
    from models.corpus.windows import make_ambiguous_real_dataset

    ws = make_ambiguous_real_dataset(bank, 40, seed=2, corpus_dir=str(tmp_path))  # no footage: generator
    assert ws.frames.shape == (40, 8, 112, 112, 3)
    halves = {s.split(":")[0] for s in ws.scenarios}
    assert halves == {"mic_fooled", "camera_fooled"}
    mic_negatives = [
        s for s, y in zip(ws.scenarios, ws.labels, strict=True) if s.startswith("mic_fooled:real_negative")
    ]
    assert mic_negatives and all("door" in s for s in mic_negatives)  # the bank's only sound-alike
    assert 0 < ws.labels[:, 0].sum() < 40


def test_balanced_picking_gives_each_package_an_equal_share() -> None:
    """`vigil train --balance-packages`: a package with 9 fight recordings and one with 1 are
    picked about equally often; without it, each recording is (the 9 dominate)."""
    clip = np.zeros(SAMPLE_RATE // 2, np.float32)

    def share_of_small(balance: bool) -> float:
        bank = SoundBank(balance_packages=balance)
        for i in range(9):
            bank.add("event", "fight", clip, "megaglest-data", f"melee-{i}")
        bank.add("event", "fight", clip, "lugaru-data", "punch")
        bank.used = set()
        rng = np.random.default_rng(5)
        picks = []
        for _ in range(2000):
            bank.used.clear()
            bank.pick(rng, "event", "fight")
            picks.append(next(iter(bank.used)))
        return sum(p.startswith("lugaru-data:") for p in picks) / len(picks)

    assert 0.45 < share_of_small(True) < 0.55
    assert 0.07 < share_of_small(False) < 0.13
