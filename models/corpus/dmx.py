"""Doom sound lumps: the WAD directory and the DMX sound format, as plain bytes in and out.

A WAD starts with ``IWAD``/``PWAD``, a lump count and the directory offset; each directory entry
is (offset u32, size u32, name 8 bytes). A DMX sound lump is: format u16 (= 3), sample rate u16,
sample count u32 (which includes 16 pad bytes before and after), then unsigned 8-bit samples.
"""

from __future__ import annotations

import io
import struct
import wave

import numpy as np


class WadError(ValueError):
    """A WAD or DMX lump that cannot be read."""


def wad_lumps(data: bytes) -> list[tuple[str, bytes]]:
    """Every lump of a WAD as (name, bytes), in directory order."""
    if len(data) < 12 or data[:4] not in (b"IWAD", b"PWAD"):
        raise WadError("not a WAD file (no IWAD/PWAD magic)")
    count, offset = struct.unpack_from("<ii", data, 4)
    if count < 0 or offset < 12 or offset + 16 * count > len(data):
        raise WadError(f"WAD directory out of range (count {count}, offset {offset})")
    lumps: list[tuple[str, bytes]] = []
    for i in range(count):
        pos, size, raw = struct.unpack_from("<ii8s", data, offset + 16 * i)
        name = raw.split(b"\0", 1)[0].decode("ascii", "replace")
        if pos < 0 or size < 0 or pos + size > len(data):
            raise WadError(f"lump {name!r} out of range")
        lumps.append((name, data[pos : pos + size]))
    return lumps


def dmx_samples(lump: bytes) -> tuple[int, np.ndarray]:
    """(sample rate, float32 samples in [-1, 1]) of a DMX sound lump, pad bytes removed."""
    if len(lump) < 8:
        raise WadError("DMX lump shorter than its header")
    fmt, rate, count = struct.unpack_from("<HHI", lump, 0)
    if fmt != 3:
        raise WadError(f"DMX format {fmt} (expected 3)")
    if rate <= 0:
        raise WadError("DMX sample rate is zero")
    body = lump[8 : 8 + count]
    if len(body) < count:
        raise WadError(f"DMX lump truncated ({len(body)} of {count} samples)")
    if count > 32:
        body = body[16:-16]
    u8 = np.frombuffer(body, dtype=np.uint8).astype(np.float32)
    return rate, (u8 - 128.0) / 128.0


def dmx_to_wav(lump: bytes) -> bytes:
    """A DMX lump as an 8-bit mono WAV file (bytes), ready for any decoder."""
    rate, samples = dmx_samples(lump)
    u8 = np.clip(np.round(samples * 128.0 + 128.0), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(rate)
        w.writeframes(u8.tobytes())
    return out.getvalue()


def is_dmx(lump: bytes) -> bool:
    """Whether a lump looks like a DMX sound (format 3 header, consistent length)."""
    if len(lump) < 8:
        return False
    fmt, rate, count = struct.unpack_from("<HHI", lump, 0)
    return bool(fmt == 3 and 4000 <= rate <= 48000 and 8 + count <= len(lump))
