"""Pictures beyond the generator: real footage, camera randomisation, styles, composited incidents.

Pure numpy (+ simplejpeg for the codec round trip), every random choice drawn from the caller's
``np.random.Generator`` so a window is reproducible from its seed. Frames are uint8
[T, 112, 112, 3] RGB at the model's 4 fps, as everywhere in Vigil.

- :class:`FootageLibrary` (``FootageLibrary.load("data/corpus")``): real clips and photographs
  written by :mod:`models.corpus.footage`. ``scene(rng)`` cuts T consecutive frames from a clip
  (or makes them from a still photo with a slightly unsteady camera) through a random camera
  placement: crop/zoom, small roll, mirror. ``window(rng)`` is ``camera(scene(rng), rng)``.
- :func:`camera`: what a real camera and its encoder do to a picture: exposure, contrast,
  gamma, white balance, IR night mode, focus blur, sensor noise, JPEG at quality 20-90, a
  dropped or repeated frame. Use it on real and synthetic windows alike.
- :func:`stylize`: domain randomisation for synthetic frames (texture, palette, posterize, blur,
  softened edges, vignette, IR, grain), so the model cannot key on the generator's flat colours.
- :func:`composite_event` (frames, visible) and :func:`composite` (with the changed regions): an
  incident's visual signature drawn over real frames with the
  generator's own drawing code (:mod:`models.synth.events`), returning per-frame claimed
  regions and whether the signature is actually visible.

Typical training use (an explosion over real footage)::

    lib = FootageLibrary.load("data/corpus")
    frames, visible = composite_event(lib.scene(rng), rng, "fireball")
    frames = camera(frames, rng)           # composite first, so the event is degraded as well

    with photo_backdrops(lib, prob=0.3):   # real photographs behind synthetic scenes
        frames, audio, labels, scenario = make_window(seed)
    frames = camera(stylize(frames, rng), rng)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import simplejpeg
from numpy.typing import NDArray

from models.contract import FPS, FRAME_HEIGHT
from models.synth import scene as synth_scene
from models.synth.draw import Image, fill_disc, shift
from models.synth.events import NO_LIGHT, Event, Explosion, ExposureFlash, GlassBreak, Gunshot
from models.synth.scene import Mover, Scene, random_person

Frames = NDArray[np.uint8]
Box = tuple[int, int, int, int]  # y0, y1, x0, x1 (half-open, pixels)

#: Incident signatures :func:`composite_event` draws, with the class each one supports.
EVENT_KINDS: dict[str, str] = {
    "flash": "gunshot",  # muzzle flash, sometimes a jolt of the camera
    "scatter": "gunshot",  # people running away from a point
    "fireball": "explosion",  # fireball, then smoke; light flash and shake
    "smoke": "explosion",  # the smoke of an explosion that happened just before
    "shake": "explosion",  # off-screen blast: light flash and camera shake
    "shatter": "glass_break",  # a window turns into a dark hole, glints fall
}
#: Look-alikes that are not incidents (hard negatives for the same drawing code).
NEGATIVE_KINDS: tuple[str, ...] = ("walkers", "exposure")

STYLES: tuple[str, ...] = ("texture", "palette", "posterize", "blur", "soften", "vignette", "ir", "grain")

_LUMA = np.asarray([0.299, 0.587, 0.114], np.float32)
_NOISE_BANK = 24


class FootageError(FileNotFoundError):
    """The footage corpus is missing or empty (the message says how to fetch it)."""


@dataclass(frozen=True)
class Composite:
    """Frames with an event drawn in; ``boxes[i]`` bounds every pixel changed in frame i (None:
    frame i is untouched); ``visible``: the signature is measurably there in at least one frame."""

    frames: Frames
    visible: bool
    boxes: tuple[Box | None, ...]
    kind: str

    @property
    def changed(self) -> NDArray[np.bool_]:
        """[T] frames the event touched."""
        return np.asarray([b is not None for b in self.boxes], bool)


# ------------------------------------------------------------------ library of real footage
class FootageLibrary:
    """Real clips ([N,H,W,3], N >= 1) and photos ([H,W,3]) to cut camera windows from;
    ``names``: the clips' files (for reports)."""

    def __init__(
        self,
        clips: list[Frames],
        photos: list[Frames],
        photo_prob: float = 0.3,
        names: list[str] | None = None,
        size: int = FRAME_HEIGHT,
    ) -> None:
        if not clips and not photos:
            raise FootageError("footage library: no clips and no photos")
        # RGB packed into one uint32 per pixel: sampling moves 4-byte words (several times faster);
        # ``clips`` and ``photos`` are RGB views of the packed arrays (one copy in memory)
        self._clips32 = [_pack(c) for c in clips]
        self.clips = [_unpack(c) for c in self._clips32]
        self.photos = [np.ascontiguousarray(p) for p in photos]
        self.photo_prob = photo_prob if clips else 1.0
        self.names = names or []
        self.size = size
        # photos: a half-size level as well, so wide crops are not nearest-sampled from far
        self._photo_half = [_half(p) for p in self.photos]
        self._cuts = [_scene_cuts(c) for c in self.clips]
        self._photos32 = [
            (_pack(p[None]), _pack(q[None])) for p, q in zip(self.photos, self._photo_half, strict=True)
        ]

    @classmethod
    def load(cls, corpus_dir: str | Path, photo_prob: float = 0.3) -> FootageLibrary:
        """Every clip and photo under ``corpus_dir/footage`` (or ``corpus_dir`` itself)."""
        root = Path(corpus_dir)
        if (root / "footage").is_dir():
            root = root / "footage"
        files = sorted(p for p in root.rglob("*.npz") if "_downloads" not in p.parts) if root.is_dir() else []
        if not files:
            raise FootageError(
                f"{root}: no footage corpus here (run `vigil data fetch`, "
                f"or `python -m models.corpus.footage --out {Path(corpus_dir)}`)"
            )
        clips: list[Frames] = []
        photos: list[Frames] = []
        names: list[str] = []
        for f in files:
            with np.load(f) as z:
                arr = z["wide"] if "wide" in z.files else z["frames"]
            if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
                raise FootageError(f"{f}: expected uint8 [N,H,W,3], got {arr.dtype} {arr.shape}")
            if f.parent.name == "photos" or arr.shape[0] == 1:
                photos.append(arr[0])
            else:
                clips.append(arr)
                names.append(f.relative_to(root).as_posix())
        return cls(clips, photos, photo_prob, names)

    def __repr__(self) -> str:
        frames = sum(len(c) for c in self.clips)
        return f"FootageLibrary({len(self.clips)} clips, {frames} frames, {len(self.photos)} photos)"

    def scene(self, rng: np.random.Generator, n_frames: int = 8) -> Frames:
        """``n_frames`` consecutive frames [T,112,112,3] seen through a random camera placement."""
        if self.photos and rng.random() < self.photo_prob:
            return self._photo_scene(rng, n_frames)
        return self._clip_scene(rng, n_frames)

    def window(self, rng: np.random.Generator, n_frames: int = 8) -> Frames:
        """A normal real-footage window with camera randomisation: ``camera(scene(rng), rng)``."""
        return camera(self.scene(rng, n_frames), rng)

    def photo(self, rng: np.random.Generator, height: int, width: int) -> Frames:
        """A random crop of a random photo resized to ``height`` x ``width`` (a backdrop)."""
        src = self.photos[int(rng.integers(len(self.photos)))] if self.photos else self._clip_frame(rng)
        h, w = src.shape[:2]
        ch = int(min(h, w * height / width) * rng.uniform(0.6, 1.0))
        cw = int(ch * width / height)
        y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        ys = y0 + ((np.arange(height) + 0.5) * ch / height).astype(np.intp)
        xs = x0 + ((np.arange(width) + 0.5) * cw / width).astype(np.intp)
        out: Frames = src[ys][:, xs]
        return np.ascontiguousarray(out[:, ::-1]) if rng.random() < 0.5 else out

    def _clip_frame(self, rng: np.random.Generator) -> Frames:
        c = self.clips[int(rng.integers(len(self.clips)))]
        out: Frames = c[int(rng.integers(len(c)))]
        return out

    def _clip_scene(self, rng: np.random.Generator, n: int) -> Frames:
        i = int(rng.integers(len(self.clips)))
        clip, cuts = self._clips32[i], self._cuts[i]
        # a start whose n frames do not cross a scene cut (if the clip has such a stretch)
        starts = [s for a, b in itertools.pairwise(cuts) for s in range(a, b - n + 1)]
        if starts:
            s = starts[int(rng.integers(len(starts)))]
            idx = np.arange(s, s + n)
        else:
            s = int(rng.integers(len(clip)))
            idx = np.minimum(np.arange(s, s + n), len(clip) - 1)
        if rng.random() < 0.1:
            idx = idx[::-1]  # time running backwards is still an ordinary street
        h, w = clip.shape[1:3]
        grid = _camera_grid(rng, h, w, self.size, zoom=(1.0, 1.6))
        return _gather(clip, idx, _shift_grid(grid, h, w, 0.0, 0.0)[None])

    def _photo_scene(self, rng: np.random.Generator, n: int) -> Frames:
        k = int(rng.integers(len(self.photos)))
        full, half = self._photos32[k]
        h, w = full.shape[1:3]
        zoom = float(rng.uniform(1.0, 2.2))
        src = half if min(h, w) / zoom >= 1.8 * self.size else full
        sh, sw = src.shape[1:3]
        s = sh / h
        grid = _camera_grid(rng, sh, sw, self.size, zoom=(zoom, zoom))
        # an unsteady camera: the view drifts by a fraction of a pixel per frame
        walk = np.cumsum(rng.normal(0.0, 0.35 * s, (n, 2)), axis=0)
        frames = [_shift_grid(grid, sh, sw, float(dy), float(dx)) for dy, dx in walk]
        return _gather(src, np.zeros(n, np.intp), np.stack(frames))


