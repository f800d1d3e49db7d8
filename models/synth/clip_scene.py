"""Whole clips rendered from a :class:`models.synth.scene.Scene` (the training data's look and sound).

Selected with ``ClipSpec(style="scene", ...)`` in :mod:`models.synth.clip_render`: the clip is
a random everyday scene (seeded by ``spec.seed``) and each ``(time_s, class)`` incident adds
that class's audio *and* visual signature from :data:`models.synth.events.INCIDENTS` (an
unknown class name gets a gunshot). Frames and audio follow ``render_clip``'s timing rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from models.synth.events import INCIDENTS
from models.synth.scene import Scene

if TYPE_CHECKING:
    from models.synth.clip_render import ClipFrame, ClipSpec


def build_clip_scene(spec: ClipSpec) -> Scene:
    """The scene a clip is cut from: seeded by ``spec.seed``, incidents from ``spec.incidents``."""
    rng = np.random.default_rng([spec.seed, 424242])
    scene = Scene.random(rng, spec.duration_s)
    for time_s, name in sorted(spec.incidents):
        scene.add(INCIDENTS.get(name, INCIDENTS["gunshot"])(float(time_s)), rng)
    return scene


def render_scene_clip(spec: ClipSpec) -> Iterator[ClipFrame]:
    """Yield :class:`ClipFrame` objects for ``spec`` using the scene renderer."""
    from models.synth.clip_render import ClipFrame, frame_first_sample

    scene = build_clip_scene(spec)
    audio = scene.audio(spec.sample_rate) if spec.audio else None
    noise_rng = np.random.default_rng([spec.seed, 5])
    for index in range(spec.frame_count):
        t = index / spec.fps
        video = scene.frame(t, spec.height, spec.width)
        if spec.noise > 0:
            noisy = video + spec.noise * noise_rng.standard_normal(video.shape, dtype=np.float32)
            video = np.clip(noisy, 0, 255).astype(np.uint8)
        start, end = frame_first_sample(spec, index), frame_first_sample(spec, index + 1)
        chunk = None
        if audio is not None:
            chunk = np.zeros(end - start, np.float32)
            avail = audio[start:end]
            chunk[: avail.size] = avail
        yield ClipFrame(index=index, time_s=t, video=video, audio=chunk, first_sample=start)
