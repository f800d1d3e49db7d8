"""Read a folder of real clips plus a labels file into labelled windows (numpy + PyAV, no torch).

Folder layout::

    my-clips/
      labels.csv            (or labels.json)
      lobby-2024-05-01.mp4
      gate3.mkv
      ...

``labels.csv``: header ``file,start_s,end_s,class``; one row per incident time range (seconds
from the clip start); ``class`` is one of the incident classes (fight, scream, gunshot,
glass_break, explosion). A clip listed with no incident rows is all normal: list it with an
empty class (``quiet.mp4,,,``). ``labels.json``: ``{"clips": [{"file": "a.mp4", "events":
[{"start_s": 4.0, "end_s": 6.5, "class": "gunshot"}]}]}``.

The same labels feed ``vigil evaluate`` and ``vigil calibrate`` (:func:`read_labels`,
:func:`covers`): one parser, one rule for which windows an incident labels.

Clips are cut into windows of the contract's length and hop; frames are sampled at the
contract's fps and resized to its size, audio is resampled to its rate (mono). A window is
labelled with a class when an incident range overlaps it by at least 0.25 s (or covers it).
Clips without an audio track are skipped (the training set has no mask per window).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.contract import CLASSES, FPS, FRAME_HEIGHT, FRAME_WIDTH, HOP_S, SAMPLE_RATE, WINDOW_S
from models.synth.windows import WindowSet


class LabelsError(ValueError):
    """The labels file is missing or malformed (message names the file and row)."""


@dataclass(frozen=True)
class LabelledRange:
    """An incident of ``cls`` from ``start_s`` to ``end_s`` in one clip."""

    start_s: float
    end_s: float
    cls: str


MIN_OVERLAP_S = 0.25  # an incident labels a window it overlaps by this much (or covers)


def covers(r: LabelledRange, t0: float, t1: float, min_overlap_s: float = MIN_OVERLAP_S) -> bool:
    """Whether incident ``r`` labels the window [t0, t1): it overlaps it enough, or spans it."""
    need = min(min_overlap_s, (t1 - t0) / 2)
    return min(r.end_s, t1) - max(r.start_s, t0) >= need or (r.start_s <= t0 and r.end_s >= t1)


def window_labels(
    ranges: Iterable[LabelledRange], t0: float, t1: float, min_overlap_s: float = MIN_OVERLAP_S
) -> np.ndarray:
    """Multi-hot labels [C] for the window [t0, t1) (normal when no incident overlaps)."""
    y = np.zeros(len(CLASSES), np.float32)
    for r in ranges:
        if covers(r, t0, t1, min_overlap_s):
            y[CLASSES.index(r.cls)] = 1.0
    y[0] = float(y[1:].sum() == 0)
    return y


def read_labels(folder: str | Path) -> dict[str, list[LabelledRange]]:
    """Parse ``labels.csv`` or ``labels.json`` in ``folder``: clip file name -> incident ranges."""
    root = Path(folder)
    csv_path, json_path = root / "labels.csv", root / "labels.json"
    out: dict[str, list[LabelledRange]] = {}
    rows: list[tuple[str, str, str, str, str]] = []
    if csv_path.is_file():
        with csv_path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            need = {"file", "start_s", "end_s", "class"}
            if not reader.fieldnames or not need <= set(reader.fieldnames):
                raise LabelsError(
                    f"{csv_path}: header must be file,start_s,end_s,class (got {reader.fieldnames})"
                )
            for i, r in enumerate(reader, start=2):
                rows.append(
                    (f"{csv_path}:{i}", r["file"], r["start_s"] or "", r["end_s"] or "", r["class"] or "")
                )
    elif json_path.is_file():
        try:
            data = json.loads(json_path.read_text())
            for clip in data["clips"]:
                evs = clip.get("events", [])
                if not evs:
                    rows.append((str(json_path), clip["file"], "", "", ""))
                for e in evs:
                    rows.append(
                        (str(json_path), clip["file"], str(e["start_s"]), str(e["end_s"]), e["class"])
                    )
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise LabelsError(
                f"{json_path}: expected {{'clips': [{{'file', 'events': [...]}}]}} ({exc})"
            ) from exc
    else:
        raise LabelsError(f"{root}: no labels.csv or labels.json")
    for where, name, start, end, cls in rows:
        out.setdefault(name, [])
        if not cls:
            continue
        if cls not in CLASSES or cls == "normal":
            raise LabelsError(f"{where}: unknown class {cls!r} (expected one of {', '.join(CLASSES[1:])})")
        try:
            rng_ = LabelledRange(float(start), float(end), cls)
        except ValueError as exc:
            raise LabelsError(f"{where}: start_s/end_s must be numbers ({exc})") from exc
        if rng_.end_s <= rng_.start_s:
            raise LabelsError(f"{where}: end_s must be after start_s")
        out[name].append(rng_)
    return out


def decode_clip(
    path: str | Path,
    fps: int = FPS,
    height: int = FRAME_HEIGHT,
    width: int = FRAME_WIDTH,
    sample_rate: int = SAMPLE_RATE,
) -> tuple[list[tuple[float, np.ndarray]], np.ndarray | None]:
    """Decode a clip: ([(time_s, frame uint8 [H,W,3]) ...], mono float32 audio or None)."""
    import av

    frames: list[tuple[float, np.ndarray]] = []
    chunks: list[np.ndarray] = []
    with av.open(str(path)) as container:
        has_audio = bool(container.streams.audio)
        streams = [container.streams.video[0]] + ([container.streams.audio[0]] if has_audio else [])
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate) if has_audio else None
        next_t = 0.0
        for packet in container.demux(*streams):
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):
                    t = float(frame.time or 0.0)
                    if t + 1e-6 >= next_t:
                        frames.append((t, frame.to_ndarray(format="rgb24", width=width, height=height)))
                        next_t += 1.0 / fps
                elif resampler is not None and isinstance(frame, av.AudioFrame):
                    for f in resampler.resample(frame):
                        chunks.append(f.to_ndarray().reshape(-1))
        if resampler is not None:
            for f in resampler.resample(None):
                chunks.append(f.to_ndarray().reshape(-1))
    audio = np.concatenate(chunks).astype(np.float32) if chunks else None
    return frames, audio


def load_real_windows(
    folder: str | Path,
    window_s: float = WINDOW_S,
    hop_s: float = HOP_S,
    fps: int = FPS,
    height: int = FRAME_HEIGHT,
    width: int = FRAME_WIDTH,
    sample_rate: int = SAMPLE_RATE,
) -> WindowSet:
    """All labelled windows of the clips listed in the folder's labels file."""
    root = Path(folder)
    labels = read_labels(root)
    t_n, s_n = round(window_s * fps), round(window_s * sample_rate)
    fr, au, ys, names = [], [], [], []
    for name, ranges in sorted(labels.items()):
        path = root / name
        if not path.is_file():
            raise LabelsError(f"{root}: labels name {name!r} but the file does not exist")
        frames, audio = decode_clip(path, fps, height, width, sample_rate)
        if audio is None or not frames:
            continue
        times = np.asarray([t for t, _ in frames])
        duration = min(times[-1] + 1.0 / fps, audio.size / sample_rate)
        t0 = 0.0
        while t0 + window_s <= duration + 1e-6:
            idx = [int(np.argmin(np.abs(times - (t0 + k / fps)))) for k in range(t_n)]
            a = audio[round(t0 * sample_rate) : round(t0 * sample_rate) + s_n]
            if a.size == s_n:
                fr.append(np.stack([frames[i][1] for i in idx]))
                au.append(a)
                ys.append(window_labels(ranges, t0, t0 + window_s))
                names.append(f"real:{name}@{t0:g}")
            t0 += hop_s
    if not names:
        raise LabelsError(f"{root}: no usable windows (clips need video and audio, at least {window_s:g} s)")
    return WindowSet(np.stack(fr), np.stack(au), np.stack(ys), tuple(names))
