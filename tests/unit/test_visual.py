"""Real footage library, camera randomisation, styles and composited events (no network, no corpus)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.corpus import footage
from models.corpus.visual import (
    EVENT_KINDS,
    NEGATIVE_KINDS,
    STYLES,
    FootageError,
    FootageLibrary,
    camera,
    composite,
    composite_event,
    photo_backdrops,
    stylize,
)
from models.synth import make_window

RESERVED = {
    "openclonk-data", "0ad-data", "gcompris-qt-data", "supertuxkart-data", "lincity-ng-data",
    "wesnoth-1.16-data", "nexuiz-data", "warzone2100-data", "hedgewars-data", "openarena-data",
    "openarena-081-misc", "tuxpaint-stamps-default", "supertux-data", "freedroidrpg-data",
    "asterisk-moh-opsound-wav", "asterisk-core-sounds-en-wav", "minetest-mod-homedecor",
    "minetest-mod-mobs-redo", "heroes-sound-effects", "bzflag-data", "tuxtype-data",
    "teeworlds-data", "sound-theme-freedesktop", "alsa-utils",
}  # fmt: skip


def _street(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """A textured backdrop with a square walking across it: uint8 [n,h,w,3]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([60 + xx * 120 // w, 80 + yy * 100 // h, 100 + 0 * xx], axis=-1)
    base = base + rng.integers(-20, 20, (h, w, 3))
    out = np.repeat(base[None], n, axis=0)
    for i in range(n):
        x0 = (5 + 3 * i) % (w - 10)
        out[i, h // 2 : h // 2 + 12, x0 : x0 + 8] = (200, 40, 40)
    res: np.ndarray = np.clip(out, 0, 255).astype(np.uint8)
    return res


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "footage" / "cam").mkdir(parents=True)
    (root / "footage" / "photos").mkdir()
    wide = _street(24, 72, 96)
    np.savez_compressed(root / "footage" / "cam" / "street.npz", frames=wide[:, :, 12:84], wide=wide)
    np.savez_compressed(root / "footage" / "photos" / "wall.npz", frames=_street(1, 150, 200, seed=1))
    return root


@pytest.fixture()
def lib(corpus: Path) -> FootageLibrary:
    return FootageLibrary.load(corpus)


def test_missing_corpus_says_how_to_fetch_it(tmp_path: Path) -> None:
    with pytest.raises(FootageError, match="vigil data fetch"):
        FootageLibrary.load(tmp_path / "nowhere")
    (tmp_path / "empty" / "footage").mkdir(parents=True)
    with pytest.raises(FootageError, match="vigil data fetch"):
        FootageLibrary.load(tmp_path / "empty")


def test_load_finds_clips_and_photos(lib: FootageLibrary) -> None:
    assert len(lib.clips) == 1 and len(lib.photos) == 1
    assert lib.clips[0].shape == (24, 72, 96, 3)  # the wide view is preferred
    assert "1 clips" in repr(lib)


@pytest.mark.parametrize("photo_prob", [0.0, 1.0])
def test_window_shape_dtype_and_determinism(corpus: Path, photo_prob: float) -> None:
    lib = FootageLibrary.load(corpus, photo_prob=photo_prob)
    a = lib.window(np.random.default_rng(3))
    b = lib.window(np.random.default_rng(3))
    assert a.shape == (8, 112, 112, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, lib.window(np.random.default_rng(4)))
    assert lib.scene(np.random.default_rng(0), n_frames=5).shape == (5, 112, 112, 3)


def test_clip_windows_are_consecutive_frames(corpus: Path) -> None:
    lib = FootageLibrary.load(corpus, photo_prob=0.0)
    s = lib.scene(np.random.default_rng(1))
    # the walking square moves between frames, the camera does not
    assert all(not np.array_equal(s[i], s[i + 1]) for i in range(7))


def test_windows_do_not_cross_a_scene_cut(tmp_path: Path) -> None:
    a, b = _street(8, 60, 60, seed=1), 255 - _street(8, 60, 60, seed=2)
    lib = FootageLibrary([np.concatenate([a, b])], [], photo_prob=0.0)
    for seed in range(10):
        s = lib.scene(np.random.default_rng(seed)).astype(np.int16)
        jumps = np.abs(np.diff(s, axis=0)).mean(axis=(1, 2, 3))
        assert jumps.max() < 40


def test_photo_helper_crops_to_any_size(lib: FootageLibrary) -> None:
    p = lib.photo(np.random.default_rng(0), 48, 64)
    assert p.shape == (48, 64, 3) and p.dtype == np.uint8


def test_camera_keeps_shape_and_is_seeded() -> None:
    x = _street(8, 112, 112)
    a, b = camera(x, np.random.default_rng(9)), camera(x, np.random.default_rng(9))
    assert a.shape == x.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    outs = [camera(x, np.random.default_rng(s)) for s in range(20)]
    assert sum(not np.array_equal(o, x) for o in outs) == 20
    # the IR night look shows up (all channels equal) for some seeds
    ir = camera(x, np.random.default_rng(0), ir_prob=1.0).astype(np.int16)
    assert np.abs(ir[..., 0] - ir[..., 1]).max() <= 2 and np.abs(ir[..., 2] - ir[..., 1]).max() <= 2


@pytest.mark.parametrize("seed", range(12))
def test_stylize_changes_frames_and_is_seeded(seed: int) -> None:
    x = _street(8, 112, 112)
    a, b = stylize(x, np.random.default_rng(seed)), stylize(x, np.random.default_rng(seed))
    assert a.shape == x.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, x)


@pytest.mark.parametrize("n_styles", range(1, len(STYLES) + 1))
def test_stylize_any_number_of_styles_even_on_a_flat_picture(n_styles: int) -> None:
    flat = np.full((4, 32, 32, 3), 128, np.uint8)
    assert not np.array_equal(stylize(flat, np.random.default_rng(n_styles), n_styles=n_styles), flat)


@pytest.mark.parametrize("kind", [*EVENT_KINDS, *NEGATIVE_KINDS])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_composite_changes_pixels_only_where_and_when_it_claims(kind: str, seed: int) -> None:
    x = _street(8, 112, 112, seed=seed)
    c = composite(x, np.random.default_rng(seed), kind, onset=3)
    assert c.frames.shape == x.shape and c.frames.dtype == np.uint8 and c.kind == kind
    assert c.visible
    for i, box in enumerate(c.boxes):
        if box is None:
            np.testing.assert_array_equal(c.frames[i], x[i], err_msg=f"frame {i} changed, not claimed")
            continue
        y0, y1, x0, x1 = box
        outside = np.ones(x.shape[1:3], bool)
        outside[y0:y1, x0:x1] = False
        np.testing.assert_array_equal(c.frames[i][outside], x[i][outside], err_msg=f"frame {i} outside {box}")
    if kind not in ("scatter", "walkers"):  # people are there before they run; the rest starts at onset
        assert not c.changed[:3].any() and c.changed[3]
    np.testing.assert_array_equal(c.frames, composite_event(x, np.random.default_rng(seed), kind, onset=3)[0])


@pytest.mark.parametrize("kind", list(EVENT_KINDS))
def test_composite_after_the_window_is_not_visible(kind: str) -> None:
    x = _street(8, 112, 112)
    c = composite(x, np.random.default_rng(0), kind, onset=12)
    assert not c.visible
    if kind != "scatter":  # the people who will flee are already standing there
        assert not c.changed.any()
        np.testing.assert_array_equal(c.frames, x)


def test_composite_rejects_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="unknown kind 'riot'"):
        composite_event(_street(2, 16, 16), np.random.default_rng(0), "riot")


