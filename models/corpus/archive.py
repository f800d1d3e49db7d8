"""Reading files out of a .deb (through ``dpkg-deb --fsys-tarfile``, streamed, nothing unpacked
on disk) or a wheel (zip), and the sounds out of an OpenTTD sound catalogue (``.cat``)."""

from __future__ import annotations

import re
import struct
import subprocess
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path


def _norm(name: str) -> str:
    return name[2:] if name.startswith("./") else name.lstrip("/")


def deb_members(deb: Path, wanted: Callable[[str], bool]) -> Iterator[tuple[str, bytes]]:
    """(path, bytes) of each regular file in ``deb`` whose path ``wanted`` accepts, in archive
    order. Paths have no leading ``./``."""
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|*") as tar:
            for info in tar:
                name = _norm(info.name)
                if info.isfile() and wanted(name):
                    fh = tar.extractfile(info)
                    if fh is not None:
                        yield name, fh.read()
    finally:
        proc.stdout.close()
        rc = proc.wait()
    if rc != 0:
        raise RuntimeError(
            f"{deb.name}: dpkg-deb --fsys-tarfile exited with {rc} (corrupt download? delete it)"
        )


def wheel_members(wheel: Path, wanted: Callable[[str], bool]) -> Iterator[tuple[str, bytes]]:
    """(path, bytes) of each file in a wheel whose path ``wanted`` accepts, sorted by path."""
    with zipfile.ZipFile(wheel) as zf:
        for name in sorted(zf.namelist()):
            if not name.endswith("/") and wanted(name):
                yield name, zf.read(name)


class CatalogueError(ValueError):
    """A file that is not an OpenTTD sound catalogue."""


def cat_sounds(data: bytes) -> Iterator[tuple[str, bytes]]:
    """(title, RIFF WAVE bytes) per sound of an OpenTTD sound catalogue (``.cat``, e.g. OpenSFX).

    The file starts with a table of little-endian (offset, size) pairs (the top bit of an offset
    is a flag); the first offset is where the entries begin, so it also gives the table's length.
    An entry is a length-prefixed description, ``"Title". Original ... License: ...``, followed
    by a WAV file of the table's size. Titles are numbered by position (``18 Explosion``): the same title may recur,
    and ``/`` becomes ``-`` so a title never reads as a path."""
    if len(data) < 8:
        raise CatalogueError("sound catalogue: shorter than one table entry")
    first = struct.unpack_from("<I", data, 0)[0] & 0x7FFF_FFFF
    if first % 8 or not 8 <= first <= len(data):
        raise CatalogueError(f"sound catalogue: table length {first} is not a multiple of 8 inside the file")
    for i in range(first // 8):
        offset, size = struct.unpack_from("<II", data, 8 * i)
        offset &= 0x7FFF_FFFF
        start = offset + 1 + (data[offset] if offset < len(data) else 0)
        if start + size > len(data):
            raise CatalogueError(f"sound catalogue: entry {i} ({offset}+{size}) runs past the end")
        name = data[offset + 1 : start].rstrip(b"\0").decode("latin-1")
        wav = data[start : start + size]
        if wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
            raise CatalogueError(f"sound catalogue: entry {i} ({name[:40]!r}) holds no WAV file")
        quoted = re.match(r'\s*"([^"]*)"', name)
        title = (quoted.group(1) if quoted else name.split(". ", 1)[0]).replace("/", "-").strip()
        yield f"{i:02d} {title}", wav