@contextmanager
def photo_backdrops(library: FootageLibrary, prob: float = 0.3, size: int = 224) -> Iterator[None]:
    """Inside this block, synthetic scenes (:mod:`models.synth`) use a real photograph as their
    backdrop with probability ``prob`` (people, cars, doors, windows and events drawn over it).
    Each choice is seeded from the scene's backdrop, so ``make_window(seed)`` stays reproducible."""

    def source(rng: np.random.Generator) -> Frames | None:
        return library.photo(rng, size, size) if rng.random() < prob else None

    old = synth_scene.backdrop_source
    synth_scene.backdrop_source = source
    try:
        yield
    finally:
        synth_scene.backdrop_source = old


def _half(img: Frames) -> Frames:
    h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
    x = img[:h, :w].astype(np.uint16)
    out: Frames = ((x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2] + 2) // 4).astype(np.uint8)
    return out


def _scene_cuts(clip: Frames) -> list[int]:
    """Frame indices where a new shot starts (0 and len(clip) included)."""
    if len(clip) < 2:
        return [0, len(clip)]
    small = clip[:, ::4, ::4].astype(np.int16)
    d = np.abs(np.diff(small, axis=0)).mean(axis=(1, 2, 3))
    thr = 40.0  # mean |difference| of a shot change; walking people and slow pans stay far below
    return [0, *(int(i) + 1 for i in np.flatnonzero(d > thr)), len(clip)]


