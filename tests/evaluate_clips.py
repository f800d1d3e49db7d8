"""Tiny clips with controlled content for ``vigil evaluate``/``calibrate`` tests (with the stub model).

Outside the given ranges the picture is black and the sound silent; inside, the picture is white
and a 100 Hz tone plays (it survives resampling to the stub's 800 Hz). The stub model
(:mod:`tests.fusion_stub_model`) scores ``anomaly = 0.5 * brightness + 0.5 * mean|audio|``, so a
window inside a range scores about 0.75 and its top class (always ``explosion`` for the stub) about
0.39; a grey, silent window about 0.25 (``explosion`` about 0.24); a dark, silent one 0 and
1/6 for every class.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

RATE = 16_000


def write_test_clip(
    path: Path,
    duration_s: float,
    bright: list[tuple[float, float]],
    *,
    dim: tuple[tuple[float, float], ...] = (),
    audio: bool = True,
    fps: int = 8,
    size: int = 32,
) -> Path:
    """An H.264 (+ AAC) mp4, white and loud during ``bright`` ranges, mid-grey and silent during ``dim``."""

    def on(t: float) -> bool:
        return any(a <= t < b for a, b in bright)

    def grey(t: float) -> bool:
        return any(a <= t < b for a, b in dim)

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", format="mp4") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        video.options = {"preset": "ultrafast", "bf": "0", "g": str(fps)}
        sound = container.add_stream("aac", rate=RATE, layout="mono") if audio else None
        chunk = RATE // fps
        for i in range(round(duration_s * fps)):
            t = i / fps
            level = 255 if on(t) else 128 if grey(t) else 0
            frame = av.VideoFrame.from_ndarray(np.full((size, size, 3), level, np.uint8), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            container.mux(video.encode(frame))
            if sound is not None:
                n = np.arange(i * chunk, (i + 1) * chunk)
                tone = 0.8 * np.sin(2 * np.pi * 100 * n / RATE) if on(t) else np.zeros(chunk)
                aframe = av.AudioFrame.from_ndarray(
                    tone.astype(np.float32)[None, :], format="flt", layout="mono"
                )
                aframe.sample_rate = RATE
                aframe.pts = i * chunk
                aframe.time_base = Fraction(1, RATE)
                container.mux(sound.encode(aframe))
        container.mux(video.encode(None))
        if sound is not None:
            container.mux(sound.encode(None))
    return path
