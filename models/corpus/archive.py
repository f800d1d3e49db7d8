"""Reading files out of a .deb (through ``dpkg-deb --fsys-tarfile``, streamed, nothing unpacked
on disk) or a wheel (zip)."""

from __future__ import annotations

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
