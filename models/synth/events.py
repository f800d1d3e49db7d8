"""Incidents and hard negatives: each adds a visual and/or audio signature to a :class:`Scene`.

Incident classes follow :data:`models.contract.CLASSES`. Hard negatives share generators with
incidents on purpose (a slammed door uses the gunshot's :func:`sounds.bang`, an exposure flash
looks like an off-screen explosion, a jogger runs like someone fleeing a scream), so that one
modality alone is ambiguous and the fusion model must combine both.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from models.synth import sounds
from models.synth.draw import Color, Image, fill_disc, fill_rect
from models.synth.scene import Mover, Scene, random_person

NO_LIGHT: tuple[float, Color, float] = (0.0, (0.0, 0.0, 0.0), 0.0)


@dataclass
class Event:
    """Base event at ``t0`` seconds (scene time); ``classes`` it makes positive for ``label_dur`` s."""

    t0: float
    classes: tuple[str, ...] = ()
    label_dur: float = 1.0
    visible: bool = True
    audible: bool = True
    p: dict[str, float] = field(default_factory=dict)

    def setup(self, scene: Scene, rng: np.random.Generator) -> None:
        """Sample parameters and change the scene (called once by :meth:`Scene.add`)."""

    def draw_background(self, img: Image, t: float, scene: Scene) -> None:
        """Draw changes to the static background (before movers are drawn)."""

    def draw(self, img: Image, t: float, scene: Scene) -> None:
        """Draw in front of the movers."""

    def light(self, t: float) -> tuple[float, Color, float]:
        """Global (gain offset, tint, shake in px at 112 wide) at time ``t``."""
        return NO_LIGHT

    def sound(self, out: np.ndarray, sr: int, rng: np.random.Generator, scene: Scene) -> None:
        """Mix the event's sound into the scene's soundtrack ``out``."""


def _ensure_people(scene: Scene, rng: np.random.Generator, k: int) -> list[Mover]:
    people = [m for m in scene.movers if m.kind == "person"]
    while len(people) < k:
        m = random_person(rng, scene.background)
        scene.movers.append(m)
        people.append(m)
    return people


def _flash(
    t: float, t0: float, dur: float, gain: float, tint: Color, shake: float
) -> tuple[float, Color, float]:
    if t < t0 or t > t0 + dur:
        return NO_LIGHT
    k = 1.0 - (t - t0) / dur
    return gain * k, (tint[0] * k, tint[1] * k, tint[2] * k), shake * k


# ---------------------------------------------------------------- incidents
class Gunshot(Event):
    """1-3 bangs, a muzzle flash at the shooter and people scattering away from it."""

    def setup(self, scene: Scene, rng: np.random.Generator) -> None:
        self.classes = ("gunshot",)
        self.label_dur = 1.5
        bg = scene.background
        self.p = {
            "sx": float(rng.uniform(0.05, 0.95)),
            "sy": float(rng.uniform(bg.horizon + 0.1, 0.95)),
            "shots": float(rng.choice([1, 1, 2, 3])),
            "gap": float(rng.uniform(0.15, 0.5)),
            "gain": float(rng.uniform(0.3, 1.0)),
            "flash_r": float(rng.uniform(0.025, 0.05)),
        }
        if self.visible:
            for m in _ensure_people(scene, rng, int(rng.integers(2, 5))):
                x, y = m.pos(self.t0)
                dx, dy = x - self.p["sx"], y - self.p["sy"]
                norm = math.hypot(dx, dy) + 1e-3
                sp = float(rng.uniform(0.45, 0.9))
                m.run_at = self.t0 + float(rng.uniform(0.0, 0.15))
                m.run_vx, m.run_vy = sp * dx / norm, 0.4 * sp * dy / norm
                if rng.random() < 0.15:
                    m.fallen_at = m.run_at + 0.2
                    m.run_vx = m.run_vy = 0.0

    def draw(self, img: Image, t: float, scene: Scene) -> None:
        if not self.visible:
            return
        sx, sy = self.p["sx"], self.p["sy"]
        fill_rect(img, sx - 0.02, sy - 0.14, sx + 0.02, sy, (0.08, 0.08, 0.1))
        fill_disc(img, sx, sy - 0.16, 0.018, (0.1, 0.1, 0.1))
        for k in range(int(self.p["shots"])):
            ts = self.t0 + k * self.p["gap"]
            if ts <= t <= ts + 0.3:
                fill_disc(img, sx + 0.04, sy - 0.11, self.p["flash_r"], (1.0, 0.95, 0.6), soft=1.0)

    def sound(self, out: np.ndarray, sr: int, rng: np.random.Generator, scene: Scene) -> None:
        if not self.audible:
            return
        for k in range(int(self.p["shots"])):
            sounds.add_at(out, sounds.bang(rng, sr), int((self.t0 + k * self.p["gap"]) * sr), self.p["gain"])


class Explosion(Event):
    """A boom; on screen a growing fireball and smoke, off screen only a flash of light; both shake."""

    def setup(self, scene: Scene, rng: np.random.Generator) -> None:
        self.classes = ("explosion",)
        self.label_dur = 2.0
        self.p = {
            "x": float(rng.uniform(0.15, 0.85)),
            "y": float(rng.uniform(0.3, 0.8)),
            "r": float(rng.uniform(0.12, 0.3)),
            "gain": float(rng.uniform(0.6, 1.0)),
            "onscreen": float(rng.random() < 0.5),
            "lg": float(rng.uniform(0.3, 0.8)),
            "ld": float(rng.uniform(0.3, 0.9)),
            "shake": float(rng.uniform(0, 4)) if rng.random() < 0.6 else 0.0,
        }
        self.tint: Color = (
            float(rng.uniform(0.0, 0.2)),
            float(rng.uniform(0.0, 0.1)),
            float(rng.uniform(-0.1, 0.05)),
        )

    def draw(self, img: Image, t: float, scene: Scene) -> None:
        if not self.visible or not self.p["onscreen"] or t < self.t0:
            return
        dt = t - self.t0
        x, y, r = self.p["x"], self.p["y"], self.p["r"]
        smoke_r = r * min(0.5 + dt, 1.6)
        fill_disc(img, x, y - 0.1 * dt, smoke_r, (0.35, 0.35, 0.36), alpha=min(0.3 + dt, 0.85), soft=0.3)
        if dt < 1.0:
            fill_disc(img, x, y, r * min(0.3 + 1.4 * dt, 1.0), (1.0, 0.6, 0.15), alpha=1 - dt, soft=0.6)
            fill_disc(img, x, y, r * 0.4 * min(0.3 + 2 * dt, 1.0), (1.0, 0.95, 0.7), alpha=1 - dt, soft=0.3)

    def light(self, t: float) -> tuple[float, Color, float]:
        if not self.visible:
            return NO_LIGHT
        return _flash(t, self.t0, self.p["ld"], self.p["lg"], self.tint, self.p["shake"])

    def sound(self, out: np.ndarray, sr: int, rng: np.random.Generator, scene: Scene) -> None:
        if self.audible:
            sounds.add_at(out, sounds.boom(rng, sr), int(self.t0 * sr), self.p["gain"])


class Scream(Event):
    """A scream; seen: a person breaks into a run; off camera: sound only (heard, not seen)."""

    def setup(self, scene: Scene, rng: np.random.Generator) -> None:
        self.classes = ("scream",)
        self.label_dur = 1.2
        self.p = {"gain": float(rng.uniform(0.15, 0.6) if self.visible else rng.uniform(0.1, 0.4))}
        if self.visible:
            m = random_person(rng, scene.background, speed=0.02)
            scene.movers.append(m)
            _run(m, rng, self.t0)

    def sound(self, out: np.ndarray, sr: int, rng: np.random.Generator, scene: Scene) -> None:
        if self.audible:
            sounds.add_at(out, sounds.scream(rng, sr), int(self.t0 * sr), self.p["gain"])


def _run(m: Mover, rng: np.random.Generator, t: float) -> None:
    sp = float(rng.uniform(0.45, 0.8)) * float(rng.choice([-1, 1]))
    m.run_at = t
    m.run_vx, m.run_vy = sp, float(rng.uniform(-0.05, 0.05))


class Fight(Event):
    """Two or three people close together moving erratically; audible: shouting and thuds."""

    def setup(self, scene: Scene, rng: np.random.Generator) -> None:
        self.classes = ("fight",)
        self.label_dur = float(self.p.get("dur", rng.uniform(2.5, 8.0)))
        self.p = {"gain": float(rng.uniform(0.08, 0.25)), "dur": self.label_dur}
        _couple(scene, rng, self.t0, periodic=False, amp=float(rng.uniform(0.025, 0.06)))

    def sound(self, out: np.ndarray, sr: int, rng: np.random.Generator, scene: Scene) -> None:
        if not self.audible:
            return
        n = int(self.label_dur * sr)
        sounds.add_at(out, sounds.shouting(rng, n, sr), int(self.t0 * sr), self.p["gain"])


def _couple(scene: Scene, rng: np.random.Generator, t0: float, periodic: bool, amp: float) -> None:
    bg = scene.background
    cx = float(rng.uniform(0.2, 0.8))
    cy = float(rng.uniform(bg.horizon + 0.15, 0.92))
    for k in range(int(rng.integers(2, 4))):
        m = random_person(rng, bg, speed=0.0)
        m.x0, m.y0 = cx + (k - 0.5) * float(rng.uniform(0.03, 0.07)), cy + float(rng.uniform(-0.02, 0.02))
        m.size = 0.1 + 0.32 * (m.y0 - bg.horizon) / (1 - bg.horizon)
        m.jitter_from = t0 if not periodic else -math.inf
        m.jitter_amp = amp * float(rng.uniform(0.7, 1.3))
        m.periodic = periodic
        m.phase = float(rng.uniform(0, 6.3)) if not periodic else k * math.pi
        m.jitter_freqs = (
            float(rng.uniform(0.6, 1.6)),
            float(rng.uniform(0.6, 1.6)),
            float(rng.uniform(0.6, 1.6)),
        )
        if not periodic and rng.random() < 0.2:
            m.fallen_at = t0 + float(rng.uniform(0.3, 1.5))
        scene.movers.append(m)


class GlassBreak(Event):
    """A window shatters: hole, falling glints, a crack and tinkling."""

    def setup(self, scene: Scene, rng: np.random.Generator) -> None:
        self.classes = ("glass_break",)
        self.label_dur = 1.2
        bg = scene.background
        if bg.window is None:
            wx = float(rng.uniform(0.05, 0.75))
            wy = float(rng.uniform(0.05, max(bg.horizon - 0.25, 0.06)))
            bg.window = (wx, wy, wx + float(rng.uniform(0.12, 0.22)), wy + float(rng.uniform(0.1, 0.18)))
            bg._cache.clear()
        x0, y0, x1, y1 = bg.window
        k = int(rng.integers(15, 40))
        self.frag = np.stack(
            [
                rng.uniform(x0, x1, k),
                rng.uniform(y0, y1, k),
                rng.uniform(-0.15, 0.15, k),
                rng.uniform(-0.2, 0.1, k),
                rng.uniform(0.006, 0.014, k),
            ],
            axis=1,
        )
        self.p = {"gain": float(rng.uniform(0.2, 0.7))}

    def draw_background(self, img: Image, t: float, scene: Scene) -> None:
        if self.visible and t >= self.t0 and scene.background.window:
            x0, y0, x1, y1 = scene.background.window
            fill_rect(img, x0 + 0.01, y0 + 0.01, x1 - 0.01, y1 - 0.01, (0.05, 0.05, 0.07))

    def draw(self, img: Image, t: float, scene: Scene) -> None:
        if not self.visible or not (self.t0 <= t <= self.t0 + 1.2):
            return
        dt = t - self.t0
        for fx, fy, vx, vy, r in self.frag:
            y = fy + vy * dt + 0.9 * dt * dt
            if y < 1.0:
                fill_disc(img, fx + vx * dt, y, r, (0.9, 0.97, 1.0))

    def sound(self, out: np.ndarray, sr: int, rng: np.random.Generator, scene: Scene) -> None:
        if self.audible:
            sounds.add_at(out, sounds.shatter(rng, sr), int(self.t0 * sr), self.p["gain"])


# ---------------------------------------------------------------- hard negatives
class DoorSlam(Event):
    """A bang like a gunshot's, but nothing happens in the picture (at most the door moves)."""

    def setup(self, scene: Scene, rng: np.random.Generator) -> None:
        self.p = {
            "gain": float(rng.uniform(0.25, 1.0)),
            "bangs": float(rng.choice([1, 1, 1, 2])),
            "gap": float(rng.uniform(0.15, 0.5)),
        }

    def draw_background(self, img: Image, t: float, scene: Scene) -> None:
        d = scene.background.door
        if d is not None and t < self.t0:
            fill_rect(img, d[0], d[1], d[2], d[3], (0.08, 0.07, 0.06))  # open door: dark gap

    def sound(self, out: np.ndarray, sr: int, rng: np.random.Generator, scene: Scene) -> None:
        for k in range(int(self.p["bangs"])):
            sounds.add_at(out, sounds.bang(rng, sr), int((self.t0 + k * self.p["gap"]) * sr), self.p["gain"])


