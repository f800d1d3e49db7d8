"""``vigil ingest`` end to end on a file and the in-memory bus, and real-time pacing of files."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from models.synth.clip_render import ClipSpec
from services.clips import write_clip
from services.ingest import cli
from services.ingest.analysis import AnalysisSpec
from services.ingest.metrics import IngestMetrics
from services.ingest.session import CameraSession, SessionOptions


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "clip.mp4"
    write_clip(ClipSpec(duration_s=1.5, width=64, height=48, fps=10, seed=5), path)
    return path


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_vigil_ingest_runs_a_file_to_its_end(tmp_path: Path, clip: Path) -> None:
    config = tmp_path / "vigil.yaml"
    config.write_text(f"bus: memory\ncameras:\n  a: {{url: '{clip}'}}\n  b: {{url: '{clip}'}}\n")
    assert cli.run(parse("--config", str(config), "--camera", "a", "--port", "0")) == 0


def test_vigil_ingest_rejects_bad_selection(tmp_path: Path, clip: Path) -> None:
    config = tmp_path / "vigil.yaml"
    config.write_text(f"bus: memory\ncameras:\n  a: {{url: '{clip}'}}\n")
    assert cli.run(parse("--config", str(config), "--camera", "nope", "--port", "0")) == 2
    assert (
        cli.run(parse("--config", str(config), "--shard-index", "1", "--shard-count", "2", "--port", "0"))
        == 2
    )


def test_realtime_replay_paces_a_file_at_its_own_rate(clip: Path) -> None:
    published: list[float] = []

    def publish(_: object) -> bool:
        published.append(time.monotonic())
        return True

    session = CameraSession(
        "cam",
        str(clip),
        AnalysisSpec(fps=4, width=32, height=32, sample_rate=16000),
        SessionOptions(realtime=True),
        publish,
        IngestMetrics(CollectorRegistry()),
    )
    assert session.run().reason == "eof"
    assert published[-1] - published[0] >= 1.0  # 1.5 s of content is not published in a burst
