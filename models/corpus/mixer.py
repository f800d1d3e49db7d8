"""Scenes that sound like a camera microphone, mixed from real recordings (numpy, no torch).

A :class:`SoundBank` holds the corpus clips of some source packages, grouped by role (``event``:
an incident class, ``negative``: an everyday event, ``bed``: ambience). :func:`mix_window`
renders one labelled 2 s window the way a camera would hear it: one or two ambience beds, maybe
everyday events, maybe one incident at a random signal-to-noise ratio, each event varied in
speed and placed in a random room (reverberation, distance), then the camera's microphone,
gain, clipping and AAC round trip (:mod:`models.corpus.camera_audio`). :func:`mix_timeline`
does the same for a long clip with incidents at given times (evaluation footage).

Scarce classes are widened honestly: speed (pitch + tempo) variants and, for glass, layering
two different breaks; the model card states how few source recordings there are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from models.contract import CLASSES, SAMPLE_RATE, WINDOW_S
from models.corpus.camera_audio import (
    Audio,
    apply_eq,
    camera_chain,
    change_speed,
    convolve,
    rms,
    room_impulse,
)

INCIDENT_CLASSES: tuple[str, ...] = tuple(c for c in CLASSES if c != "normal")
ROLES = ("event", "negative", "bed")
#: scenario prefix of an ordinary window that holds everyday events (then their classes, "+"-joined)
NEGATIVE_SCENARIO = "real_negative:"

#: window kind -> weight in the training mix
REAL_MIX: dict[str, float] = {"incident": 0.45, "negative": 0.35, "ambience": 0.20}


@dataclass
class SoundBank:
    """Corpus clips by (role, class), at the model's sample rate, with the packages they came from."""

    clips: dict[tuple[str, str], list[Audio]] = field(default_factory=dict)
    origins: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    packages: set[str] = field(default_factory=set)
    #: when a set, every picked clip's origin ("package:member") is added to it (licence records)
    used: set[str] | None = None
    #: pick a source package first (uniformly among those with the class), then a clip of it, so
    #: one package's sound design does not dominate a class (fight: 155 of 211 train recordings
    #: are one game's melee hits); off: every clip of the class is equally likely
    balance_packages: bool = False

    def add(self, role: str, cls: str, audio: Audio, package: str = "", origin: str = "") -> None:
        """Add one clip (float32 mono in [-1, 1]) from ``package`` (``origin``: where inside it)."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r} (expected one of {ROLES})")
        if audio.size >= int(0.05 * SAMPLE_RATE):
            self.clips.setdefault((role, cls), []).append(audio.astype(np.float32))
            self.origins.setdefault((role, cls), []).append(f"{package}:{origin}")
            if package:
                self.packages.add(package)

    def classes(self, role: str) -> list[str]:
        """Classes that have at least one clip in ``role``, sorted."""
        return sorted(c for r, c in self.clips if r == role)

    def pick(self, rng: np.random.Generator, role: str, cls: str | None = None) -> tuple[str, Audio]:
        """A random clip of ``role`` (and ``cls``, or a random class of that role)."""
        names = self.classes(role)
        if not names:
            raise LookupError(f"the sound bank has no {role} clips")
        cls = cls if cls is not None else names[int(rng.integers(len(names)))]
        items = self.clips.get((role, cls))
        if not items:
            raise LookupError(f"the sound bank has no {role} clips of class {cls!r}")
        if self.balance_packages:
            origins = self.origins[(role, cls)]
            packages = sorted({o.split(":", 1)[0] for o in origins})
            package = packages[int(rng.integers(len(packages)))]
            of_package = [i for i, o in enumerate(origins) if o.split(":", 1)[0] == package]
            k = of_package[int(rng.integers(len(of_package)))]
        else:
            k = int(rng.integers(len(items)))
        if self.used is not None:
            self.used.add(self.origins[(role, cls)][k])
        return cls, items[k]

    def summary(self) -> dict[str, int]:
        """Clip counts as ``role/class`` -> n."""
        return {f"{r}/{c}": len(v) for (r, c), v in sorted(self.clips.items())}

    @classmethod
    def from_corpus(
        cls,
        corpus_dir: str | Path,
        splits: Iterable[str],
        manifest: str | Path | None = None,
    ) -> SoundBank:
        """Load every manifest entry whose package is in one of ``splits`` (train/val/test)."""
        from models.corpus.manifest import DEFAULT_MANIFEST, load_audio, load_manifest
        from models.corpus.split import split_of

        wanted = set(splits)
        bank = cls()
        for entry in load_manifest(manifest or DEFAULT_MANIFEST):
            if split_of(entry.package) in wanted:
                bank.add(entry.role, entry.cls, load_audio(entry, corpus_dir), entry.package, entry.member)
        return bank


def add_generator_sounds(
    bank: SoundBank, rng: np.random.Generator, glass: int = 40, beds: int = 24, everyday: int = 0
) -> None:
    """Widen the bank with Vigil's own generator where real recordings are scarce: breaking glass
    (a handful of real recordings exist), ambience beds (traffic, babble, music, hum: the corpus
    has little street sound) and, with ``everyday`` > 0, that many each of sirens, horns and
    alarms as hard negatives (the corpus has only a few real ones). Their origin
    is ``models.synth``; the model card says so."""
    from models.synth import sounds
    from models.synth.scene import Scene

    for i in range(glass):
        bank.add("event", "glass_break", sounds.shatter(rng, SAMPLE_RATE), "models.synth", f"shatter-{i}")
    for i in range(beds):
        bed = Scene.random(rng, 20.0).audio(SAMPLE_RATE)
        bank.add("bed", "generated", bed.astype(np.float32), "models.synth", f"scene-bed-{i}")
    # Drawn after the glass and beds, so adding them leaves those exactly as before.
    for i in range(everyday):
        bank.add("negative", "siren", sounds.siren(rng, SAMPLE_RATE), "models.synth", f"siren-{i}")
        bank.add("negative", "horn", sounds.horn(rng, SAMPLE_RATE), "models.synth", f"horn-{i}")
        bank.add("negative", "alarm", sounds.alarm(rng, SAMPLE_RATE), "models.synth", f"alarm-{i}")


def _segment(rng: np.random.Generator, clip: Audio, n: int) -> Audio:
    """``n`` samples of ``clip`` from a random offset, looped with short crossfades if too short."""
    if clip.size >= n:
        start = int(rng.integers(0, clip.size - n + 1))
        return clip[start : start + n]
    fade = min(800, clip.size // 4)
    out = np.zeros(n, np.float32)
    pos = -int(rng.integers(0, clip.size))
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32) if fade > 0 else np.zeros(0, np.float32)
    while pos < n:
        piece = clip.copy()
        if fade > 0:
            piece[:fade] *= ramp
            piece[-fade:] *= ramp[::-1]
        a, b = max(pos, 0), min(pos + piece.size, n)
        out[a:b] += piece[a - pos : b - pos]
        pos += piece.size - fade
    return out


def ambience(bank: SoundBank, rng: np.random.Generator, n: int) -> Audio:
    """One or two ambience beds (RMS 1), or coloured noise where the bank has none."""
    if not bank.classes("bed"):
        noise = rng.standard_normal(n).astype(np.float32)
        bed = apply_eq(noise, rng=rng)
    else:
        bed = _segment(rng, bank.pick(rng, "bed")[1], n)
        if rng.random() < 0.35:
            second = _segment(rng, bank.pick(rng, "bed")[1], n)
            bed = bed / max(rms(bed), 1e-6) + second / max(rms(second), 1e-6) * 10 ** (
                float(rng.uniform(-12.0, 0.0)) / 20
            )
    level = rms(bed)
    if level < 1e-6:
        bed = rng.standard_normal(n).astype(np.float32) * 1e-3
        level = rms(bed)
    return (bed / level).astype(np.float32)


def _prepare_event(
    bank: SoundBank, rng: np.random.Generator, role: str, cls: str | None
) -> tuple[str, Audio]:
    """Pick an event clip and vary it: speed, layering (glass), room and distance."""
    cls, clip = bank.pick(rng, role, cls)
    clip = change_speed(clip, float(rng.uniform(0.85, 1.18)))
    if cls == "glass_break" and rng.random() < 0.4:
        other = change_speed(bank.pick(rng, role, cls)[1], float(rng.uniform(0.85, 1.18)))
        lag = int(rng.integers(0, int(0.08 * SAMPLE_RATE)))
        both = np.zeros(max(clip.size, other.size + lag), np.float32)
        both[: clip.size] += clip
        both[lag : lag + other.size] += other * float(rng.uniform(0.4, 1.0))
        clip = both
    distance = float(rng.uniform(0.0, 1.0))
    if rng.random() < 0.85:
        clip = convolve(clip, room_impulse(rng))
    clip = apply_eq(clip, rng=rng, distance=distance)
    return cls, clip


def _place(out: Audio, sound: Audio, start: int, gain: float) -> None:
    a, b = max(start, 0), min(start + sound.size, out.size)
    if b > a:
        out[a:b] += sound[a - start : b - start] * gain


def _snr_gain(event: Audio, bed_rms: float, snr_db: float) -> float:
    return bed_rms * 10 ** (snr_db / 20) / max(rms(event, active=True), 1e-6)


@dataclass(frozen=True)
class MixedWindow:
    """One labelled window of mixed audio: ``labels`` over :data:`models.contract.CLASSES`."""

    audio: Audio
    labels: NDArray[np.float32]
    scenario: str
    incident: str | None


def mix_window(
    bank: SoundBank,
    rng: np.random.Generator,
    kind: str,
    incident: str | None = None,
    window_s: float = WINDOW_S,
    camera: bool = True,
    negatives: Sequence[str] | None = None,
) -> MixedWindow:
    """Render one window of ``kind`` ``incident`` | ``negative`` | ``ambience``.

    An incident starts between 0.3 s before the window (its head cut off) and 0.25 s before its
    end, so the window always holds at least a quarter second of it, as `vigil train
    --real-dir`'s labelling rule demands. ``negatives`` limits the everyday events to those
    classes (e.g. the bangs that sound like a gunshot).
    """
    n = round(window_s * SAMPLE_RATE)
    ctx = SAMPLE_RATE // 2  # events may start before the window: render with half a second of lead
    mix = ambience(bank, rng, n + ctx)
    labels = np.zeros(len(CLASSES), np.float32)
    scenario = "real_ambience"
    n_negatives = 0
    if kind == "negative":
        n_negatives = 1 + int(rng.random() < 0.3)
    elif kind == "incident":
        n_negatives = int(rng.random() < 0.25)
    elif kind != "ambience":
        raise ValueError(f"unknown window kind {kind!r}")
    neg_names = []
    allowed = [c for c in (negatives or bank.classes("negative")) if c in bank.classes("negative")]
    for _ in range(n_negatives if allowed else 0):
        pick = allowed[int(rng.integers(len(allowed)))] if negatives else None
        name, sound = _prepare_event(bank, rng, "negative", pick)
        start = ctx + int(rng.uniform(-0.5, window_s - 0.2) * SAMPLE_RATE)
        _place(mix, sound, start, _snr_gain(sound, 1.0, float(rng.uniform(-6.0, 22.0))))
        neg_names.append(name)
    if neg_names:
        scenario = NEGATIVE_SCENARIO + "+".join(sorted(neg_names))
    event: str | None = None
    if kind == "incident":
        event, sound = _prepare_event(bank, rng, "event", incident)
        lead = min(0.3, 0.5 * sound.size / SAMPLE_RATE)
        onset = float(rng.uniform(-lead, window_s - 0.25))
        _place(
            mix, sound, ctx + int(onset * SAMPLE_RATE), _snr_gain(sound, 1.0, float(rng.uniform(-3.0, 24.0)))
        )
        labels[CLASSES.index(event)] = 1.0
        scenario = f"real_incident:{event}"
    labels[0] = float(labels[1:].sum() == 0)
    audio = mix[ctx:]
    if camera:
        audio = camera_chain(audio, rng)
    return MixedWindow(audio.astype(np.float32), labels, scenario, event)


@dataclass(frozen=True)
class TimelineEvent:
    """A sound placed on a long clip's timeline (``cls`` of ``role``), in seconds."""

    start_s: float
    end_s: float
    cls: str
    role: str


