"""The numpy clip renderer: timing rules, incident alignment, determinism."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from models.synth.clip_render import (
    INCIDENT_SOUNDS,
    ClipSpec,
    frame_first_sample,
    incident_frame,
    render_clip,
)


def small(**kwargs: Any) -> ClipSpec:
    """A tiny, fast spec: 64x48 at 10 fps, 8 kHz audio."""
    return ClipSpec(**{"width": 64, "height": 48, "fps": 10, "sample_rate": 8000, **kwargs})


def _render(spec: ClipSpec) -> tuple[np.ndarray, np.ndarray]:
    frames = list(render_clip(spec))
    video = np.stack([f.video for f in frames])
    audio = np.concatenate([f.audio for f in frames if f.audio is not None]) if spec.audio else np.zeros(0)
    return video, audio


def test_frame_count_sizes_and_audio_length() -> None:
    spec = small(duration_s=2.5)
    video, audio = _render(spec)
    assert video.shape == (25, 48, 64, 3) and video.dtype == np.uint8
    assert audio.shape == (20000,) and audio.dtype == np.float32
    assert np.abs(audio).max() < 0.1  # ambient only


@pytest.mark.parametrize("class_name", sorted(INCIDENT_SOUNDS))
def test_incident_sound_and_picture_start_on_the_same_frame(class_name: str) -> None:
    spec = small(duration_s=3.0, incidents=((1.23, class_name),))
    video, audio = _render(spec)
    k = incident_frame(spec, 1.23)
    assert k == 12
    brightness = video.reshape(len(video), -1).mean(axis=1)
    assert int(np.argmax(np.diff(brightness))) + 1 == k
    onset = int(np.argmax(np.abs(audio) > 0.1))
    assert onset == frame_first_sample(spec, k)


def test_same_seed_same_clip_other_seed_other_noise() -> None:
    spec = small(duration_s=1.0, incidents=((0.5, "gunshot"),), noise=4.0, seed=3)
    v1, a1 = _render(spec)
    v2, a2 = _render(spec)
    assert np.array_equal(v1, v2) and np.array_equal(a1, a2)
    v3, a3 = _render(small(duration_s=1.0, incidents=((0.5, "gunshot"),), noise=4.0, seed=4))
    assert not np.array_equal(v1, v3) and not np.array_equal(a1, a3)


def test_no_audio_yields_none() -> None:
    assert all(f.audio is None for f in render_clip(small(duration_s=0.5, audio=False)))


def test_unknown_class_uses_the_generic_sound() -> None:
    spec = small(duration_s=1.0, incidents=((0.2, "not-a-class"),))
    _, audio = _render(spec)
    assert int(np.argmax(np.abs(audio) > 0.1)) == frame_first_sample(spec, 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"duration_s": 0}, "positive"),
        ({"width": 63}, "even"),
        ({"incidents": ((5.0, "gunshot"),), "duration_s": 2.0}, "outside"),
    ],
)
def test_invalid_specs_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ClipSpec(**kwargs)  # type: ignore[arg-type]