def test_composite_then_camera_on_a_library_scene(lib: FootageLibrary) -> None:
    rng = np.random.default_rng(5)
    frames, visible = composite_event(lib.scene(rng), rng, "fireball", onset=2)
    assert visible and camera(frames, rng).shape == (8, 112, 112, 3)


def test_photo_backdrops_for_synthetic_scenes_are_seeded_and_scoped(lib: FootageLibrary) -> None:
    drawn = make_window([7000001, 2])[0]
    with photo_backdrops(lib, prob=1.0):
        a, b = make_window([7000001, 2])[0], make_window([7000001, 2])[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, drawn)
    np.testing.assert_array_equal(make_window([7000001, 2])[0], drawn)


# ------------------------------------------------------------------ footage fetching helpers
def test_photo_array_keeps_aspect_up_to_three_to_two() -> None:
    buf = io.BytesIO()
    Image.fromarray(_street(1, 300, 900)[0]).save(buf, "PNG")
    arr = footage.photo_array(buf.getvalue())
    assert arr.shape == (1, 224, 336, 3) and arr.dtype == np.uint8
    gray = io.BytesIO()
    Image.fromarray(_street(1, 240, 240)[0, :, :, 0]).save(gray, "PNG")
    assert footage.photo_array(gray.getvalue()).shape == (1, 224, 224, 3)


def test_video_arrays_sample_at_4_fps(tmp_path: Path) -> None:
    import av

    path = tmp_path / "clip.avi"
    with av.open(str(path), "w") as out:
        st = out.add_stream("mpeg4", rate=10)
        st.width, st.height, st.pix_fmt = 160, 120, "yuv420p"
        for f in _street(30, 120, 160):  # 3 s
            for p in st.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(p)
        for p in st.encode():
            out.mux(p)
    small, wide = footage.video_arrays(path)
    assert small.shape == (12, 112, 112, 3) and wide.shape == (12, 144, 192, 3)
    assert small.dtype == wide.dtype == np.uint8
    assert footage.array_sha256(small) == footage.array_sha256(small.copy())


def test_manifest_round_trip_and_committed_manifest(tmp_path: Path) -> None:
    rows = footage.read_manifest()
    assert rows and all(r.licence and len(r.sha256) == 64 for r in rows)
    assert {r.kind for r in rows} == {"video", "photo"}
    assert not {r.package for r in rows} & RESERVED
    assert not {s.package for s in footage.SOURCES} & RESERVED
    footage.write_manifest(rows, tmp_path / "m.tsv")
    assert footage.read_manifest(tmp_path / "m.tsv") == rows