def mix_timeline(
    bank: SoundBank,
    rng: np.random.Generator,
    duration_s: float,
    incidents: Sequence[tuple[float, str]] = (),
    negatives_per_minute: float = 4.0,
    chunk_s: float = 20.0,
) -> tuple[Audio, list[TimelineEvent]]:
    """A long clip's soundtrack: beds changing every ``chunk_s``, everyday events at random times,
    and incidents at the given (start second, class). Returns audio and every placed event
    (incidents with role ``event``), so labels are exact.
    """
    n = round(duration_s * SAMPLE_RATE)
    mix = np.zeros(n, np.float32)
    chunk = round(chunk_s * SAMPLE_RATE)
    fade = SAMPLE_RATE // 2
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    for a in range(0, n, chunk):
        bed = ambience(bank, rng, min(chunk + fade, n - a))
        if a > 0:
            bed[:fade] *= ramp[: bed.size]
        if a + chunk < n:
            bed[-fade:] *= ramp[::-1][-min(fade, bed.size) :]
        _place(mix, bed, a, 1.0)
    placed: list[TimelineEvent] = []
    if bank.classes("negative"):
        count = int(rng.poisson(negatives_per_minute * duration_s / 60.0))
        for t in np.sort(rng.uniform(0.0, max(duration_s - 1.0, 0.0), count)):
            name, sound = _prepare_event(bank, rng, "negative", None)
            _place(mix, sound, int(t * SAMPLE_RATE), _snr_gain(sound, 1.0, float(rng.uniform(-6.0, 22.0))))
            placed.append(TimelineEvent(float(t), float(t) + sound.size / SAMPLE_RATE, name, "negative"))
    for t, cls in incidents:
        name, sound = _prepare_event(bank, rng, "event", cls)
        _place(mix, sound, int(t * SAMPLE_RATE), _snr_gain(sound, 1.0, float(rng.uniform(0.0, 20.0))))
        placed.append(TimelineEvent(float(t), float(t) + min(sound.size / SAMPLE_RATE, 4.0), name, "event"))
    out = camera_chain(mix, rng, aac_probability=0.0)
    return out, sorted(placed, key=lambda e: e.start_s)
