"""Labelled training/evaluation windows built from the real-sound corpus (numpy, no torch).

Sound comes from :func:`models.corpus.mixer.mix_window` (real recordings, camera microphone).
Pictures come from a :data:`FrameSource`: real footage (when the footage library is fetched)
or the synthetic generator, and an incident window shows the incident only sometimes — a
camera often hears what it cannot see, and where the video says nothing the model must lean
on sound. Item ``i`` of a set is rendered from the seed sequence ``[seed, i]``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from models.contract import FPS, WINDOW_S
from models.corpus.mixer import INCIDENT_CLASSES, REAL_MIX, SoundBank, mix_window
from models.synth.windows import WindowSet, build_scene, jpeg_roundtrip

#: synthetic scenario that shows each incident class (its sound is replaced by the real one)
VISIBLE_SCENARIO: dict[str, str] = {
    "fight": "fight_silent",
    "scream": "scream_seen",  # a person breaking into a run
    "gunshot": "gunshot",
    "glass_break": "glass_break",
    "explosion": "explosion",
}
#: silent look-alikes shown in everyday windows (visual hard negatives)
VISUAL_DISTRACTORS = ("normal", "normal", "normal_busy", "exposure_flash", "lights_change", "jogger", "dance")


class FrameSource(Protocol):
    """Gives the ``T`` frames of a window; ``incident`` is the class to show, or None for none."""

    def __call__(self, rng: np.random.Generator, incident: str | None) -> NDArray[np.uint8]: ...


def synthetic_frames(rng: np.random.Generator, incident: str | None) -> NDArray[np.uint8]:
    """Frames from the synthetic generator (its sound unused): the incident's look, or a normal or
    look-alike scene."""
    scenario = VISIBLE_SCENARIO[incident] if incident else str(rng.choice(VISUAL_DISTRACTORS))
    pre = float(rng.uniform(0.0, 1.0))
    scene = build_scene(rng, scenario, pre + WINDOW_S + 0.05, pre + float(rng.uniform(0.05, 1.3)))
    n_frames = round(WINDOW_S * FPS)
    return np.stack(
        [jpeg_roundtrip(scene.frame(pre + k / FPS, 112, 112), scene.jpeg_quality) for k in range(n_frames)]
    )


#: everyday sounds that a microphone alone confuses with incidents (bangs, crashes, thunder, cries
#: of a crowd): the audio side of the ambiguous set
SOUND_ALIKES: tuple[str, ...] = ("door", "impact", "thunder", "other", "vehicle", "applause", "footsteps")


def make_real_dataset(
    bank: SoundBank,
    n: int,
    seed: int,
    frames: FrameSource = synthetic_frames,
    mix: dict[str, float] | None = None,
    visible_probability: float = 0.3,
    progress: bool = False,
    negatives: tuple[str, ...] | None = None,
) -> WindowSet:
    """Render ``n`` labelled windows mixed from ``bank``; incident classes are drawn uniformly
    among those the bank has, so scarce classes are not drowned out. ``negatives`` limits the
    everyday events to those classes."""
    mix = mix or REAL_MIX
    kinds = list(mix)
    weights = np.asarray([mix[k] for k in kinds], np.float64)
    weights /= weights.sum()
    incident_classes = [c for c in INCIDENT_CLASSES if c in bank.classes("event")]
    if not incident_classes:
        kinds = [k for k in kinds if k != "incident"]
        weights = np.asarray([mix[k] for k in kinds], np.float64)
        weights /= weights.sum()
    all_frames, audio, labels, names = [], [], [], []
    it: Iterable[int] = range(n)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc=f"real mix seed={seed}", unit="win", leave=False)
    for i in it:
        rng = np.random.default_rng([seed, i])
        kind = kinds[int(rng.choice(len(kinds), p=weights))]
        cls = incident_classes[int(rng.integers(len(incident_classes)))] if kind == "incident" else None
        window = mix_window(bank, rng, kind, cls, negatives=negatives)
        shown = cls if (cls is not None and rng.random() < visible_probability) else None
        all_frames.append(frames(rng, shown))
        audio.append(window.audio)
        labels.append(window.labels)
        names.append(window.scenario + (":seen" if shown else ""))
    return WindowSet(np.stack(all_frames), np.stack(audio), np.stack(labels), tuple(names))


def default_frame_source(corpus_dir: str) -> FrameSource:
    """Real footage (with composited incidents and look-alikes) when the footage library has been
    fetched into ``corpus_dir``, mixed half and half with the synthetic generator in randomised
    rendering styles; the generator alone otherwise."""
    from models.corpus.visual import (
        EVENT_KINDS,
        NEGATIVE_KINDS,
        FootageError,
        FootageLibrary,
        camera,
        composite_event,
        stylize,
    )

    try:
        library = FootageLibrary.load(corpus_dir)
    except FootageError:
        return synthetic_frames
    kinds: dict[str, list[str]] = {}
    for kind, cls in EVENT_KINDS.items():
        kinds.setdefault(cls, []).append(kind)

    def frames(rng: np.random.Generator, incident: str | None) -> NDArray[np.uint8]:
        if rng.random() < 0.5:
            synth = synthetic_frames(rng, incident)
            return camera(stylize(synth, rng), rng) if rng.random() < 0.5 else synth
        if incident is not None and incident not in kinds:
            return synthetic_frames(rng, incident)  # no drawing of this class on footage: the generator's
        if incident is None and rng.random() >= 0.2:
            return library.window(rng)
        # draw on the scene, then the camera: the event is degraded like everything else
        choices = kinds[incident] if incident is not None else list(NEGATIVE_KINDS)
        drawn, _ = composite_event(library.scene(rng), rng, choices[int(rng.integers(len(choices)))])
        out: NDArray[np.uint8] = camera(drawn, rng)
        return out

    return frames


def make_ambiguous_real_dataset(bank: SoundBank, n: int, seed: int, corpus_dir: str) -> WindowSet:
    """Windows where neither modality alone settles every case (the real-sound counterpart of
    :data:`models.synth.windows.AMBIGUOUS_MIX`), in two halves:

    - the microphone is fooled: incidents shown and heard, against sound-alikes (doors, crashes,
      thunder) with an ordinary picture — the picture tells them apart;
    - the camera is fooled: incidents heard but not shown, against look-alike pictures (light
      flashes, people running or dancing) with ordinary sound — the sound tells them apart.
    """
    source = default_frame_source(corpus_dir)
    incident_classes = [c for c in INCIDENT_CLASSES if c in bank.classes("event")]
    n_frames = round(WINDOW_S * FPS)

    def look_alike(rng: np.random.Generator) -> NDArray[np.uint8]:
        scenario = str(rng.choice(("exposure_flash", "jogger", "dance", "lights_change")))
        pre = float(rng.uniform(0.0, 1.0))
        scene = build_scene(rng, scenario, pre + WINDOW_S + 0.05, pre + float(rng.uniform(0.05, 1.3)))
        return np.stack(
            [
                jpeg_roundtrip(scene.frame(pre + k / FPS, 112, 112), scene.jpeg_quality)
                for k in range(n_frames)
            ]
        )

    frames, audio, labels, names = [], [], [], []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        mic_fooled, incident = bool(rng.random() < 0.5), bool(rng.random() < 0.5)
        if incident:
            cls = incident_classes[int(rng.integers(len(incident_classes)))]
            window = mix_window(bank, rng, "incident", cls)
            picture = source(rng, cls) if mic_fooled else source(rng, None)
        elif mic_fooled:
            window = mix_window(bank, rng, "negative", negatives=SOUND_ALIKES)
            picture = source(rng, None)
        else:
            window = mix_window(bank, rng, "ambience" if rng.random() < 0.5 else "negative")
            picture = look_alike(rng)
        frames.append(picture)
        audio.append(window.audio)
        labels.append(window.labels)
        names.append(("mic_fooled:" if mic_fooled else "camera_fooled:") + window.scenario)
    return WindowSet(np.stack(frames), np.stack(audio), np.stack(labels), tuple(names))
