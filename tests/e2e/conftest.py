"""End-to-end fixtures: the local stack plus an RTSP server playing clips with incidents at known times.

The clips are rendered in the model's training look (``style="scene"``), cached under
``.stack/e2e-clips`` and served by ``scripts/stack/rtsp_server.py`` on 127.0.0.1:8556.
Every test here is marked ``integration``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import STACK_DIR, LocalStack, RtspTestServer, stack  # noqa: F401  (fixture re-export)

ROOT = Path(__file__).resolve().parents[2]
E2E_PORT = 8556
CLIP_S = 20.0
# mount -> (incident time in the clip, class), None for a quiet clip
CLIPS: dict[str, tuple[float, str] | None] = {
    "gunshot": (4.0, "gunshot"),
    "scream": (5.0, "scream"),
    "quiet": None,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this directory ``integration``."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


@dataclass(frozen=True)
class E2ECameras:
    """RTSP URLs of the e2e clips and what happens in them."""

    port: int
    clips: dict[str, tuple[float, str] | None]

    def url(self, mount: str) -> str:
        """rtsp://127.0.0.1:8556/<mount>."""
        return f"rtsp://127.0.0.1:{self.port}/{mount}"


def _render(path: Path, incident: tuple[float, str] | None, seed: int) -> None:
    from models.synth.clip_render import ClipSpec
    from services.clips import write_clip

    if path.exists():
        return
    spec = ClipSpec(
        duration_s=CLIP_S,
        width=320,
        height=240,
        fps=15,
        seed=seed,
        style="scene",
        incidents=(incident,) if incident else (),
    )
    tmp = path.with_suffix(".tmp.mp4")
    write_clip(spec, tmp)
    tmp.replace(path)


@pytest.fixture(scope="session")
def e2e_cameras(stack: LocalStack) -> Iterator[E2ECameras]:  # noqa: F811
    """An RTSP server on 127.0.0.1:8556 serving the e2e clips (each client plays from the start)."""
    clips_dir = STACK_DIR / "e2e-clips"
    clips_dir.mkdir(parents=True, exist_ok=True)
    mounts: dict[str, Path] = {}
    for i, (name, incident) in enumerate(CLIPS.items()):
        path = clips_dir / f"{name}-{CLIP_S:g}s.mp4"
        _render(path, incident, seed=11 + i)
        mounts[name] = path
    server = RtspTestServer(E2E_PORT, mounts, log_name="rtsp-e2e.log")
    server.start()
    try:
        yield E2ECameras(E2E_PORT, dict(CLIPS))
    finally:
        server.stop()
