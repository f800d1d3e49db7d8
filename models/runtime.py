"""Run-time wrapper around an exported Vigil model (onnxruntime + numpy; no torch).

    model = FusionModel("models/default/vigil-av-fusion.onnx")
    out = model.predict(frames, audio, mask)   # batch arrays, see FusionModel.predict

Inputs are validated before they reach ONNX Runtime, so a wrong shape, dtype or rate gives a
:class:`ModelInputError` naming the input and the expected value, never a crash deep inside
the runtime. Missing modalities have a defined result:

- ``audio=None`` or an audio row containing NaN/Inf: that row's audio is treated as missing
  (zeros, audio mask 0) and reported in :attr:`ModelOutput.audio_missing`.
- ``frames=None``: video treated as missing (zeros, video mask 0) for every row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from models.contract import INPUT_NAMES, OUTPUT_NAMES, ModelContract, load_model_contract

DEFAULT_PROVIDERS: tuple[str, ...] = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "CPUExecutionProvider",
)
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "default" / "vigil-av-fusion.onnx"


def onnxruntime_module() -> Any:
    """``import onnxruntime``, or a ModuleNotFoundError that says where ONNX Runtime is.

    It is the ``fusion`` extra: the fusion image and the development venv have it; the ingest and
    alert image (docker/Dockerfile) does not, and runs no model.
    """
    try:
        import onnxruntime
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "onnxruntime is not installed: running a model (vigil fusion, vigil demo) needs the "
            "fusion image (docker/Dockerfile.fusion) or `pip install 'vigil[fusion]'`",
            name="onnxruntime",
        ) from exc
    return onnxruntime


def binding_device(providers: Sequence[str]) -> str | None:
    """Where :class:`FusionModel` binds inputs with IO binding: "cuda" when CUDA or TensorRT leads,
    None (a plain ``session.run``: IO binding saves nothing when inputs already live in host memory)
    on the CPU.
    """
    if providers and providers[0] in ("TensorrtExecutionProvider", "CUDAExecutionProvider"):
        return "cuda"
    return None


class ModelInputError(ValueError):
    """An input does not match the model contract (message names the input and what was expected)."""


@dataclass(frozen=True)
class ModelOutput:
    """Batch outputs: anomaly [B], class_probs [B,C], contribution [B,2] (audio, video)."""

    anomaly: NDArray[np.float32]
    class_probs: NDArray[np.float32]
    contribution: NDArray[np.float32]
    classes: tuple[str, ...]
    audio_missing: NDArray[np.bool_]
    video_missing: NDArray[np.bool_]

    def top_classes(self, row: int, threshold: float = 0.5) -> list[tuple[str, float]]:
        """Incident classes (not 'normal') of ``row`` with probability >= threshold, highest first."""
        pairs = [
            (c, float(p))
            for c, p in zip(self.classes, self.class_probs[row], strict=True)
            if c != "normal" and p >= threshold
        ]
        return sorted(pairs, key=lambda cp: -cp[1])


GPU_PROVIDERS = frozenset({"TensorrtExecutionProvider", "CUDAExecutionProvider"})


def gpu_present() -> bool:
    """True when an NVIDIA device node exists (onnxruntime-gpu lists CUDA even on CPU-only hosts)."""
    return any(Path(p).exists() for p in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg"))


def select_providers(requested: Sequence[str] | None = None) -> list[str]:
    """Keep the requested providers that this onnxruntime offers.

    Default (``None``): TensorRT, CUDA, CPU, with the GPU ones only when a GPU device is present,
    so a CPU-only host does not log provider-load failures. Raises ``ModelInputError`` if none is left.
    """
    ort = onnxruntime_module()

    available = set(ort.get_available_providers())
    if requested:
        wanted = list(requested)
    else:
        wanted = [p for p in DEFAULT_PROVIDERS if p not in GPU_PROVIDERS or gpu_present()]
    chosen = [p for p in wanted if p in available]
    if not chosen:
        raise ModelInputError(
            f"none of the providers {wanted} is available (onnxruntime has {sorted(available)})"
        )
    return chosen


class FusionModel:
    """An ONNX Runtime session for a Vigil model plus its contract and input validation."""

    def __init__(
        self,
        path: str | Path = DEFAULT_MODEL_PATH,
        providers: Sequence[str] | None = None,
        intra_op_threads: int | None = None,
    ) -> None:
        ort = onnxruntime_module()

        self.path = Path(path)
        self.contract: ModelContract = load_model_contract(self.path)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if intra_op_threads:
            opts.intra_op_num_threads = intra_op_threads
        self.session = ort.InferenceSession(
            str(self.path), sess_options=opts, providers=select_providers(providers)
        )
        names = [i.name for i in self.session.get_inputs()]
        if names != list(INPUT_NAMES):
            raise ModelInputError(
                f"{self.path}: model inputs {names} differ from the contract {list(INPUT_NAMES)}"
            )
        # "cuda": inputs go through IO binding; "cpu" does the same with host memory (tests)
        self.binding_device: str | None = binding_device(self.providers)

    def warmup(self, batch: int = 1) -> None:
        """Run one batch of silence/black frames (first-call allocations, TensorRT engine build)."""
        c = self.contract
        self.predict(
            np.zeros((batch, c.frames_per_window, c.frame_height, c.frame_width, 3), np.uint8),
            np.zeros((batch, c.samples_per_window), np.float32),
        )

    @property
    def providers(self) -> list[str]:
        """Providers the session actually uses, in priority order."""
        return list(self.session.get_providers())

    def predict(
        self,
        frames: NDArray[np.uint8] | None,
        audio: NDArray[np.floating] | None,
        mask: NDArray[np.floating] | None = None,
        sample_rate: int | None = None,
        *,
        owned: bool = False,
    ) -> ModelOutput:
        """Score a batch of windows.

        frames: uint8 [B,T,H,W,3] RGB (or None: no video); audio: float32 [B,S] mono in [-1, 1]
        at the contract's sample rate (or None: no audio); mask: [B,2] (audio, video) presence in
        {0, 1} (default: what is present). ``sample_rate``, if given, must equal the contract's.
        ``owned``: the caller gives its float32 ``audio`` and ``mask`` arrays away (they may be
        changed in place: masked rows zeroed), saving a copy of every batch.
        """
        c = self.contract
        t, h, w, s = c.frames_per_window, c.frame_height, c.frame_width, c.samples_per_window
        if sample_rate is not None and sample_rate != c.sample_rate:
            raise ModelInputError(
                f"audio sample rate {sample_rate} Hz: the model needs {c.sample_rate} Hz "
                "(resample before calling)"
            )
        if frames is None and audio is None:
            raise ModelInputError("frames and audio are both None: nothing to score")
        b = self._batch_size(frames, audio, mask)
        if frames is None:
            frames_arr = np.zeros((b, t, h, w, 3), np.uint8)
        else:
            frames_arr = np.asarray(frames)
            if frames_arr.dtype != np.uint8:
                raise ModelInputError(f"frames: dtype {frames_arr.dtype}, expected uint8 RGB")
            if frames_arr.shape[1:] != (t, h, w, 3):
                raise ModelInputError(
                    f"frames: shape {frames_arr.shape}, expected [B,{t},{h},{w},3] "
                    f"({c.window_s:g} s at {c.fps} fps, {h}x{w} RGB)"
                )
        if audio is None:
            audio_arr = np.zeros((b, s), np.float32)
        else:
            audio_arr = np.asarray(audio)
            if audio_arr.ndim != 2 or audio_arr.shape[1] != s:
                raise ModelInputError(
                    f"audio: shape {audio_arr.shape}, expected [B,{s}] "
                    f"({c.window_s:g} s at {c.sample_rate} Hz; wrong sample rate?)"
                )
            if not np.issubdtype(audio_arr.dtype, np.floating):
                raise ModelInputError(f"audio: dtype {audio_arr.dtype}, expected float32 in [-1, 1]")
            audio_arr = audio_arr.astype(np.float32, copy=not owned)
        if mask is None:
            mask_arr = np.ones((b, 2), np.float32)
        else:
            mask_arr = np.asarray(mask, dtype=np.float32)
            if mask_arr is mask and not owned:
                mask_arr = mask_arr.copy()
            if mask_arr.shape != (b, 2):
                raise ModelInputError(
                    f"modality_mask: shape {mask_arr.shape}, expected [{b},2] (audio, video)"
                )
            if not np.all((mask_arr == 0.0) | (mask_arr == 1.0)):
                raise ModelInputError("modality_mask: values must be 0 or 1")
        if audio is None:
            mask_arr[:, 0] = 0.0
        if frames is None:
            mask_arr[:, 1] = 0.0
        bad_audio = ~np.isfinite(audio_arr).all(axis=1)
        audio_arr[bad_audio] = 0.0
        mask_arr[bad_audio, 0] = 0.0
        audio_missing = mask_arr[:, 0] == 0.0
        audio_arr[audio_missing] = 0.0
        feeds: dict[str, NDArray[Any]] = {
            "frames": np.ascontiguousarray(frames_arr),
            "audio": audio_arr,
            "modality_mask": mask_arr,
        }
        anomaly, class_probs, contribution = self._run(feeds)
        return ModelOutput(
            anomaly=anomaly,
            class_probs=class_probs,
            contribution=contribution,
            classes=c.classes,
            audio_missing=audio_missing,
            video_missing=mask_arr[:, 1] == 0.0,
        )

    def _run(self, feeds: dict[str, NDArray[Any]]) -> list[NDArray[Any]]:
        """``session.run``; on an accelerator through IO binding, so ONNX Runtime copies each input
        to the device once, straight from our arrays, and the small outputs back to host memory.
        """
        device = self.binding_device
        if device is None:
            outs: list[NDArray[Any]] = self.session.run(list(OUTPUT_NAMES), feeds)
            return outs
        binding = self.session.io_binding()
        for name, arr in feeds.items():
            if device == "cpu":
                binding.bind_cpu_input(name, arr)
            else:
                import onnxruntime as ort

                binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(arr, device, 0))
        for name in OUTPUT_NAMES:
            binding.bind_output(name, "cpu")
        self.session.run_with_iobinding(binding)
        outputs: list[NDArray[Any]] = binding.copy_outputs_to_cpu()
        return outputs

    @staticmethod
    def _batch_size(frames: Any, audio: Any, mask: Any) -> int:
        sizes: dict[str, int] = {}
        for name, arr in (("frames", frames), ("audio", audio), ("modality_mask", mask)):
            if arr is not None:
                shape = np.shape(arr)
                if len(shape) == 0:
                    raise ModelInputError(f"{name}: expected an array with a batch axis, got a scalar")
                sizes[name] = int(shape[0])
        if len(set(sizes.values())) > 1:
            raise ModelInputError(f"batch sizes differ: {sizes}")
        b = next(iter(sizes.values()))
        if b == 0:
            raise ModelInputError("empty batch")
        return int(b)
