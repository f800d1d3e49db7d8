"""Decoding any audio file to 16 kHz mono with PyAV, trimming silence, capping length, and
writing PCM16 WAV. The array functions are pure; only :func:`decode` and :func:`write_wav` touch
codecs or files."""

from __future__ import annotations

import hashlib
import io
import wave
from pathlib import Path

import av
import numpy as np

from models.corpus.vocabulary import SAMPLE_RATE

# Container hints for in-memory decoding (probing a BytesIO without a name is unreliable).
_FORMAT_OF_SUFFIX = {".wav": "wav", ".ogg": "ogg", ".flac": "flac", ".mp3": "mp3", ".voc": "voc"}


def decode(data: bytes, suffix: str, rate: int = SAMPLE_RATE) -> np.ndarray:
    """The first audio stream of an encoded file as float32 mono samples at ``rate``."""
    fmt = _FORMAT_OF_SUFFIX.get(suffix.lower())
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    pieces: list[np.ndarray] = []
    with av.open(io.BytesIO(data), mode="r", format=fmt, metadata_errors="replace") as container:
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            frame.pts = None  # some game files carry broken timestamps; order is what matters
            for out in resampler.resample(frame):
                pieces.append(out.to_ndarray().reshape(-1))
    for out in resampler.resample(None):
        pieces.append(out.to_ndarray().reshape(-1))
    if not pieces:
        return np.zeros(0, np.float32)
    return np.concatenate(pieces).astype(np.float32, copy=False)


def trim_silence(
    x: np.ndarray, rate: int = SAMPLE_RATE, floor_db: float = -45.0, margin_s: float = 0.05
) -> np.ndarray:
    """``x`` without its leading and trailing silence: samples below ``floor_db`` relative to the
    peak, keeping ``margin_s`` either side. An all-zero input gives an empty array."""
    if x.size == 0:
        return x
    mag = np.abs(x)
    peak = float(mag.max())
    if peak <= 0.0:
        return x[:0]
    loud = np.flatnonzero(mag >= peak * 10 ** (floor_db / 20))
    margin = round(margin_s * rate)
    start = max(int(loud[0]) - margin, 0)
    end = min(int(loud[-1]) + 1 + margin, x.size)
    return x[start:end]


def cap(x: np.ndarray, seconds: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    """The first ``seconds`` of ``x``."""
    return x[: round(seconds * rate)]


def to_pcm16(x: np.ndarray) -> bytes:
    """Little-endian signed 16-bit PCM of ``x`` (clipped to [-1, 1])."""
    q = np.round(np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2")
    return bytes(q.tobytes())


def pcm_sha256(pcm: bytes) -> str:
    """The hex SHA-256 of PCM sample bytes (what the manifest records)."""
    return hashlib.sha256(pcm).hexdigest()


def write_wav(path: Path, pcm: bytes, rate: int = SAMPLE_RATE) -> None:
    """Write mono PCM16 ``pcm`` as a WAV file (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    tmp.replace(path)


def read_wav(path: Path) -> tuple[int, np.ndarray]:
    """(rate, float32 mono samples in [-1, 1]) of a PCM16 WAV written by :func:`write_wav`
    (the inverse of :func:`to_pcm16`, so a read clip converts back to the same PCM)."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise ValueError(f"{path}: expected mono 16-bit PCM")
        rate = w.getframerate()
        raw = w.readframes(w.getnframes())
    samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32767.0
    return rate, np.clip(samples, -1.0, 1.0)
