"""Numpy-only renderer for synthetic camera clips (picture + sound), one frame at a time.

Used by ``vigil make-clip`` (services/clips.py), which encodes what this yields into an mp4.
The renderer is pure: the same :class:`ClipSpec` (seed included) always yields the same frames.

API
---
``render_clip(spec)`` yields one :class:`ClipFrame` per video frame, in order. Each carries the RGB
picture and the mono audio samples that play while that frame is shown, so a 60 s 720p clip is
never held in memory. Frame ``k`` starts at ``k / fps`` seconds and owns the samples
``[round(k * sr / fps), round((k + 1) * sr / fps))``.

An incident at ``time_s`` is snapped to the frame ``k0 = round(time_s * fps)`` (see
:func:`incident_frame`); its sound starts at that frame's first sample and its picture change
(white flash + burst of motion) on that same frame, so audio onset and visual change coincide.

Class-specific incidents: :data:`INCIDENT_SOUNDS` maps a class name to a function that renders
the incident's sound. Add or replace entries (e.g. from models/synth) to change how a class sounds;
unknown class names use the ``"generic"`` bang.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float32]
SoundRenderer = Callable[[int, np.random.Generator], FloatArray]
"""(sample_rate, rng) -> float32 mono waveform of the incident's sound, starting loud at index 0."""

FLASH_DECAY_S = 0.15  # time constant of the white flash's fade
BURST_S = 1.0  # how long the motion burst lasts after the onset
AMBIENT_LEVEL = 0.01  # std of background noise; incident sounds peak far above it


@dataclass(frozen=True)
class ClipSpec:
    """What to render. Times are in seconds; ``noise`` is the std of per-pixel sensor noise in
    8-bit levels (0 = clean picture); ``incidents`` holds ``(time_s, class_name)`` pairs."""

    duration_s: float = 10.0
    width: int = 640
    height: int = 360
    fps: int = 15
    sample_rate: int = 16000
    incidents: tuple[tuple[float, str], ...] = field(default_factory=tuple)
    audio: bool = True
    noise: float = 0.0
    seed: int = 0
    style: str = "basic"
    """"basic": this module's flash-and-bang incidents; "scene": the model's training look
    (models.synth.clip_scene: random everyday scene, class-specific audio + visual signatures)."""

    def __post_init__(self) -> None:
        if self.style not in ("basic", "scene"):
            raise ValueError(f"style {self.style!r}: expected 'basic' or 'scene'")
        if self.duration_s <= 0 or self.fps <= 0 or self.sample_rate <= 0:
            raise ValueError("duration_s, fps and sample_rate must be positive")
        if self.width < 16 or self.height < 16 or self.width % 2 or self.height % 2:
            raise ValueError(f"size {self.width}x{self.height}: need even sides of at least 16 (yuv420p)")
        for time_s, _ in self.incidents:
            if not 0 <= time_s < self.duration_s:
                raise ValueError(f"incident at {time_s} s is outside the clip (0..{self.duration_s} s)")

    @property
    def frame_count(self) -> int:
        """Number of video frames in the clip."""
        return max(1, round(self.duration_s * self.fps))


@dataclass(frozen=True)
class ClipFrame:
    """One video frame and the audio that plays during it."""

    index: int
    time_s: float
    video: NDArray[np.uint8]  # [height, width, 3] RGB
    audio: FloatArray | None  # [n] mono float32 in [-1, 1]; None when spec.audio is False
    first_sample: int  # index of audio[0] in the clip's sample stream


def incident_frame(spec: ClipSpec, time_s: float) -> int:
    """Index of the frame on which an incident at ``time_s`` starts (picture and sound)."""
    return min(round(time_s * spec.fps), spec.frame_count - 1)


def frame_first_sample(spec: ClipSpec, index: int) -> int:
    """Index of the first audio sample that belongs to video frame ``index``."""
    return round(index * spec.sample_rate / spec.fps)


# ----------------------------------------------------------------------------- incident sounds


def _bang(sr: int, rng: np.random.Generator, decay_s: float = 0.06, length_s: float = 0.6) -> FloatArray:
    t = np.arange(int(length_s * sr), dtype=np.float32) / sr
    return (0.9 * rng.uniform(-1, 1, t.size) * np.exp(-t / decay_s)).astype(np.float32)


