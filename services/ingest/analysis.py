"""The analysis geometry ingest produces: frame rate and size, audio sample rate.

One place for the defaults: the model's contract (its ONNX metadata) when a model file is
configured or bundled, else the contract defaults of :mod:`models.contract`. A camera may
override fps and size.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from models import contract as model_contract
from streaming.config import CameraConfig, VigilConfig

log = logging.getLogger(__name__)

BUNDLED_MODEL_DIR = Path(model_contract.__file__).resolve().parent / "default"


@dataclass(frozen=True, slots=True)
class AnalysisSpec:
    """What one camera's records look like: video fps and size, audio rate (mono)."""

    fps: float
    width: int
    height: int
    sample_rate: int

    def for_camera(self, camera: CameraConfig) -> AnalysisSpec:
        """This spec with the camera's overrides applied."""
        return replace(
            self,
            fps=camera.fps or self.fps,
            width=camera.width or self.width,
            height=camera.height or self.height,
        )


def default_spec() -> AnalysisSpec:
    """The contract defaults (used until a model file says otherwise)."""
    return AnalysisSpec(
        fps=float(model_contract.FPS),
        width=model_contract.FRAME_WIDTH,
        height=model_contract.FRAME_HEIGHT,
        sample_rate=model_contract.SAMPLE_RATE,
    )


def model_path(config: VigilConfig) -> Path | None:
    """The configured model, or the bundled one if present, or None."""
    if config.fusion.model_path is not None:
        return config.fusion.model_path
    bundled = sorted(BUNDLED_MODEL_DIR.glob("*.onnx"))
    return bundled[0] if bundled else None


def resolve_spec(config: VigilConfig) -> AnalysisSpec:
    """The analysis spec from the model's contract, or the defaults when there is no model.

    A configured model without a valid contract is an error (it would silently mismatch
    fusion); a missing bundled model is not (development before the first export).
    """
    path = model_path(config)
    if path is None:
        log.info("no model file: analysis defaults %s", default_spec())
        return default_spec()
    c = model_contract.load_model_contract(path)
    spec = AnalysisSpec(float(c.fps), c.frame_width, c.frame_height, c.sample_rate)
    log.info("analysis spec from model %s (version %s): %s", path.name, c.model_version, spec)
    return spec
