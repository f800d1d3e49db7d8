"""The committed corpus manifest (``models/corpus/manifest.tsv``): one row per clip written by
``vigil data fetch``, and readers for training code."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import astuple, dataclass
from pathlib import Path

import numpy as np

from models.corpus.audio import read_wav
from models.corpus.vocabulary import SAMPLE_RATE

DEFAULT_MANIFEST = Path(__file__).with_name("manifest.tsv")
DEFAULT_CORPUS_DIR = Path("data/corpus")
COLUMNS: tuple[str, ...] = (
    "package",
    "version",
    "member",
    "class",
    "role",
    "licence",
    "duration_s",
    "sha256",
    "file",
)


@dataclass(frozen=True, order=True)
class CorpusEntry:
    """One clip: where it came from (package, version, member), its label, licence, duration,
    SHA-256 of its PCM16 samples and its path relative to the corpus folder."""

    package: str
    version: str
    member: str
    cls: str
    role: str
    licence: str
    duration_s: float
    sha256: str
    file: str

    @property
    def origin(self) -> str:
        """``package:member``, the clip's stable identity."""
        return f"{self.package}:{self.member}"


def load_manifest(path: str | Path = DEFAULT_MANIFEST) -> list[CorpusEntry]:
    """Every row of the manifest, in file order (sorted by package, then member)."""
    with Path(path).open(newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        header = next(reader, None)
        if header is None or tuple(header) != COLUMNS:
            raise ValueError(f"{path}: expected header {'/'.join(COLUMNS)}, got {header}")
        return [
            CorpusEntry(p, v, m, c, r, lic, float(d), h, f)
            for p, v, m, c, r, lic, d, h, f in reader
            if p  # tolerate a trailing blank line
        ]


def write_manifest(entries: Iterable[CorpusEntry], path: str | Path = DEFAULT_MANIFEST) -> None:
    """Write ``entries`` sorted by (package, member), durations with 3 decimals: the same entries
    always give the same bytes."""
    rows = sorted(entries, key=lambda e: (e.package, e.member))
    with Path(path).open("w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(COLUMNS)
        for e in rows:
            row = list(astuple(e))
            row[6] = f"{e.duration_s:.3f}"
            w.writerow(row)


def load_audio(entry: CorpusEntry, corpus_dir: str | Path = DEFAULT_CORPUS_DIR) -> np.ndarray:
    """The clip's samples: float32 in [-1, 1], 16 kHz mono."""
    path = Path(corpus_dir) / entry.file
    if not path.is_file():
        raise FileNotFoundError(f"{path}: corpus clip missing (run `vigil data fetch --out {corpus_dir}`)")
    rate, samples = read_wav(path)
    if rate != SAMPLE_RATE:
        raise ValueError(f"{path}: {rate} Hz, expected {SAMPLE_RATE}")
    return samples


def corpus_available(
    corpus_dir: str | Path = DEFAULT_CORPUS_DIR, manifest: str | Path = DEFAULT_MANIFEST
) -> bool:
    """Whether every clip of the manifest exists under ``corpus_dir`` (fetched)."""
    root = Path(corpus_dir)
    if not Path(manifest).is_file() or not root.is_dir():
        return False
    entries = load_manifest(manifest)
    return bool(entries) and all((root / e.file).is_file() for e in entries)
