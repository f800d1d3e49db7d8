"""Labelled training/evaluation windows and incident scenes, reproducible by seed.

A *scenario* is a named recipe (an everyday scene, a hard negative, an incident with an
audio and/or visual signature). :func:`make_window` renders one window of
``WINDOW_S`` seconds exactly as the fusion service sees it: ``T`` JPEG-compressed frames at
``FPS`` and ``S`` audio samples. :func:`make_dataset` renders many, seeded per item, so a
held-out set from a different seed never shares a scene with training.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from models.contract import CLASSES, FPS, FRAME_HEIGHT, FRAME_WIDTH, SAMPLE_RATE, WINDOW_S
from models.synth import events as ev
from models.synth.scene import Scene

Builder = Callable[[Scene, np.random.Generator, float], None]


def _add(factory: ev.EventFactory, visible: bool = True, audible: bool = True, **override: float) -> Builder:
    def build(scene: Scene, rng: np.random.Generator, t: float) -> None:
        e = factory(t)
        e.visible, e.audible = visible, audible
        scene.add(e, rng)
        e.p.update(override)

    return build


def _both(*builders: Builder) -> Builder:
    def build(scene: Scene, rng: np.random.Generator, t: float) -> None:
        for i, b in enumerate(builders):
            b(scene, rng, t + 0.15 * i)

    return build


def _nothing(scene: Scene, rng: np.random.Generator, t: float) -> None:
    return None


def _busy(scene: Scene, rng: np.random.Generator, t: float) -> None:
    from models.synth.scene import random_person

    for _ in range(int(rng.integers(3, 7))):
        scene.movers.append(random_person(rng, scene.background))


INC, NEG = ev.INCIDENTS, ev.HARD_NEGATIVES
#: name -> (weight in the training mix, builder)
SCENARIOS: dict[str, tuple[float, Builder]] = {
    "normal": (0.14, _nothing),
    "normal_busy": (0.06, _busy),
    "lights_change": (0.03, _add(NEG["lights_change"])),
    "door_slam": (0.06, _add(NEG["door_slam"])),
    "exposure_flash": (0.06, _add(NEG["exposure_flash"])),
    "jogger": (0.05, _add(NEG["jogger"])),
    "dance": (0.04, _add(NEG["dance"])),
    "loud_music": (0.04, _add(NEG["loud_music"])),
    "loud_crowd": (0.03, _add(NEG["loud_crowd"])),
    "clatter": (0.04, _add(NEG["clatter"])),
    "fight": (0.06, _add(INC["fight"])),
    "fight_silent": (0.03, _add(INC["fight"], audible=False)),
    "fight_scream": (0.02, _both(_add(INC["fight"]), _add(INC["scream"], visible=False))),
    "scream_seen": (0.05, _add(INC["scream"])),
    "scream_offscreen": (0.05, _add(INC["scream"], visible=False)),
    "gunshot": (0.08, _add(INC["gunshot"])),
    "gunshot_scream": (0.02, _both(_add(INC["gunshot"]), _add(INC["scream"], visible=False))),
    "glass_break": (0.08, _add(INC["glass_break"])),
    "explosion": (0.08, _add(INC["explosion"])),
    "explosion_offscreen": (0.0, _add(INC["explosion"], onscreen=0.0)),
}

TRAIN_MIX: dict[str, float] = {k: w for k, (w, _) in SCENARIOS.items() if w > 0}

#: Scenario pairs where one modality alone is ambiguous (audio: gunshot vs door slam, fight
#: out of earshot; video: off-screen explosion vs exposure flash, scream vs jogger, a scream
#: heard off camera vs nothing, a fight vs dancing).
AMBIGUOUS_MIX: dict[str, float] = {
    "gunshot": 1.0,
    "door_slam": 1.0,
    "explosion_offscreen": 1.0,
    "exposure_flash": 1.0,
    "scream_seen": 1.0,
    "jogger": 1.0,
    "scream_offscreen": 1.0,
    "normal": 1.0,
    "fight_silent": 1.0,
    "dance": 1.0,
}

#: Incidents with a visual signature (what a camera without microphone can still catch).
VISIBLE_INCIDENTS = (
    "fight",
    "fight_silent",
    "fight_scream",
    "gunshot",
    "gunshot_scream",
    "glass_break",
    "explosion",
)

Array = NDArray[np.generic]


@dataclass(frozen=True)
class WindowSet:
    """A batch of labelled windows: frames uint8 [N,T,H,W,3], audio float32 [N,S], labels [N,C]."""

    frames: NDArray[np.uint8]
    audio: NDArray[np.float32]
    labels: NDArray[np.float32]
    scenarios: tuple[str, ...]

    @property
    def anomaly(self) -> NDArray[np.float32]:
        """1.0 where any incident class is present."""
        return (1.0 - self.labels[:, 0]).astype(np.float32)

    def __len__(self) -> int:
        return len(self.scenarios)


def jpeg_roundtrip(frame: NDArray[np.uint8], quality: int) -> NDArray[np.uint8]:
    """Encode and decode as JPEG (frames cross Kafka as JPEG)."""
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, "JPEG", quality=int(quality))
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"), dtype=np.uint8)


def build_scene(rng: np.random.Generator, scenario: str, duration_s: float, onset_s: float) -> Scene:
    """A random scene of ``duration_s`` with ``scenario``'s events starting at ``onset_s``."""
    scene = Scene.random(rng, duration_s)
    SCENARIOS[scenario][1](scene, rng, onset_s)
    return scene