class ExposureFlash(Event):
    """The camera's exposure jumps (or a car's headlights sweep): light without sound."""

    def setup(self, scene: Scene, rng: np.random.Generator) -> None:
        self.p = {
            "lg": float(rng.uniform(0.25, 0.8)),
            "ld": float(rng.uniform(0.3, 0.9)),
            "shake": float(rng.uniform(0, 3)) if rng.random() < 0.4 else 0.0,
        }
        self.tint: Color = (
            float(rng.uniform(-0.05, 0.2)),
            float(rng.uniform(-0.05, 0.12)),
            float(rng.uniform(-0.1, 0.1)),
        )

    def light(self, t: float) -> tuple[float, Color, float]:
        return _flash(t, self.t0, self.p["ld"], self.p["lg"], self.tint, self.p["shake"])


class LightsChange(Event):
    """Lights switched on or off: a lasting step in brightness, silent."""

    def setup(self, scene: Scene, rng: np.random.Generator) -> None:
        self.p = {"step": float(rng.uniform(-0.35, 0.35))}

    def light(self, t: float) -> tuple[float, Color, float]:
        return (self.p["step"], (0.0, 0.0, 0.0), 0.0) if t >= self.t0 else NO_LIGHT


class Jogger(Event):
    """Someone runs through the picture, silently (fast motion that is not an incident)."""

    def setup(self, scene: Scene, rng: np.random.Generator) -> None:
        m = random_person(rng, scene.background, speed=0.02)
        scene.movers.append(m)
        _run(m, rng, self.t0 if rng.random() < 0.5 else -10.0)
        if m.run_at is not None and m.run_at < 0:
            m.x0 = float(rng.uniform(0.1, 0.9)) - m.run_vx * (self.t0 + 10.0)