def _explosion(sr: int, rng: np.random.Generator) -> FloatArray:
    t = np.arange(int(2.0 * sr), dtype=np.float32) / sr
    rumble = np.sin(2 * np.pi * 45 * t) + 0.6 * np.sin(2 * np.pi * 70 * t + 1.0)
    noise = rng.uniform(-1, 1, t.size)
    return (0.6 * (0.6 * rumble + 0.7 * noise) * np.exp(-t / 0.5)).astype(np.float32)


def _scream(sr: int, rng: np.random.Generator) -> FloatArray:
    t = np.arange(int(1.2 * sr), dtype=np.float32) / sr
    base = 850.0 + 60.0 * float(rng.standard_normal())
    phase = 2 * np.pi * (base * t - (120 / (2 * np.pi * 6)) * np.cos(2 * np.pi * 6 * t))
    voice = np.sin(phase) + 0.4 * np.sin(2 * phase) + 0.2 * np.sin(3 * phase)
    envelope = np.minimum(1.0, 0.3 + t / 0.02) * np.clip((1.2 - t) / 0.2, 0, 1)
    out: FloatArray = (0.45 * voice * envelope).astype(np.float32)
    return out


def _glass_break(sr: int, rng: np.random.Generator) -> FloatArray:
    t = np.arange(int(0.8 * sr), dtype=np.float32) / sr
    out = 0.8 * rng.uniform(-1, 1, t.size) * np.exp(-t / 0.03)
    top = min(6000.0, 0.45 * sr)
    for f in rng.uniform(0.5 * top, top, 5):
        out += 0.15 * np.sin(2 * np.pi * f * t) * np.exp(-t / rng.uniform(0.1, 0.3))
    return np.clip(out, -1, 1).astype(np.float32)


def _fight(sr: int, rng: np.random.Generator) -> FloatArray:
    out = np.zeros(int(1.6 * sr), dtype=np.float32)
    thud_t = np.arange(int(0.12 * sr), dtype=np.float32) / sr
    for i, start_s in enumerate([0.0, 0.3, 0.5, 0.9, 1.2]):
        thud = (0.8 if i == 0 else 0.6) * np.cos(2 * np.pi * 110 * thud_t) * np.exp(-thud_t / 0.03)
        thud += 0.3 * rng.uniform(-1, 1, thud_t.size) * np.exp(-thud_t / 0.01)
        s = int(start_s * sr)
        out[s : s + thud.size] += thud[: out.size - s]
    return out.astype(np.float32)


INCIDENT_SOUNDS: dict[str, SoundRenderer] = {
    "generic": _bang,
    "gunshot": _bang,
    "explosion": _explosion,
    "scream": _scream,
    "glass_break": _glass_break,
    "fight": _fight,
}


# ----------------------------------------------------------------------------------- renderer


@dataclass(frozen=True)
class _Incident:
    frame: int
    first_sample: int
    sound: FloatArray
    burst_boxes: NDArray[np.float64]  # [n, 4] x, y, w, h in [0, 1] and colour seeds


def _background(spec: ClipSpec) -> FloatArray:
    """A static street-like backdrop: vertical gradient sky, grey ground, a few buildings."""
    h, w = spec.height, spec.width
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    img = np.where(y < 0.55, 150 + 60 * y, 90 - 20 * (y - 0.55)).astype(np.float32)
    img = np.broadcast_to(img, (h, w, 3)).copy()
    img[..., 2] += np.where(y[..., 0] < 0.55, 40, 0)
    for i, (x0, top) in enumerate([(0.05, 0.25), (0.30, 0.15), (0.62, 0.3), (0.80, 0.2)]):
        c0, c1 = int(x0 * w), int((x0 + 0.14) * w)
        img[int(top * h) : int(0.55 * h), c0:c1] = (70 + 15 * i, 60 + 10 * i, 55 + 5 * i)
    return img


def _walkers(index: int, spec: ClipSpec) -> list[tuple[int, int, int, int]]:
    """Two people-sized boxes walking slowly across the scene (baseline motion)."""
    t = index / spec.fps
    w, h = spec.width, spec.height
    boxes = []
    for speed, row, phase in ((0.05, 0.62, 0.1), (-0.035, 0.72, 0.6)):
        x = (phase + speed * t) % 1.0
        bw, bh = max(2, int(0.04 * w)), max(4, int(0.18 * h))
        boxes.append((int(x * (w - bw)), int(row * h), bw, bh))
    return boxes


