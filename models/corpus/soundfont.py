"""Samples inside a SoundFont 2 file, by name: the RIFF ``sdta/smpl`` chunk holds 16-bit mono
PCM, and each ``pdta/shdr`` record (46 bytes) names a sample with its start/end (in samples) and
rate. Sound-effect banks (GS SFX) store whole recordings this way, so no synthesis is needed."""

from __future__ import annotations

import io
import struct
import wave
from collections.abc import Iterator


class SoundFontError(ValueError):
    """A SoundFont file that cannot be read."""


def _chunks(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    pos = start
    while pos + 8 <= end:
        cid = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        yield cid, pos + 8, size
        pos += 8 + size + (size & 1)


def sf2_samples(data: bytes) -> list[tuple[str, int, bytes]]:
    """(name, sample rate, PCM16 little-endian bytes) of every sample, in header order."""
    if data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise SoundFontError("not a SoundFont 2 file (no RIFF/sfbk header)")
    smpl: bytes | None = None
    shdr: bytes | None = None
    for cid, off, size in _chunks(data, 12, len(data)):
        if cid != b"LIST":
            continue
        for sub, o2, s2 in _chunks(data, off + 4, off + size):
            if sub == b"smpl":
                smpl = data[o2 : o2 + s2]
            elif sub == b"shdr":
                shdr = data[o2 : o2 + s2]
    if smpl is None or shdr is None:
        raise SoundFontError("SoundFont without smpl or shdr chunk")
    out: list[tuple[str, int, bytes]] = []
    for i in range(len(shdr) // 46 - 1):  # the last record is the terminal "EOS"
        rec = shdr[46 * i : 46 * i + 46]
        name = rec[:20].split(b"\0", 1)[0].decode("latin-1").strip()
        start, end, _loop_start, _loop_end, rate = struct.unpack_from("<IIIII", rec, 20)
        if 0 <= start < end <= len(smpl) // 2 and rate > 0:
            out.append((name, rate, smpl[2 * start : 2 * end]))
    return out


def pcm16_to_wav(pcm: bytes, rate: int) -> bytes:
    """Mono PCM16 bytes as a WAV file (bytes)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()
