"""The model contract: what an exported Vigil model says about itself (no torch needed).

An exported ONNX file carries one metadata property, ``vigil.contract``, holding JSON::

    {"contract_version": 1, "model_version": "...", "window_s": 2.0, "hop_s": 1.0, "fps": 4,
     "frame_height": 112, "frame_width": 112, "sample_rate": 16000, "classes": [...],
     "inputs": {...}, "outputs": {...}, "training": {...}}

Services read their window length, frame rate/size and sample rate from here instead of
hard-coding them. :func:`load_model_contract` refuses a file without a valid contract.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CONTRACT_KEY = "vigil.contract"
CONTRACT_VERSION = 1

CLASSES: tuple[str, ...] = ("normal", "fight", "scream", "gunshot", "glass_break", "explosion")
WINDOW_S = 2.0
HOP_S = 1.0
FPS = 4
FRAME_HEIGHT = 112
FRAME_WIDTH = 112
SAMPLE_RATE = 16000

INPUT_NAMES: tuple[str, ...] = ("frames", "audio", "modality_mask")
OUTPUT_NAMES: tuple[str, ...] = ("anomaly", "class_probs", "contribution")
INPUTS_DOC: dict[str, str] = {
    "frames": "uint8 [B,T,H,W,3]",
    "audio": "float32 [B,S]",
    "modality_mask": "float32 [B,2] (audio, video)",
}
OUTPUTS_DOC: dict[str, str] = {
    "anomaly": "[B]",
    "class_probs": "[B,C]",
    "contribution": "[B,2] (audio, video)",
}

_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "contract_version": int,
    "model_version": str,
    "window_s": (int, float),
    "hop_s": (int, float),
    "fps": int,
    "frame_height": int,
    "frame_width": int,
    "sample_rate": int,
    "classes": list,
    "inputs": dict,
    "outputs": dict,
}


class ModelContractError(ValueError):
    """The model file has no usable ``vigil.contract`` metadata (message names file and problem)."""


@dataclass(frozen=True)
class ModelContract:
    """Self-description of an exported model: window geometry, rates, classes, I/O names."""

    model_version: str
    window_s: float = WINDOW_S
    hop_s: float = HOP_S
    fps: int = FPS
    frame_height: int = FRAME_HEIGHT
    frame_width: int = FRAME_WIDTH
    sample_rate: int = SAMPLE_RATE
    classes: tuple[str, ...] = CLASSES
    inputs: dict[str, str] = field(default_factory=lambda: dict(INPUTS_DOC))
    outputs: dict[str, str] = field(default_factory=lambda: dict(OUTPUTS_DOC))
    training: dict[str, Any] = field(default_factory=dict)
    contract_version: int = CONTRACT_VERSION

    @property
    def frames_per_window(self) -> int:
        """T: frames in one window (``round(window_s * fps)``)."""
        return round(self.window_s * self.fps)

    @property
    def samples_per_window(self) -> int:
        """S: audio samples in one window (``round(window_s * sample_rate)``)."""
        return round(self.window_s * self.sample_rate)

    def to_json(self) -> str:
        """Serialise as the JSON stored under :data:`CONTRACT_KEY`."""
        data = asdict(self)
        data["classes"] = list(self.classes)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "<string>") -> ModelContract:
        """Parse and validate contract JSON; ``source`` names the file in error messages."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelContractError(f"{source}: '{CONTRACT_KEY}' is not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise ModelContractError(f"{source}: '{CONTRACT_KEY}' must be a JSON object")
        missing = [k for k in _REQUIRED if k not in data]
        if missing:
            raise ModelContractError(f"{source}: '{CONTRACT_KEY}' lacks field(s) {', '.join(missing)}")
        for key, typ in _REQUIRED.items():
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, typ):
                raise ModelContractError(f"{source}: contract field '{key}' has wrong type ({value!r})")
        if data["contract_version"] != CONTRACT_VERSION:
            raise ModelContractError(
                f"{source}: contract_version {data['contract_version']} unsupported "
                f"(this Vigil reads version {CONTRACT_VERSION})"
            )
        classes = data["classes"]
        if not classes or not all(isinstance(c, str) for c in classes):
            raise ModelContractError(f"{source}: contract 'classes' must be a non-empty list of strings")
        for key in ("window_s", "hop_s", "fps", "frame_height", "frame_width", "sample_rate"):
            if data[key] <= 0:
                raise ModelContractError(f"{source}: contract field '{key}' must be positive ({data[key]})")
        for name in INPUT_NAMES:
            if name not in data["inputs"]:
                raise ModelContractError(f"{source}: contract 'inputs' lacks '{name}'")
        for name in OUTPUT_NAMES:
            if name not in data["outputs"]:
                raise ModelContractError(f"{source}: contract 'outputs' lacks '{name}'")
        return cls(
            model_version=data["model_version"],
            window_s=float(data["window_s"]),
            hop_s=float(data["hop_s"]),
            fps=data["fps"],
            frame_height=data["frame_height"],
            frame_width=data["frame_width"],
            sample_rate=data["sample_rate"],
            classes=tuple(classes),
            inputs=dict(data["inputs"]),
            outputs=dict(data["outputs"]),
            training=dict(data.get("training") or {}),
            contract_version=data["contract_version"],
        )


def read_metadata(path: str | Path) -> dict[str, str]:
    """Return the ONNX file's metadata_props as a dict (onnxruntime, falling back to onnx)."""
    p = Path(path)
    if not p.is_file():
        raise ModelContractError(f"{p}: model file not found")
    try:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        sess = ort.InferenceSession(str(p), sess_options=opts, providers=["CPUExecutionProvider"])
        return dict(sess.get_modelmeta().custom_metadata_map)
    except ImportError:  # pragma: no cover - onnxruntime is a run-time dependency
        pass
    except Exception as exc:
        raise ModelContractError(f"{p}: not a loadable ONNX model ({type(exc).__name__}: {exc})") from exc
    import onnx  # pragma: no cover

    model = onnx.load(str(p), load_external_data=False)  # pragma: no cover
    return {prop.key: prop.value for prop in model.metadata_props}  # pragma: no cover


def load_model_contract(path: str | Path) -> ModelContract:
    """Read and validate the ``vigil.contract`` metadata of an ONNX model file.

    Raises :class:`ModelContractError` naming the file and what is missing or wrong.
    """
    meta = read_metadata(path)
    if CONTRACT_KEY not in meta:
        keys = ", ".join(sorted(meta)) or "none"
        raise ModelContractError(
            f"{path}: no '{CONTRACT_KEY}' metadata (metadata keys present: {keys}); "
            "export the model with `vigil export` so it describes its inputs, rates and classes"
        )
    return ModelContract.from_json(meta[CONTRACT_KEY], source=str(path))
