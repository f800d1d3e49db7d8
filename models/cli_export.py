"""`vigil export`: write a trained run as self-describing ONNX (opset >= 17, dynamic batch).

The file's metadata key ``vigil.contract`` holds the model contract (window/hop, fps, frame
size, sample rate, classes, I/O names, model version) and a training summary with the
held-out metrics measured by ``vigil train``. Verifies ONNX Runtime against PyTorch.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

DEFAULT_OUT = "models/default/vigil-av-fusion.onnx"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register `vigil export` options."""
    parser.add_argument("--run", default="runs/default", help="run directory written by `vigil train`")
    parser.add_argument("--out", default=DEFAULT_OUT, help="ONNX file to write")
    parser.add_argument("--model-version", default="1.0.0", help="version string stored in the contract")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 17)")


def training_summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """Condense metrics.json into the contract's ``training`` field."""
    tr = dict(metrics.get("training", {}))
    ho = metrics.get("heldout", {})
    amb = metrics.get("ambiguous", {})
    tr["metrics"] = {
        "heldout_windows": ho.get("n"),
        "anomaly_ap": ho.get("both", {}).get("anomaly_ap"),
        "anomaly_roc_auc": ho.get("both", {}).get("anomaly_roc_auc"),
        "per_class_ap": ho.get("both", {}).get("per_class_ap"),
        "ablation_anomaly_ap": {
            m: ho.get(m, {}).get("anomaly_ap") for m in ("both", "audio_only", "video_only")
        },
        "ambiguous_anomaly_ap": {
            m: amb.get(m, {}).get("anomaly_ap") for m in ("both", "audio_only", "video_only")
        },
        "ambiguous_fusion_gain_ap": amb.get("fusion_gain_ap"),
        "missing_audio_visual_incidents_ap": metrics.get("missing_audio", {}).get("visual_incidents_ap"),
    }
    real = metrics.get("real_test")
    if real:
        tr["metrics"]["real_test"] = {
            "windows": real.get("n"),
            "anomaly_ap": real.get("both", {}).get("anomaly_ap"),
            "per_class_ap": real.get("both", {}).get("per_class_ap"),
            "ablation_anomaly_ap": {
                m: real.get(m, {}).get("anomaly_ap") for m in ("both", "audio_only", "video_only")
            },
            "ordinary_above_threshold": real.get("ordinary_above_threshold"),
        }
    return tr


def run(args: argparse.Namespace) -> int:
    """Export ``--run``'s model.pt to ``--out``; returns a process exit code."""
    try:
        import torch

        from models.export import export_onnx, max_abs_diff_vs_torch
        from models.net import FusionNet
    except ImportError as exc:
        print(f"vigil export needs the training extras (pip install -e '.[train]'): {exc}")
        return 2
    from models.contract import ModelContract, load_model_contract

    if args.opset < 17:
        print(f"--opset {args.opset}: Vigil needs opset 17 or newer")
        return 2
    run_dir = Path(args.run)
    weights = run_dir / "model.pt"
    if not weights.is_file():
        print(f"{weights}: not found (train first: vigil train --out {run_dir})")
        return 2
    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    model = FusionNet()
    model.load_state_dict(torch.load(weights, weights_only=False)["model"])
    contract = ModelContract(model_version=args.model_version, training=training_summary(metrics))
    out = export_onnx(model, args.out, contract, opset=args.opset)
    diffs = max_abs_diff_vs_torch(model, out)
    loaded = load_model_contract(out)
    size_mb = out.stat().st_size / 1e6
    print(f"wrote {out} ({size_mb:.2f} MB, opset {args.opset}, model_version {loaded.model_version})")
    print("ONNX Runtime vs PyTorch max |diff|: " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
    return 0 if diffs["anomaly"] <= 1e-4 else 1