def _camera_grid(
    rng: np.random.Generator, h: int, w: int, size: int, zoom: tuple[float, float]
) -> NDArray[np.float32]:
    """Source (y, x) coordinates [size*size, 2] of a randomly placed, rolled, mirrored view."""
    angle = math.radians(float(rng.normal(0.0, 3.0))) if rng.random() < 0.6 else 0.0
    side = min(h, w) / float(rng.uniform(*zoom))
    c, s = abs(math.cos(angle)), abs(math.sin(angle))
    side = min(side, min(h, w) / (c + s))  # the rolled view stays inside the picture
    ext = side * (c + s) / 2
    cy = float(rng.uniform(ext, max(h - ext, ext)))
    cx = float(rng.uniform(ext, max(w - ext, ext)))
    g = ((np.arange(size, dtype=np.float32) + 0.5) / size - 0.5) * side
    v, u = np.meshgrid(g, g, indexing="ij")
    if rng.random() < 0.5:
        u = -u  # mirror
    ca, sa = math.cos(angle), math.sin(angle)
    ys = cy + sa * u + ca * v
    xs = cx + ca * u - sa * v
    return np.stack([ys.ravel(), xs.ravel()], axis=1)


def _shift_grid(grid: NDArray[np.float32], h: int, w: int, dy: float, dx: float) -> NDArray[np.intp]:
    ys = np.clip(grid[:, 0] + dy, 0, h - 1).astype(np.intp)
    xs = np.clip(grid[:, 1] + dx, 0, w - 1).astype(np.intp)
    out: NDArray[np.intp] = ys * w + xs
    return out