class Dance(Event):
    """Two or three people moving together to loud music (close, rhythmic motion)."""

    def setup(self, scene: Scene, rng: np.random.Generator) -> None:
        _couple(scene, rng, self.t0, periodic=True, amp=float(rng.uniform(0.02, 0.05)))
        scene.bed["music"] = float(rng.uniform(0.08, 0.25))


class LoudMusic(Event):
    """Loud music, often with a singer's high notes."""

    def setup(self, scene: Scene, rng: np.random.Generator) -> None:
        scene.bed["music"] = float(rng.uniform(0.08, 0.3))
        scene.bg_music_singer = bool(rng.random() < 0.7)


class LoudCrowd(Event):
    """A loud, animated crowd talking (no fight)."""

    def setup(self, scene: Scene, rng: np.random.Generator) -> None:
        scene.bed["babble"] = float(rng.uniform(0.06, 0.18))
        scene.bed["babble_voices"] = float(rng.integers(5, 10))
        _ensure_people(scene, rng, int(rng.integers(3, 6)))


class Clatter(Event):
    """Dishes or cutlery clattering: tinkles like breaking glass, without the crack or the hole."""

    def setup(self, scene: Scene, rng: np.random.Generator) -> None:
        self.p = {"gain": float(rng.uniform(0.1, 0.5))}

    def sound(self, out: np.ndarray, sr: int, rng: np.random.Generator, scene: Scene) -> None:
        s = sounds.tinkles(rng, sr, int(rng.integers(6, 30)), 1500, 6000, float(rng.uniform(0.3, 1.0)))
        sounds.add_at(out, s, int(self.t0 * sr), self.p["gain"])


EventFactory = Callable[[float], Event]

#: Incident renderers by class name (used by clip rendering: ``--incident 4:gunshot``).
INCIDENTS: dict[str, EventFactory] = {
    "fight": lambda t: Fight(t),
    "scream": lambda t: Scream(t),
    "gunshot": lambda t: Gunshot(t),
    "glass_break": lambda t: GlassBreak(t),
    "explosion": lambda t: Explosion(t),
}

#: Hard negatives by name.
HARD_NEGATIVES: dict[str, EventFactory] = {
    "door_slam": lambda t: DoorSlam(t),
    "exposure_flash": lambda t: ExposureFlash(t),
    "lights_change": lambda t: LightsChange(t),
    "jogger": lambda t: Jogger(t),
    "dance": lambda t: Dance(t),
    "loud_music": lambda t: LoudMusic(t),
    "loud_crowd": lambda t: LoudCrowd(t),
    "clatter": lambda t: Clatter(t),
}
