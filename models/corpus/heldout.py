"""Held-out evaluation clips from source packages the model never trained on.

``python -m models.corpus.heldout --corpus data/corpus --out OUT`` mixes long camera-like
clips (mp4: H.264 picture + AAC sound) from the **test**-split packages of the corpus and writes
``OUT/labels.csv`` in the format `vigil train --real-dir` and `vigil evaluate` read, plus
``OUT/SOURCES.tsv``: every recording used, with its package's licence. Incidents sit at
random times at least ``--gap`` seconds apart; ordinary sound (ambience beds that change every
20 s, everyday events) runs throughout. Half the clips show the incidents (the synthetic
generator's look, its own sound replaced by the real mix), half show a scene where nothing
visible happens: the camera heard what it did not see.

With ``--incidents 0`` the clips are ordinary footage only: the false-alarm measure (alerts per
hour of everyday sound).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from models.contract import SAMPLE_RATE
from models.corpus.mixer import INCIDENT_CLASSES, SoundBank, TimelineEvent, mix_timeline


def incident_times(
    rng: np.random.Generator, duration_s: float, count: int, gap_s: float, classes: list[str], first: int
) -> list[tuple[float, str]]:
    """``count`` incidents at random times at least ``gap_s`` apart (classes in turn from ``first``)."""
    if count <= 0 or not classes:
        return []
    slack = duration_s - 4.0 - gap_s * count
    if slack < 0:
        raise ValueError(f"{count} incidents {gap_s:g} s apart do not fit in {duration_s:g} s")
    extra = np.sort(rng.uniform(0.0, slack, count))
    return [(float(2.0 + gap_s * k + extra[k]), classes[(first + k) % len(classes)]) for k in range(count)]


def scene_video(
    seed: int, duration_s: float, fps: int, width: int, height: int, shown: Iterable[tuple[float, str]]
) -> Iterator[NDArray[np.uint8]]:
    """Frames of a synthetic scene showing the ``shown`` incidents (its own sound is not used)."""
    from models.synth.clip_render import ClipSpec, render_clip

    spec = ClipSpec(
        duration_s=duration_s,
        width=width,
        height=height,
        fps=fps,
        incidents=tuple(shown),
        audio=False,
        noise=2.0,
        seed=seed,
        style="scene",
    )
    for frame in render_clip(spec):
        yield frame.video


def write_av(
    output: Path, frames: Iterable[NDArray[np.uint8]], fps: int, audio: NDArray[np.float32], crf: int = 30
) -> None:
    """Encode frames (RGB) and mono audio at the model rate into an mp4 (H.264 + AAC 32 kbit/s)."""
    import av

    with av.open(str(output), mode="w", format="mp4") as container:
        video = None
        a_stream = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        a_stream.bit_rate = 32_000
        a_stream.time_base = Fraction(1, SAMPLE_RATE)
        per_frame = SAMPLE_RATE // fps
        for index, img in enumerate(frames):
            if video is None:
                video = container.add_stream("libx264", rate=fps)
                video.width, video.height, video.pix_fmt = img.shape[1], img.shape[0], "yuv420p"
                video.time_base = Fraction(1, fps)
                video.options = {"preset": "medium", "crf": str(crf), "bf": "0", "g": str(2 * fps)}
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            vf.pts = index
            container.mux(video.encode(vf))
            chunk = audio[index * per_frame : (index + 1) * per_frame]
            if chunk.size:
                af = av.AudioFrame.from_ndarray(
                    chunk[None, :].astype(np.float32), format="flt", layout="mono"
                )
                af.sample_rate = SAMPLE_RATE
                af.pts = index * per_frame
                af.time_base = Fraction(1, SAMPLE_RATE)
                container.mux(a_stream.encode(af))
        if video is not None:
            container.mux(video.encode(None))
        container.mux(a_stream.encode(None))


def build_heldout(
    corpus_dir: str | Path,
    out_dir: str | Path,
    split: str = "test",
    clips: int = 8,
    duration_s: float = 60.0,
    incidents: int = 4,
    gap_s: float = 11.0,
    seed: int = 5_000_011,
    width: int = 176,
    height: int = 112,
    fps: int = 4,
    log: object = print,
    prefix: str | None = None,
) -> list[TimelineEvent]:
    """Write ``clips`` mp4 files, ``labels.csv`` and ``SOURCES.tsv`` into ``out_dir``."""
    say = log if callable(log) else print
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bank = SoundBank.from_corpus(corpus_dir, [split])
    bank.used = set()
    classes = [c for c in INCIDENT_CLASSES if c in bank.classes("event")]
    say(f"{split} split: {len(bank.packages)} packages; incident classes {classes}")
    rows: list[tuple[str, str, str, str]] = []
    every: list[TimelineEvent] = []
    for i in range(clips):
        rng = np.random.default_rng([seed, i])
        name = f"{prefix or split}-{i:02d}.mp4"
        times = incident_times(rng, duration_s, incidents, gap_s, classes, first=i * incidents)
        audio, placed = mix_timeline(bank, rng, duration_s, times)
        shown = [(t, c) for t, c in times if i % 2 == 0]
        write_av(out / name, scene_video(seed + i, duration_s, fps, width, height, shown), fps, audio)
        labelled = [e for e in placed if e.role == "event"]
        rows.extend((name, f"{e.start_s:.2f}", f"{e.end_s:.2f}", e.cls) for e in labelled)
        if not labelled:
            rows.append((name, "", "", ""))
        every.extend(placed)
        say(
            f"  {name}: {len(labelled)} incidents ({'shown' if shown else 'heard only'}), {len(placed) - len(labelled)} everyday events"
        )
    with (out / "labels.csv").open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["file", "start_s", "end_s", "class"])
        w.writerows(rows)
    write_sources(out / "SOURCES.tsv", sorted(bank.used))
    return every


def write_sources(path: Path, used: list[str]) -> None:
    """One row per recording used (package, member, class, licence) from the corpus manifest."""
    from models.corpus.manifest import DEFAULT_MANIFEST, load_manifest

    by_origin = {f"{e.package}:{e.member}": e for e in load_manifest(DEFAULT_MANIFEST)}
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(["package", "version", "member", "class", "licence"])
        for origin in used:
            e = by_origin.get(origin)
            if e is not None:
                w.writerow([e.package, e.version, e.member, e.cls, e.licence])


def main(argv: list[str] | None = None) -> int:
    """Command line: build held-out clips."""
    ap = argparse.ArgumentParser(prog="python -m models.corpus.heldout", description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="data/corpus", help="corpus folder (vigil data fetch)")
    ap.add_argument("--out", required=True, help="folder for the clips, labels.csv and SOURCES.tsv")
    ap.add_argument("--split", default="test", choices=["train", "val", "test"])
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds per clip")
    ap.add_argument("--incidents", type=int, default=4, help="incidents per clip (0: ordinary footage only)")
    ap.add_argument("--gap", type=float, default=11.0, help="minimum seconds between incidents")
    ap.add_argument("--seed", type=int, default=5_000_011)
    ap.add_argument("--prefix", default=None, help="clip file names' prefix (default: the split)")
    args = ap.parse_args(argv)
    try:
        build_heldout(
            args.corpus,
            args.out,
            args.split,
            args.clips,
            args.duration,
            args.incidents,
            args.gap,
            args.seed,
            prefix=args.prefix,
        )
    except (FileNotFoundError, LookupError, ValueError) as exc:
        print(f"held-out clips: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
