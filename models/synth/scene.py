"""A continuous synthetic camera scene: background, people, vehicles, lighting, sensor, sound bed.

A :class:`Scene` spans ``duration_s`` seconds. ``frame(t, h, w)`` renders the picture at any
time and size, ``audio(sr)`` renders the whole soundtrack; events (incidents and hard
negatives, see :mod:`models.synth.events`) add their visual and audio signatures. Windows for
training and whole clips for ``vigil make-clip`` are both cut from scenes, so they look alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from models.contract import CLASSES
from models.synth import sounds
from models.synth.draw import Color, Image, fill_disc, fill_rect, shift

if TYPE_CHECKING:
    from models.synth.events import Event

#: Where real photographs for backdrops come from (None: every backdrop is drawn). Called with a
#: generator seeded from the backdrop (the scene's own draws are unchanged); returns uint8
#: [H, W, 3] or None for a drawn backdrop. Set by :func:`models.corpus.visual.photo_backdrops`.
BackdropSource = Callable[[np.random.Generator], "NDArray[np.uint8] | None"]
backdrop_source: BackdropSource | None = None


def _reflect(v: float, lo: float, hi: float) -> float:
    span = hi - lo
    m = (v - lo) % (2 * span)
    return lo + (m if m <= span else 2 * span - m)


def _color(rng: np.random.Generator, lo: float = 0.1, hi: float = 0.9) -> Color:
    c = rng.uniform(lo, hi, 3)
    return (float(c[0]), float(c[1]), float(c[2]))


@dataclass
class Mover:
    """A person or vehicle; position is a pure function of time (so any frame can be rendered)."""

    kind: str
    x0: float
    y0: float
    vx: float
    vy: float
    size: float
    color: Color
    color2: Color
    y_lo: float
    y_hi: float
    phase: float = 0.0
    # after run_at the mover runs with (run_vx, run_vy) and may leave the frame (panic, jogging)
    run_at: float | None = None
    run_vx: float = 0.0
    run_vy: float = 0.0
    # erratic (fight) or periodic (dance) displacement from jitter_from on
    jitter_from: float = math.inf
    jitter_amp: float = 0.0
    jitter_freqs: tuple[float, float, float] = (1.1, 1.7, 0.7)
    periodic: bool = False
    fallen_at: float = math.inf

    def pos(self, t: float) -> tuple[float, float]:
        """Feet position (normalised) at time ``t``."""
        tb = t if self.run_at is None else min(t, self.run_at)
        x = _reflect(self.x0 + self.vx * tb, 0.03, 0.97)
        y = _reflect(self.y0 + self.vy * tb, self.y_lo, self.y_hi)
        if self.run_at is not None and t > self.run_at:
            dt = t - self.run_at
            x += self.run_vx * dt
            y = min(max(y + self.run_vy * dt, self.y_lo), self.y_hi)
        if t >= self.jitter_from:
            a = self.jitter_amp
            f1, f2, f3 = self.jitter_freqs
            if self.periodic:
                x += a * math.sin(2 * math.pi * f1 * t + self.phase)
                y += 0.3 * a * math.sin(2 * math.pi * f1 * 2 * t + self.phase)
            else:
                x += a * (
                    math.sin(2 * math.pi * f1 * t * 2.3 + self.phase) + math.sin(2 * math.pi * f2 * t * 1.9)
                )
                y += 0.5 * a * math.sin(2 * math.pi * f3 * t * 2.7 + 2 * self.phase)
        return x, y

    def draw(self, img: Image, t: float) -> None:
        """Draw the mover at time ``t``."""
        x, y = self.pos(t)
        if x < -0.3 or x > 1.3:
            return
        if self.kind == "vehicle":
            w, h = self.size, self.size * 0.38
            fill_rect(img, x - w / 2, y - h, x + w / 2, y, self.color)
            fill_rect(img, x - w * 0.3, y - h * 0.95, x + w * 0.25, y - h * 0.55, (0.15, 0.18, 0.22))
            for wx in (x - w * 0.3, x + w * 0.3):
                fill_disc(img, wx, y, h * 0.22, (0.05, 0.05, 0.05))
            return
        hp = self.size
        if t >= self.fallen_at:
            fill_rect(img, x - hp * 0.5, y - hp * 0.22, x + hp * 0.4, y, self.color)
            fill_disc(img, x + hp * 0.5, y - hp * 0.12, hp * 0.11, (0.85, 0.7, 0.55))
            return
        bob = 0.02 * hp * math.sin(2 * math.pi * 1.8 * t + self.phase)
        fill_rect(img, x - hp * 0.15, y - hp * 0.45 + bob, x + hp * 0.15, y, self.color2)
        fill_rect(img, x - hp * 0.18, y - hp * 0.8 + bob, x + hp * 0.18, y - hp * 0.42 + bob, self.color)
        fill_disc(img, x, y - hp * 0.9 + bob, hp * 0.11, (0.85, 0.7, 0.55))


@dataclass
class Background:
    """Static backdrop: sky/wall, ground, buildings or furniture, an optional door and window."""

    style: str
    params: dict[str, object]
    door: tuple[float, float, float, float] | None
    window: tuple[float, float, float, float] | None
    horizon: float
    road: tuple[float, float] | None
    _cache: dict[tuple[int, int], Image] = field(default_factory=dict)
    photo: NDArray[np.uint8] | None = None  # a real photograph in place of the drawn backdrop

    @classmethod
    def random(cls, rng: np.random.Generator) -> Background:
        """Pick a style (street, indoor, parking, park) and its colours and layout."""
        style = str(rng.choice(["street", "indoor", "parking", "park"]))
        horizon = float(rng.uniform(0.3, 0.5))
        road = (
            (float(rng.uniform(0.55, 0.7)), float(rng.uniform(0.75, 0.85)))
            if style in ("street", "parking")
            else None
        )
        boxes = []
        for _ in range(int(rng.integers(2, 7))):
            x0 = float(rng.uniform(0, 0.9))
            bw = float(rng.uniform(0.08, 0.35))
            top = float(rng.uniform(0.0, horizon - 0.05))
            boxes.append((x0, top, x0 + bw, horizon, _color(rng, 0.15, 0.8)))
        door = None
        if rng.random() < 0.5:
            dx = float(rng.uniform(0.05, 0.85))
            door = (dx, horizon - 0.22, dx + 0.08, horizon + 0.02)
        window = None
        if rng.random() < 0.6:
            wx = float(rng.uniform(0.05, 0.75))
            wy = float(rng.uniform(0.05, max(horizon - 0.25, 0.06)))
            window = (wx, wy, wx + float(rng.uniform(0.12, 0.22)), wy + float(rng.uniform(0.1, 0.18)))
        params: dict[str, object] = {
            "sky": _color(rng, 0.3, 0.9),
            "ground": _color(rng, 0.15, 0.6),
            "boxes": boxes,
            "texture": float(rng.uniform(0.01, 0.06)),
            "tex_seed": int(rng.integers(1 << 30)),
            "grad": float(rng.uniform(-0.2, 0.2)),
        }
        bg = cls(style, params, door, window, horizon, road)
        if backdrop_source is not None:
            bg.photo = backdrop_source(np.random.default_rng([int(params["tex_seed"]), 1]))  # type: ignore[call-overload]
        return bg

    def image(self, h: int, w: int) -> Image:
        """The backdrop at ``h`` x ``w`` (cached); callers must copy before drawing."""
        key = (h, w)
        if key not in self._cache:
            p = self.params
            img = np.empty((h, w, 3), np.float32)
            img[:] = np.asarray(p["sky"], np.float32)
            grad = np.linspace(1 + float(p["grad"]), 1 - float(p["grad"]), h, dtype=np.float32)  # type: ignore[arg-type]
            img *= grad[:, None, None]
            fill_rect(img, 0, self.horizon, 1, 1, p["ground"])  # type: ignore[arg-type]
            for x0, y0, x1, y1, c in p["boxes"]:  # type: ignore[attr-defined]
                fill_rect(img, x0, y0, x1, y1, c)
            if self.road:
                fill_rect(img, 0, self.road[0], 1, self.road[1], (0.25, 0.25, 0.27))
                for lx in np.arange(0.05, 1, 0.2):
                    fill_rect(
                        img,
                        lx,
                        sum(self.road) / 2 - 0.005,
                        lx + 0.08,
                        sum(self.road) / 2 + 0.005,
                        (0.8, 0.8, 0.7),
                    )
            if self.photo is not None:
                img[:] = _fit(self.photo, h, w)
            if self.door:
                fill_rect(img, *self.door, (0.35, 0.22, 0.12))
            if self.window:
                x0, y0, x1, y1 = self.window
                fill_rect(img, x0 - 0.01, y0 - 0.01, x1 + 0.01, y1 + 0.01, (0.2, 0.2, 0.2))
                fill_rect(img, x0, y0, x1, y1, (0.6, 0.75, 0.85))
            trng = np.random.default_rng(int(p["tex_seed"]))  # type: ignore[call-overload]
            img += float(p["texture"]) * trng.standard_normal((h, w, 1)).astype(np.float32)  # type: ignore[arg-type]
            self._cache[key] = np.clip(img, 0, 1)
        return self._cache[key]


@dataclass
class Scene:
    """A seeded synthetic scene of ``duration_s`` seconds; add events, then render."""

    seed: int
    duration_s: float
    background: Background
    movers: list[Mover]
    brightness: float
    drift_amp: float
    drift_period: float
    tint: Color
    noise_sigma: float
    jpeg_quality: int
    bed: dict[str, float]
    mic_gain: float
    events: list[Event] = field(default_factory=list)
    bg_music_singer: bool = False

    @classmethod
    def random(cls, rng: np.random.Generator, duration_s: float, busy: float | None = None) -> Scene:
        """A random everyday scene (nothing anomalous yet)."""
        bg = Background.random(rng)
        busy = float(rng.random()) if busy is None else busy
        movers = [random_person(rng, bg) for _ in range(int(rng.integers(0, 2 + int(4 * busy))))]
        if bg.road is not None:
            for _ in range(int(rng.integers(0, 3))):
                movers.append(random_vehicle(rng, bg))
        bed = {
            "ambience": float(rng.uniform(0.004, 0.03)),
            "ambience_alpha": float(rng.uniform(0.5, 2.0)),
            "traffic": float(rng.uniform(0.01, 0.05)) if (bg.road is not None or rng.random() < 0.2) else 0.0,
            "babble": float(rng.uniform(0.005, 0.04)) if rng.random() < 0.45 else 0.0,
            "babble_voices": float(rng.integers(2, 6)),
            "music": float(rng.uniform(0.005, 0.035)) if rng.random() < 0.25 else 0.0,
            "mic_noise": float(rng.uniform(0.0005, 0.004)),
        }
        return cls(
            seed=int(rng.integers(1 << 31)),
            duration_s=duration_s,
            background=bg,
            movers=movers,
            brightness=float(rng.uniform(0.45, 1.1)),
            drift_amp=float(rng.uniform(0, 0.12)),
            drift_period=float(rng.uniform(5, 40)),
            tint=_color(rng, -0.05, 0.05),
            noise_sigma=float(rng.uniform(0.003, 0.03)),
            jpeg_quality=int(rng.integers(35, 92)),
            bed=bed,
            mic_gain=float(rng.uniform(0.4, 1.5)),
            bg_music_singer=bool(rng.random() < 0.4),
        )

    def add(self, event: Event, rng: np.random.Generator) -> None:
        """Attach an event; it may change the scene (add people, make them flee)."""
        event.setup(self, rng)
        self.events.append(event)

    def labels(self, t0: float, t1: float, min_overlap_s: float = 0.25) -> dict[str, bool]:
        """Ground truth for the window [t0, t1): a class is present if an event labelled with it
        overlaps the window by at least ``min_overlap_s`` (or covers it entirely)."""
        present = {c: False for c in CLASSES}
        need = min(min_overlap_s, (t1 - t0) / 2)
        for ev in self.events:
            a, b = ev.t0, ev.t0 + ev.label_dur
            if min(b, t1) - max(a, t0) >= need or (a <= t0 and b >= t1):
                for c in ev.classes:
                    present[c] = True
        present["normal"] = not any(present[c] for c in CLASSES if c != "normal")
        return present

    def frame(self, t: float, h: int, w: int) -> np.ndarray:
        """Render the camera picture at time ``t`` as uint8 [h, w, 3] (sensor noise, no codec)."""
        img = self.background.image(h, w).copy()
        for ev in self.events:
            ev.draw_background(img, t, self)
        for m in sorted(self.movers, key=lambda m: m.pos(t)[1]):
            m.draw(img, t)
        for ev in self.events:
            ev.draw(img, t, self)
        gain = self.brightness * (1 + self.drift_amp * math.sin(2 * math.pi * t / self.drift_period))
        tint = np.asarray(self.tint, np.float32)
        shake = 0.0
        for ev in self.events:
            g, tt, s = ev.light(t)
            gain += g
            tint = tint + np.asarray(tt, np.float32)
            shake += s
        img = img * gain + tint
        frng = np.random.default_rng([self.seed, math.floor(t * 1000 + 0.5) + 7, h])
        if shake > 0:
            dx, dy = (frng.standard_normal(2) * shake * w / 112).round().astype(int)
            img = shift(img, int(dx), int(dy))
        img += frng.standard_normal(img.shape, dtype=np.float32) * self.noise_sigma
        frame: np.ndarray = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return frame

    def audio(self, sr: int) -> np.ndarray:
        """Render the whole soundtrack, float32 mono [round(duration_s * sr)] in [-1, 1]."""
        n = math.floor(self.duration_s * sr + 0.5)
        rng = np.random.default_rng([self.seed, sr, 1])
        b = self.bed
        out = b["ambience"] * sounds.colored_noise(rng, n, b["ambience_alpha"])
        if b["traffic"] > 0:
            out += (
                b["traffic"]
                * sounds.band_noise(rng, n, sr, 30, 900)
                * (0.3 + sounds.smooth_envelope(rng, n, sr, 0.3))
            )
        if b["babble"] > 0:
            out += b["babble"] * sounds.babble(rng, n, sr, int(b["babble_voices"]))
        if b["music"] > 0:
            out += b["music"] * sounds.music(rng, n, sr, self.bg_music_singer)
        for i, ev in enumerate(self.events):
            ev.sound(out, sr, np.random.default_rng([self.seed, sr, 100 + i]), self)
        out = out * self.mic_gain + b["mic_noise"] * rng.standard_normal(n).astype(np.float32)
        clipped: np.ndarray = np.clip(out, -1.0, 1.0).astype(np.float32)
        return clipped


def _fit(photo: NDArray[np.uint8], h: int, w: int) -> Image:
    """A photograph resized to ``h`` x ``w`` as float32 in [0, 1]."""
    from PIL import Image as PILImage

    im = PILImage.fromarray(photo).resize((w, h), PILImage.Resampling.BILINEAR)
    return np.asarray(im, np.float32) * np.float32(1.0 / 255.0)


def random_person(rng: np.random.Generator, bg: Background, speed: float | None = None) -> Mover:
    """A walking person somewhere on the ground."""
    y = float(rng.uniform(bg.horizon + 0.08, 0.95))
    size = 0.1 + 0.32 * (y - bg.horizon) / (1 - bg.horizon)
    sp = float(rng.uniform(0.0, 0.12)) if speed is None else speed
    ang = float(rng.uniform(0, 2 * math.pi))
    return Mover(
        "person",
        float(rng.uniform(0.05, 0.95)),
        y,
        sp * math.cos(ang),
        0.3 * sp * math.sin(ang),
        size,
        _color(rng),
        _color(rng, 0.05, 0.5),
        bg.horizon + 0.08,
        0.97,
        phase=float(rng.uniform(0, 6.3)),
    )


def random_vehicle(rng: np.random.Generator, bg: Background) -> Mover:
    """A car driving along the road."""
    lo, hi = bg.road if bg.road else (0.6, 0.8)
    y = float(rng.uniform(lo + 0.04, hi))
    v = float(rng.uniform(0.1, 0.4)) * float(rng.choice([-1, 1]))
    return Mover(
        "vehicle",
        float(rng.uniform(0, 1)),
        y,
        v,
        0.0,
        float(rng.uniform(0.16, 0.3)),
        _color(rng),
        _color(rng),
        y,
        y + 1e-6,
    )