def _pack(frames: Frames) -> NDArray[np.uint32]:
    """uint8 [N,H,W,3] -> uint32 [N,H,W] (RGB in the low three bytes, in memory order)."""
    n, h, w = frames.shape[:3]
    rgba = np.zeros((n, h, w, 4), np.uint8)
    rgba[..., :3] = frames
    return rgba.view(np.uint32).reshape(n, h, w)


def _unpack(packed: NDArray[np.uint32]) -> Frames:
    """The RGB view [N,H,W,3] of a packed array (no copy)."""
    rgb: Frames = packed.view(np.uint8).reshape(*packed.shape, 4)[..., :3]
    return rgb


def _gather(src: NDArray[np.uint32], frames: NDArray[np.intp], grids: NDArray[np.intp]) -> Frames:
    """Nearest-neighbour sampling of packed ``src`` [N,H,W]: frame ``frames[i]`` at pixels
    ``grids[i]`` (flat indices; one grid [1,P] for all frames). Returns a strided RGB view."""
    n, h, w = src.shape
    flat = src.reshape(n, h * w)
    size = math.isqrt(grids.shape[1])
    out = np.empty((len(frames), grids.shape[1]), np.uint32)
    for i, f in enumerate(frames):
        flat[f].take(grids[min(i, len(grids) - 1)], out=out[i])
    rgb: Frames = out.view(np.uint8).reshape(len(frames), size, size, 4)[..., :3]
    return rgb


# ------------------------------------------------------------------ camera randomisation
_BANK: NDArray[np.float32] | None = None


def _noise_bank(shape: tuple[int, int]) -> NDArray[np.float32]:
    """Fixed unit Gaussian noise frames (drawing fresh normals would cost more than the rest)."""
    global _BANK
    if _BANK is None or _BANK.shape[1:3] != shape:
        _BANK = np.random.default_rng(20261201).standard_normal((_NOISE_BANK, *shape, 3), np.float32)
    return _BANK


def _blur(x: NDArray[np.float32], passes: int) -> NDArray[np.float32]:
    """[1, 2, 1] / 4 blur along H and W of [N,H,W,C], ``passes`` times (edges repeated)."""
    for _ in range(passes):
        for axis in (1, 2):
            y = x * np.float32(0.5)
            q = x * np.float32(0.25)
            lo = [slice(None)] * 4
            hi = [slice(None)] * 4
            lo[axis], hi[axis] = slice(1, None), slice(None, -1)
            y[tuple(lo)] += q[tuple(hi)]
            y[tuple(hi)] += q[tuple(lo)]
            e0, e1 = [slice(None)] * 4, [slice(None)] * 4
            e0[axis], e1[axis] = slice(0, 1), slice(-1, None)
            y[tuple(e0)] += q[tuple(e0)]
            y[tuple(e1)] += q[tuple(e1)]
            x = y
    return x