def make_window(
    seed: int | list[int],
    scenario: str | None = None,
    mix: dict[str, float] | None = None,
    fps: int = FPS,
    height: int = FRAME_HEIGHT,
    width: int = FRAME_WIDTH,
    sample_rate: int = SAMPLE_RATE,
    window_s: float = WINDOW_S,
    jpeg: bool = True,
) -> tuple[NDArray[np.uint8], NDArray[np.float32], NDArray[np.float32], str]:
    """Render one labelled window: (frames [T,H,W,3] uint8, audio [S] float32, labels [C], scenario)."""
    rng = np.random.default_rng(seed)
    if scenario is None:
        mix = mix or TRAIN_MIX
        names = list(mix)
        w = np.asarray([mix[k] for k in names], np.float64)
        scenario = str(names[int(rng.choice(len(names), p=w / w.sum()))])
    pre = float(rng.uniform(0.0, 1.5))
    onset = pre + float(rng.uniform(0.05, 1.3))
    scene = build_scene(rng, scenario, pre + window_s + 0.05, onset)
    n_frames = round(window_s * fps)
    frames = np.stack([scene.frame(pre + k / fps, height, width) for k in range(n_frames)])
    if jpeg:
        frames = np.stack([jpeg_roundtrip(f, scene.jpeg_quality) for f in frames])
    s0 = round(pre * sample_rate)
    n_s = round(window_s * sample_rate)
    audio = scene.audio(sample_rate)[s0 : s0 + n_s]
    lab = scene.labels(pre, pre + window_s)
    labels = np.asarray([float(lab[c]) for c in CLASSES], np.float32)
    return frames, audio.astype(np.float32), labels, scenario


def make_dataset(
    n: int, seed: int, mix: dict[str, float] | None = None, progress: bool = False, **kwargs: int | float
) -> WindowSet:
    """Render ``n`` windows; item ``i`` uses the seed sequence ``[seed, i]``."""
    frames, audio, labels, names = [], [], [], []
    it: Iterable[int] = range(n)
    if progress:
        try:
            from tqdm import tqdm

            it = tqdm(range(n), desc=f"synth seed={seed}", unit="win", leave=False)
        except ImportError:  # pragma: no cover
            pass
    for i in it:
        f, a, y, s = make_window([seed, i], mix=mix, **kwargs)  # type: ignore[arg-type]
        frames.append(f)
        audio.append(a)
        labels.append(y)
        names.append(s)
    return WindowSet(np.stack(frames), np.stack(audio), np.stack(labels), tuple(names))
