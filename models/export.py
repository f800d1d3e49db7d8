"""Export a :class:`models.net.FusionNet` to self-describing ONNX (torch needed; see cli_export)."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

from models.contract import CONTRACT_KEY, INPUT_NAMES, OUTPUT_NAMES, ModelContract
from models.net import FusionEnsemble, FusionNet

#: what can be exported: one network, or several averaged
Exportable = FusionNet | FusionEnsemble

OPSET = 17


def export_onnx(model: Exportable, path: str | Path, contract: ModelContract, opset: int = OPSET) -> Path:
    """Write ``model`` as ONNX with a dynamic batch axis and the ``vigil.contract`` metadata."""
    model = model.eval()
    t, s = contract.frames_per_window, contract.samples_per_window
    frames = torch.zeros(2, t, contract.frame_height, contract.frame_width, 3, dtype=torch.uint8)
    audio = torch.zeros(2, s)
    mask = torch.ones(2, 2)
    buf = io.BytesIO()
    dyn = {name: {0: "batch"} for name in (*INPUT_NAMES, *OUTPUT_NAMES)}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation and tracer notes
        torch.onnx.export(
            model,
            (frames, audio, mask),
            buf,  # type: ignore[arg-type]
            dynamo=False,
            opset_version=opset,
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=dyn,
            do_constant_folding=True,
        )
    proto = onnx.load_from_string(buf.getvalue())
    del proto.metadata_props[:]
    for key, value in (
        (CONTRACT_KEY, contract.to_json()),
        ("vigil.model_version", contract.model_version),
        ("vigil.classes", ",".join(contract.classes)),
    ):
        prop = proto.metadata_props.add()
        prop.key, prop.value = key, value
    proto.producer_name = "vigil"
    proto.doc_string = "Vigil audio-visual fusion model; see metadata 'vigil.contract'."
    onnx.checker.check_model(proto)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(out))
    return out


def max_abs_diff_vs_torch(
    model: Exportable, path: str | Path, batch: int = 4, seed: int = 0
) -> dict[str, float]:
    """Run the same random inputs through PyTorch and ONNX Runtime (CPU); max |diff| per output."""
    import onnxruntime as ort

    rng = np.random.default_rng(seed)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    shapes = {i.name: i.shape for i in sess.get_inputs()}
    _, t, h, w, _ = shapes["frames"]
    frames = rng.integers(0, 256, (batch, t, h, w, 3), dtype=np.uint8)
    audio = (rng.standard_normal((batch, shapes["audio"][1])) * 0.1).astype(np.float32)
    mask = np.ones((batch, 2), np.float32)
    mask[0, 0] = 0.0
    if batch > 1:
        mask[1, 1] = 0.0
    feeds = {"frames": frames, "audio": audio, "modality_mask": mask}
    ort_out = sess.run(list(OUTPUT_NAMES), feeds)
    with torch.no_grad():
        pt_out = model.eval()(torch.from_numpy(frames), torch.from_numpy(audio), torch.from_numpy(mask))
    return {
        name: float(np.max(np.abs(o - p.numpy())))
        for name, o, p in zip(OUTPUT_NAMES, ort_out, pt_out, strict=True)
    }
