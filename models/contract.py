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
from collections.abc import Callable
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


# ONNX's ModelProto (onnx/onnx.proto3) fields read here: ir_version = 1, graph = 7,
# metadata_props = 14 (repeated StringStringEntryProto {key = 1; value = 2}).
_IR_VERSION_FIELD = 1
_GRAPH_FIELD = 7
_METADATA_FIELD = 14
_MAX_METADATA_BYTES = 16 << 20


class _WireError(ValueError):
    """The bytes are not a protobuf message of the expected shape."""


def _varint(read: Callable[[int], bytes]) -> int | None:
    """Read one base-128 varint with ``read(n)``; None at a clean end of input."""
    result = shift = 0
    while True:
        b = read(1)
        if not b:
            if shift == 0:
                return None
            raise _WireError("truncated varint")
        result |= (b[0] & 0x7F) << shift
        if not b[0] & 0x80:
            return result
        shift += 7
        if shift >= 64:
            raise _WireError("varint longer than 64 bits")


def _fields(data: bytes) -> list[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of one small message held in memory."""
    out: list[tuple[int, int, int | bytes]] = []
    pos = 0

    def read(n: int) -> bytes:
        nonlocal pos
        chunk = data[pos : pos + n]
        pos += len(chunk)
        return chunk

    while (key := _varint(read)) is not None:
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _WireError("field number 0")
        if wire == 0:
            value: int | bytes = _varint(read) or 0
        elif wire == 2:
            length = _varint(read) or 0
            value = read(length)
            if len(value) != length:
                raise _WireError("truncated field")
        elif wire in (1, 5):
            value = read(8 if wire == 1 else 4)
        else:
            raise _WireError(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _read_metadata_props(p: Path) -> dict[str, str]:
    """ModelProto.metadata_props read straight from the protobuf wire format.

    Needs neither onnxruntime nor onnx (ingest and alert images carry neither), and skips the
    graph and its weights without reading them. The file must look like a model: it has an
    ir_version and a graph, and every top-level field is well formed.
    """
    meta: dict[str, str] = {}
    seen: set[int] = set()
    size = p.stat().st_size
    with p.open("rb") as f:
        while (key := _varint(f.read)) is not None:
            number, wire = key >> 3, key & 7
            if number == 0:
                raise _WireError("field number 0")
            seen.add(number)
            if wire == 0:
                if _varint(f.read) is None:
                    raise _WireError("truncated varint")
            elif wire in (1, 5):
                n = 8 if wire == 1 else 4
                if len(f.read(n)) != n:
                    raise _WireError("truncated field")
            elif wire == 2:
                length = _varint(f.read)
                if length is None or f.tell() + length > size:
                    raise _WireError(f"field {number} runs past the end of the file")
                if number != _METADATA_FIELD:
                    f.seek(length, 1)
                    continue
                if length > _MAX_METADATA_BYTES:
                    raise _WireError(f"a metadata entry of {length} bytes")
                entry = dict((n, v) for n, w, v in _fields(f.read(length)) if w == 2)
                k, v = entry.get(1, b""), entry.get(2, b"")
                assert isinstance(k, bytes) and isinstance(v, bytes)
                meta[k.decode()] = v.decode()
            else:
                raise _WireError(f"unsupported wire type {wire}")
    missing = {_IR_VERSION_FIELD: "ir_version", _GRAPH_FIELD: "graph"}
    lacking = [name for number, name in missing.items() if number not in seen]
    if lacking:
        raise _WireError(f"no {' and no '.join(lacking)}")
    return meta


def read_metadata(path: str | Path) -> dict[str, str]:
    """Return the ONNX file's metadata_props as a dict.

    Read from the protobuf wire format by this module (no onnxruntime or onnx import), so the
    ingest and alert images, which carry no ONNX Runtime, read the model's contract too.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelContractError(f"{p}: model file not found")
    try:
        return _read_metadata_props(p)
    except (_WireError, UnicodeDecodeError) as exc:
        raise ModelContractError(f"{p}: not a loadable ONNX model ({type(exc).__name__}: {exc})") from exc


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