def _make_incidents(spec: ClipSpec) -> list[_Incident]:
    incidents = []
    for i, (time_s, class_name) in enumerate(sorted(spec.incidents)):
        rng = np.random.default_rng([spec.seed, 1000 + i])
        sound_fn = INCIDENT_SOUNDS.get(class_name, INCIDENT_SOUNDS["generic"])
        frame = incident_frame(spec, time_s)
        incidents.append(
            _Incident(
                frame=frame,
                first_sample=frame_first_sample(spec, frame),
                sound=sound_fn(spec.sample_rate, rng),
                burst_boxes=rng.uniform(0.0, 1.0, (6, 5)),
            )
        )
    return incidents


def _draw_incident_video(img: FloatArray, spec: ClipSpec, inc: _Incident, index: int) -> None:
    dt = (index - inc.frame) / spec.fps
    if dt < 0 or dt > max(BURST_S, 6 * FLASH_DECAY_S):
        return
    h, w = spec.height, spec.width
    if dt < BURST_S:  # people scatter: boxes jump to new places every frame
        jitter = np.random.default_rng([spec.seed, 7, inc.frame, index]).uniform(
            -0.15, 0.15, (len(inc.burst_boxes), 2)
        )
        for (x, y, bw, bh, c), (jx, jy) in zip(inc.burst_boxes, jitter, strict=True):
            x0 = int(np.clip(x + jx, 0, 0.9) * w)
            y0 = int(np.clip(0.4 + 0.5 * y + jy, 0, 0.85) * h)
            img[y0 : y0 + int((0.03 + 0.05 * bh) * h * 2), x0 : x0 + int((0.02 + 0.04 * bw) * w)] = (
                40 + 200 * c,
                30,
                200 - 150 * c,
            )
    img += 255.0 * math.exp(-dt / FLASH_DECAY_S)  # the flash, brightest on the onset frame


_TRIANGULAR_STD = math.sqrt(2 * (16**2 - 1) / 12)  # std of the sum of two uniform 0..15 nibbles


def _sensor_noise(rng: np.random.Generator, shape: tuple[int, ...], std: float) -> FloatArray:
    """Zero-mean, roughly Gaussian (triangular) per-pixel noise, new in every frame.

    Built from random bytes (two 4-bit uniforms per byte): about 10x faster than
    ``standard_normal`` at 720p, which matters for 60 s benchmark clips.
    """
    u = np.frombuffer(rng.bytes(math.prod(shape)), dtype=np.uint8).reshape(shape)
    tri = (u & 15).astype(np.float32) + (u >> 4) - np.float32(15.0)
    out: FloatArray = tri * np.float32(std / _TRIANGULAR_STD)
    return out


def render_clip(spec: ClipSpec) -> Iterator[ClipFrame]:
    """Yield the clip's frames in order; see the module docstring for timing rules."""
    if spec.style == "scene":
        from models.synth.clip_scene import render_scene_clip

        yield from render_scene_clip(spec)
        return
    background = _background(spec)
    incidents = _make_incidents(spec)
    rng = np.random.default_rng([spec.seed, 0])
    two_pi = 2.0 * np.pi
    for index in range(spec.frame_count):
        img = background.copy()
        for x, y, bw, bh in _walkers(index, spec):
            img[y : y + bh, x : x + bw] = (200, 170, 140)
        for inc in incidents:
            _draw_incident_video(img, spec, inc, index)
        if spec.noise > 0:
            img += _sensor_noise(rng, img.shape, spec.noise)
        video = np.clip(img, 0, 255).astype(np.uint8)

        start, end = frame_first_sample(spec, index), frame_first_sample(spec, index + 1)
        audio: FloatArray | None = None
        if spec.audio:
            n = np.arange(start, end)
            audio = (
                AMBIENT_LEVEL * rng.standard_normal(end - start)
                + 0.01 * np.sin(two_pi * 60 * n / spec.sample_rate)
            ).astype(np.float32)
            for inc in incidents:
                lo, hi = max(start, inc.first_sample), min(end, inc.first_sample + inc.sound.size)
                if lo < hi:
                    audio[lo - start : hi - start] += inc.sound[lo - inc.first_sample : hi - inc.first_sample]
            np.clip(audio, -1.0, 1.0, out=audio)
        yield ClipFrame(index=index, time_s=index / spec.fps, video=video, audio=audio, first_sample=start)