def _lut(x: Frames, lut: NDArray[np.uint8]) -> Frames:
    """Per-channel lookup: ``lut`` [C, 256] for the C channels of ``x`` (any strides)."""
    out = np.empty(x.shape, np.uint8)
    for c in range(x.shape[-1]):
        np.take(lut[c], x[..., c], out=out[..., c])
    return out


def camera(frames: Frames, rng: np.random.Generator, ir_prob: float = 0.12) -> Frames:
    """What a real camera does to a window: exposure/contrast/gamma/white balance (or IR night
    grayscale), focus blur, sensor noise, JPEG at quality 20-90, a dropped or repeated frame."""
    x = frames
    n, h, w = x.shape[:3]
    ir = rng.random() < ir_prob
    if ir:  # one channel until the encoder: an IR picture is exactly gray
        x = (x @ _LUMA).astype(np.uint8)[..., None]
        temp = 0.0
    else:
        temp = float(rng.uniform(-0.15, 0.15))
    v = np.arange(256, dtype=np.float32) / 255.0
    gamma = float(np.exp(rng.normal(0.0, 0.2)))
    contrast = float(rng.uniform(0.7, 1.3)) * (1.2 if ir else 1.0)
    gain = float(np.exp(rng.normal(0.0, 0.25)))
    base = (np.power(v, gamma) - 0.5) * contrast + 0.5
    ch = np.asarray([1 + temp, 1 + 0.3 * temp, 1 - temp], np.float32)[:, None] * gain
    x = _lut(x, np.clip(base[None] * ch * 255.0 + 0.5, 0, 255).astype(np.uint8))
    blur = int(rng.choice(3, p=[0.7, 0.2, 0.1]))
    sigma = float(rng.uniform(0.5, 7.0)) if rng.random() < 0.8 else 0.0
    if blur or sigma:
        f = x.astype(np.float32)
        if blur:
            f = _blur(f, blur)
        if sigma:
            bank = _noise_bank((h, w))
            k = int(rng.integers(0, len(bank) - n + 1)) if n <= len(bank) else 0
            noise = bank[k : k + n] if n <= len(bank) else bank[np.arange(n) % len(bank)]
            f += sigma * noise[..., : x.shape[-1]]
        x = np.clip(f + 0.5, 0, 255).astype(np.uint8)
    if ir:
        x = np.repeat(x, 3, axis=3)
    if rng.random() < 0.9:
        x = jpeg_roundtrip(x, int(rng.integers(20, 91)))
    r = rng.random()
    if n > 1 and r < 0.15:
        i = int(rng.integers(1, n))
        x = x.copy()
        if r < 0.1:
            x[i] = x[i - 1]  # repeated frame (the sampler held the last one)
        else:
            x[i:-1] = x[i + 1 :].copy()  # a dropped frame: the rest come early, the last repeats
    return np.ascontiguousarray(x)


def jpeg_roundtrip(frames: Frames, quality: int) -> Frames:
    """Encode and decode every frame as JPEG (4:2:0, as cameras and Vigil's ingest send them).

    Frames whose height is a multiple of 16 go through the codec as one tall picture: its blocks
    never straddle two frames, so only the chroma upsampling of the frames' edge rows differs
    from frame-by-frame coding (by a few levels), at two thirds of the cost."""
    n, h, w = frames.shape[:3]
    if h % 16:
        return np.stack([_jpeg(np.ascontiguousarray(f), quality) for f in frames])
    tall = _jpeg(np.ascontiguousarray(frames).reshape(n * h, w, 3), quality)
    out: Frames = tall.reshape(n, h, w, 3)
    return out


def _jpeg(frame: Frames, quality: int) -> Frames:
    buf = simplejpeg.encode_jpeg(frame, quality=quality, colorspace="RGB", colorsubsampling="420")
    out: Frames = simplejpeg.decode_jpeg(buf, colorspace="RGB")
    return out


