"""`vigil make-clip` writes an mp4 that PyAV reads back with the requested shape and timing."""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import numpy as np
import pytest

from services import clips


def _make(tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "clip.mp4"
    parser = argparse.ArgumentParser()
    clips.add_arguments(parser)
    args = parser.parse_args(
        ["-o", str(out), "--duration", "3", "--width", "96", "--height", "64", "--fps", "10", *extra]
    )
    assert clips.run(args) == 0
    return out


def test_clip_has_both_streams_and_aligned_incident(tmp_path: Path) -> None:
    path = _make(tmp_path, "--incident", "1.5:gunshot", "--seed", "2")
    with av.open(str(path)) as container:
        video_stream, audio_stream = container.streams.video[0], container.streams.audio[0]
        assert video_stream.codec_context.name == "h264" and audio_stream.codec_context.name == "aac"
        assert video_stream.average_rate == 10 and audio_stream.rate == 16000
        frames = list(container.decode(video=0))
    assert len(frames) == 30
    assert (frames[0].width, frames[0].height) == (96, 64)
    brightness = [f.to_ndarray(format="gray").mean() for f in frames]
    visual_onset = frames[int(np.argmax(np.diff(brightness))) + 1].time
    with av.open(str(path)) as container:
        chunks = [(f.time, f.to_ndarray()[0]) for f in container.decode(audio=0)]
    audio = np.concatenate([c for _, c in chunks])
    first_time = chunks[0][0]
    assert first_time is not None
    audio_onset = first_time + int(np.argmax(np.abs(audio) > 0.3)) / 16000
    assert visual_onset == pytest.approx(1.5, abs=1e-6)
    assert abs(audio_onset - visual_onset) < 1 / 10  # within one frame


def test_no_audio_clip_has_video_only(tmp_path: Path) -> None:
    with av.open(str(_make(tmp_path, "--no-audio"))) as container:
        assert [s.type for s in container.streams] == ["video"]


def test_bad_incident_is_a_usage_error() -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        clips.parse_incident("soon:gunshot")


def test_make_clip_draws_the_training_look_on_request(tmp_path: Path) -> None:
    from services.clips import main

    basic, scene = tmp_path / "basic.mp4", tmp_path / "scene.mp4"
    assert main(["-o", str(basic), "--duration", "2", "--incident", "1:gunshot"]) == 0
    assert main(["-o", str(scene), "--duration", "2", "--incident", "1:gunshot", "--style", "scene"]) == 0
    assert basic.read_bytes() != scene.read_bytes()
    with pytest.raises(SystemExit):
        main(["-o", str(tmp_path / "x.mp4"), "--style", "cartoon"])
