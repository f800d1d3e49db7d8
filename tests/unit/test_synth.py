"""Synthetic data generator: shapes, labels, determinism, ambiguity by design, real-clip reader."""

from __future__ import annotations

import numpy as np
import pytest

from models.contract import CLASSES
from models.realclips import LabelledRange, LabelsError, read_labels, window_labels
from models.synth import AMBIGUOUS_MIX, SCENARIOS, make_dataset, make_window
from models.synth.events import INCIDENTS


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_scenario_renders_a_contract_window(scenario: str) -> None:
    frames, audio, labels, name = make_window([42, 1], scenario=scenario)
    assert name == scenario
    assert frames.shape == (8, 112, 112, 3) and frames.dtype == np.uint8
    assert audio.shape == (32000,) and audio.dtype == np.float32
    assert np.isfinite(audio).all() and np.abs(audio).max() <= 1.0
    assert labels.shape == (len(CLASSES),)
    assert labels[0] == float(labels[1:].sum() == 0)


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("gunshot", {"gunshot"}),
        ("door_slam", set()),
        ("scream_offscreen", {"scream"}),
        ("fight_scream", {"fight", "scream"}),
        ("exposure_flash", set()),
        ("explosion_offscreen", {"explosion"}),
    ],
)
def test_labels_follow_the_scenario(scenario: str, expected: set[str]) -> None:
    _, _, labels, _ = make_window([7, 3], scenario=scenario)
    present = {c for c, v in zip(CLASSES, labels, strict=True) if v and c != "normal"}
    assert present == expected


def test_same_seed_same_window_other_seed_differs() -> None:
    a = make_window([5, 9])
    b = make_window([5, 9])
    c = make_window([5, 10])
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[3] == b[3]
    assert not np.array_equal(a[1], c[1])


def test_dataset_mix_and_ambiguous_mix() -> None:
    ds = make_dataset(12, seed=3, mix=AMBIGUOUS_MIX)
    assert len(ds) == 12 and set(ds.scenarios) <= set(AMBIGUOUS_MIX)
    assert ds.frames.shape[0] == ds.audio.shape[0] == ds.labels.shape[0] == 12


def _motion(frames: np.ndarray) -> float:
    return float(np.abs(np.diff(frames.astype(np.float32), axis=0)).mean())


def test_gunshot_and_door_slam_share_the_bang_but_not_the_picture() -> None:
    """Audio alone is ambiguous by design: both are loud impulses; the picture differs."""
    gun_f, gun_a, _, _ = make_window([11, 2], scenario="gunshot")
    door_f, door_a, _, _ = make_window([11, 2], scenario="door_slam")
    assert np.abs(gun_a).max() > 0.1 and np.abs(door_a).max() > 0.1
    assert _motion(gun_f) > _motion(door_f)


def test_incident_renderers_cover_every_incident_class() -> None:
    assert set(INCIDENTS) == set(CLASSES) - {"normal"}


def test_window_labels_overlap_rule() -> None:
    r = [LabelledRange(4.0, 5.0, "gunshot")]
    assert window_labels(r, 3.0, 5.0)[CLASSES.index("gunshot")] == 1.0
    assert window_labels(r, 4.9, 6.9)[0] == 1.0  # only 0.1 s overlap: normal


def test_labels_csv_reader(tmp_path) -> None:
    (tmp_path / "labels.csv").write_text("file,start_s,end_s,class\na.mp4,4,6.5,gunshot\nb.mp4,,,\n")
    labels = read_labels(tmp_path)
    assert labels == {"a.mp4": [LabelledRange(4.0, 6.5, "gunshot")], "b.mp4": []}
    (tmp_path / "labels.csv").write_text("file,start_s,end_s,class\na.mp4,4,6.5,riot\n")
    with pytest.raises(LabelsError, match="unknown class 'riot'"):
        read_labels(tmp_path)


def test_real_clip_folder_round_trip(tmp_path) -> None:
    """Write a 4 s mp4 (H.264 + AAC) with PyAV, label it, read it back as windows."""
    av = pytest.importorskip("av")
    from models.realclips import load_real_windows
    from models.synth.windows import build_scene

    rng = np.random.default_rng(0)
    scene = build_scene(rng, "gunshot", 4.0, 2.2)
    sr, fps = 16000, 8
    audio = scene.audio(sr)
    with av.open(str(tmp_path / "clip.mp4"), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = 160, 120, "yuv420p"
        aus = out.add_stream("aac", rate=sr, layout="mono")
        for k in range(int(4.0 * fps)):
            frame = av.VideoFrame.from_ndarray(scene.frame(k / fps, 120, 160), format="rgb24")
            for p in vs.encode(frame):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        for i in range(0, audio.size, 1024):
            chunk = audio[None, i : i + 1024]
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="flt", layout="mono")
            af.sample_rate = sr
            af.pts = i
            for p in aus.encode(af):
                out.mux(p)
        for p in aus.encode():
            out.mux(p)
    (tmp_path / "labels.json").write_text(
        '{"clips": [{"file": "clip.mp4", "events": [{"start_s": 2.2, "end_s": 3.5, "class": "gunshot"}]}]}'
    )
    ws = load_real_windows(tmp_path)
    assert ws.frames.shape[1:] == (8, 112, 112, 3) and ws.audio.shape[1] == 32000
    assert len(ws) >= 2
    g = CLASSES.index("gunshot")
    assert ws.labels[0, g] == 0.0 and ws.labels[0, 0] == 1.0  # window 0..2 s
    assert ws.labels[-1, g] == 1.0


def test_scene_style_clip_has_the_incident_signature() -> None:
    from models.synth.clip_render import ClipSpec, render_clip

    spec = ClipSpec(
        duration_s=3.0,
        width=96,
        height=64,
        fps=4,
        sample_rate=8000,
        incidents=((1.5, "explosion"),),
        style="scene",
        seed=2,
    )
    frames = list(render_clip(spec))
    assert len(frames) == 12 and frames[0].video.shape == (64, 96, 3)
    audio = np.concatenate([f.audio for f in frames if f.audio is not None])
    assert audio.size == 24000
    assert np.abs(audio[12000:]).max() > 3 * np.abs(audio[:11000]).max()  # the boom
    again = list(render_clip(spec))
    assert all(np.array_equal(a.video, b.video) for a, b in zip(frames, again, strict=True))