# ------------------------------------------------------------------ styles for synthetic frames
def stylize(frames: Frames, rng: np.random.Generator, n_styles: int | None = None) -> Frames:
    """Domain randomisation for synthetic windows: 1-3 of :data:`STYLES`, the same for every
    frame of the window (so motion stays what the scene did). The result always differs."""
    k = int(rng.integers(1, 4)) if n_styles is None else n_styles
    chosen = [STYLES[int(i)] for i in rng.choice(len(STYLES), size=k, replace=False)]
    n, h, w = frames.shape[:3]
    x = frames.astype(np.float32)
    for s in chosen:
        if s == "texture":
            cell = int(rng.choice([4, 8, 16]))
            grid = rng.normal(0.0, 1.0, ((h + cell - 1) // cell, (w + cell - 1) // cell, 1)).astype(
                np.float32
            )
            coarse = np.repeat(np.repeat(grid, cell, 0), cell, 1)[:h, :w]
            coarse = _blur(coarse[None], 2)[0]
            fine = rng.normal(0.0, 1.0, (h, w, 1)).astype(np.float32)
            x *= 1.0 + float(rng.uniform(0.05, 0.2)) * coarse + float(rng.uniform(0.0, 0.08)) * fine
        elif s == "palette":
            m = np.eye(3, dtype=np.float32) + rng.normal(0.0, 0.15, (3, 3)).astype(np.float32)
            x = x @ m.T + rng.normal(0.0, 15.0, 3).astype(np.float32)
        elif s == "posterize":
            step = 255.0 / float(rng.integers(3, 10))
            x = (np.round(x / step) * step).astype(np.float32)
        elif s == "blur":
            x = _blur(x, int(rng.integers(1, 4)))
        elif s == "soften":
            a = float(rng.uniform(0.4, 0.9))
            x = a * _blur(x, 2) + (1 - a) * x
        elif s == "vignette":
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            r2 = ((yy - h / 2) / (h / 2)) ** 2 + ((xx - w / 2) / (w / 2)) ** 2
            x *= (1.0 - float(rng.uniform(0.2, 0.6)) * r2 / 2)[None, :, :, None]
        elif s == "ir":
            g = x @ _LUMA
            g = (g - g.mean()) * float(rng.uniform(1.0, 1.5)) + g.mean() + float(rng.uniform(-20, 20))
            x = np.repeat(g[..., None], 3, axis=3)
        elif s == "grain":
            x += rng.normal(0.0, float(rng.uniform(3, 10)), (n, h, w, 1)).astype(np.float32)
    out: Frames = np.clip(x + 0.5, 0, 255).astype(np.uint8)
    if np.array_equal(out, frames):  # e.g. a blur of a flat picture: make the style show
        out = (out // 32 * 32 + 16).astype(np.uint8)
        if np.array_equal(out, frames):
            out = (255 - out).astype(np.uint8)
    return out


# ------------------------------------------------------------------ composited incidents
def _stage(rng: np.random.Generator, duration_s: float) -> Scene:
    """A generator scene used only for its geometry (horizon, window) and its drawing code."""
    scene = Scene.random(rng, duration_s)
    scene.movers = []
    scene.background.window = None
    return scene


def _disc_box(cx: float, cy: float, r: float, soft: float, h: int, w: int) -> Box:
    """Pixels :func:`fill_disc` may touch (its own extent formula, plus a pixel of margin)."""
    rp = max(r * w, 0.6)
    ext = rp * (1.0 + 2.0 * soft) + 2.0
    return _clip_box(cy * h - ext, cy * h + ext + 1, cx * w - ext, cx * w + ext + 1, h, w)


def _clip_box(y0: float, y1: float, x0: float, x1: float, h: int, w: int) -> Box:
    return (max(int(y0), 0), min(math.ceil(y1), h), max(int(x0), 0), min(math.ceil(x1), w))


def _union(a: Box | None, b: Box | None) -> Box | None:
    if a is None or b is None:
        return a or b
    return (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))


def _mover_box(m: Mover, t: float, h: int, w: int) -> Box | None:
    x, y = m.pos(t)
    if x < -0.3 or x > 1.3:
        return None
    hp = m.size
    pad = 2.0 / w + 0.12 * hp
    return _clip_box(
        (y - hp * 1.05 - pad) * h,
        (y + pad) * h + 1,
        (x - 0.5 * hp - pad) * w,
        (x + 0.65 * hp + pad) * w + 1,
        h,
        w,
    )


def composite_event(
    frames: Frames, rng: np.random.Generator, kind: str, onset: int | None = None, fps: int = FPS
) -> tuple[Frames, bool]:
    """(frames with ``kind`` drawn in, whether it is visible in them); see :func:`composite`."""
    c = composite(frames, rng, kind, onset, fps)
    return c.frames, c.visible


def composite(
    frames: Frames, rng: np.random.Generator, kind: str, onset: int | None = None, fps: int = FPS
) -> Composite:
    """Draw ``kind`` (a key of :data:`EVENT_KINDS` or one of :data:`NEGATIVE_KINDS`) over real
    frames [T,H,W,3]; the event starts at frame ``onset`` (random in 1..T-2 when None)."""
    if kind not in EVENT_KINDS and kind not in NEGATIVE_KINDS:
        raise ValueError(
            f"composite: unknown kind {kind!r} (one of {', '.join([*EVENT_KINDS, *NEGATIVE_KINDS])})"
        )
    n, h, w = frames.shape[:3]
    k0 = int(rng.integers(1, max(n - 1, 2))) if onset is None else int(onset)
    t0 = (k0 - float(rng.uniform(0.0, 0.9))) / fps  # frame k0 is the first to show the event
    times = [i / fps for i in range(n)]
    scene = _stage(rng, times[-1] + 2.0)
    full: Box = (0, h, 0, w)
    boxes: list[Box | None] = [None] * n
    draw: list[Event] = []
    light: Event | None = None
    movers: list[Mover] = []
    shift_t = 0.0  # smoke: draw the explosion this much later than the frame's time
    flash_shots: list[float] = []
    pane: Box = (0, 0, 0, 0)
    crazed = np.zeros((0, 0, 1), bool)
    fx = fy = fr = 0.0

    if kind in ("fireball", "smoke", "shake"):
        ev: Event = Explosion(t0)
        scene.add(ev, rng)
        ev.p["onscreen"] = float(kind != "shake")
        if kind == "shake":
            ev.p["shake"] = max(ev.p["shake"], float(rng.uniform(1.5, 4.0)))
        x, y, r = ev.p["x"], ev.p["y"], ev.p["r"]
        if kind == "smoke":
            shift_t = 1.0  # the fireball is over; the smoke keeps growing
        else:
            light = ev
        if kind != "shake":
            draw.append(ev)
        for i, t in enumerate(times):
            if t < t0:
                continue
            dt = t - t0 + shift_t
            if kind != "shake":
                sm = _disc_box(x, y - 0.1 * dt, r * min(0.5 + dt, 1.6), 0.3, h, w)
                fb = _disc_box(x, y, r, 0.6, h, w) if dt < 1.0 else None
                boxes[i] = _union(sm, fb)
            if light is not None and ev.light(t) != NO_LIGHT:
                boxes[i] = full
    elif kind == "flash":
        g = Gunshot(t0)
        g.visible = False  # no fleeing people: only the flash is wanted here
        scene.add(g, rng)
        sx, sy = g.p["sx"], g.p["sy"]
        fx, fy, fr = sx + 0.04, sy - 0.11, g.p["flash_r"]
        shots = [t0 + k * g.p["gap"] for k in range(int(g.p["shots"]))]
        jolt = ExposureFlash(t0)
        scene.add(jolt, rng)
        jolt.p.update(lg=float(rng.uniform(0.05, 0.25)), ld=0.3, shake=float(rng.uniform(0.8, 2.5)))
        if rng.random() < 0.4:
            light = jolt
        for i, t in enumerate(times):
            if any(ts <= t <= ts + 0.3 for ts in shots):
                boxes[i] = _disc_box(fx, fy, fr, 1.0, h, w)
            if light is not None and light.light(t) != NO_LIGHT:
                boxes[i] = full
        flash_shots = shots
    elif kind == "shatter":
        gb = GlassBreak(t0)
        scene.add(gb, rng)
        draw.append(gb)
        x0, y0, x1, y1 = scene.background.window or (0.0, 0.0, 1.0, 1.0)
        pane = _clip_box(y0 * h, y1 * h, x0 * w, x1 * w, h, w)
        ph, pw = pane[1] - pane[0], pane[3] - pane[2]
        cells = rng.random((ph // 3 + 1, pw // 3 + 1, 1)) < float(rng.uniform(0.3, 0.6))
        crazed = np.repeat(np.repeat(cells, 3, 0), 3, 1)[:ph, :pw]  # shards of a few pixels
        for i, t in enumerate(times):
            if t >= t0:
                boxes[i] = _clip_box((y0 - 0.3) * h, h, (x0 - 0.22) * w, (x1 + 0.22) * w + 1, h, w)
    elif kind in ("scatter", "walkers"):
        if kind == "scatter":
            g = Gunshot(t0)
            scene.add(g, rng)  # adds 2-4 people who run away from the shot
        else:
            for _ in range(int(rng.integers(2, 5))):
                scene.movers.append(random_person(rng, scene.background))
        movers = scene.movers
        for m in movers:  # colours of this picture, not the generator's saturated ones
            px = frames[0, rng.integers(h, size=2), rng.integers(w, size=2)].astype(np.float32) / 255.0
            c1, c2 = px[0] * rng.uniform(0.6, 1.2), px[1] * rng.uniform(0.4, 1.0)
            m.color = (float(c1[0]), float(c1[1]), float(c1[2]))
            m.color2 = (float(c2[0]), float(c2[1]), float(c2[2]))
        for i, t in enumerate(times):
            for m in movers:
                boxes[i] = _union(boxes[i], _mover_box(m, t, h, w))
    else:  # exposure
        light = ExposureFlash(t0)
        scene.add(light, rng)
        for i, t in enumerate(times):
            if light.light(t) != NO_LIGHT:
                boxes[i] = full

    out = frames.copy()
    visible = False
    for i, t in enumerate(times):
        if boxes[i] is None:
            continue
        img: Image = frames[i].astype(np.float32) * np.float32(1.0 / 255.0)
        for e in draw:
            e.draw_background(img, t + shift_t, scene)
        if kind == "shatter" and t < t0 + 0.3:  # the pane crazes white for an instant
            py0, py1, px0, px1 = pane
            region = img[py0:py1, px0:px1]
            region[:] = np.where(crazed, np.float32(0.55) + 0.45 * region, region)
        for m in sorted(movers, key=lambda m: m.pos(t)[1]):
            m.draw(img, t)
        for e in draw:
            e.draw(img, t + shift_t, scene)
        if kind == "flash":
            for ts in flash_shots:
                if ts <= t <= ts + 0.3:  # Gunshot.draw's muzzle flash, without its shooter
                    fill_disc(img, fx, fy, fr, (1.0, 0.95, 0.6), soft=1.0)
        if light is not None:
            gain, tint, shake = light.light(t)
            if gain or shake:
                img = img * (1.0 + gain) + np.asarray(tint, np.float32)
                if shake > 0:
                    dx, dy = (rng.standard_normal(2) * shake * w / 112).round().astype(int)
                    img = shift(img, int(dx), int(dy))
        out[i] = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
        y0b, y1b, x0b, x1b = boxes[i]  # type: ignore[misc]
        diff = np.abs(out[i, y0b:y1b, x0b:x1b].astype(np.int16) - frames[i, y0b:y1b, x0b:x1b]).max(axis=2)
        seen = int((diff >= 12).sum()) >= max(12, h * w // 1000)
        # people fleeing: visible only once they have been running for a moment
        visible = visible or (seen and (kind != "scatter" or t >= t0 + 0.2))
    return Composite(out, visible, tuple(boxes), kind)
