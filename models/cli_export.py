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
    parser.add_argument(
        "--run",
        nargs="+",
        default=["runs/default"],
        help="run directory written by `vigil train`; several: export their average (an ensemble)",
    )
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
    for split in ("real_val", "real_test"):
        real = metrics.get(split)
        if not real:
            continue
        tr["metrics"][split] = {
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
        from models.net import FusionEnsemble, FusionNet
    except ImportError as exc:
        print(f"vigil export needs the training extras (pip install -e '.[train]'): {exc}")
        return 2
    from models.contract import ModelContract, load_model_contract

    if args.opset < 17:
        print(f"--opset {args.opset}: Vigil needs opset 17 or newer")
        return 2
    members: list[FusionNet] = []
    summaries: list[dict[str, Any]] = []
    first_config: dict[str, Any] = {}  # the ensemble is measured on the first run's cached windows
    for run_dir in map(Path, args.run):
        weights = run_dir / "model.pt"
        if not weights.is_file():
            print(f"{weights}: not found (train first: vigil train --out {run_dir})")
            return 2
        metrics_path = run_dir / "metrics.json"
        metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
        saved = torch.load(weights, weights_only=False)
        net = FusionNet.for_state(saved["model"])
        net.load_state_dict(saved["model"])
        members.append(net)
        summaries.append({"run": run_dir.name, **training_summary(metrics)})
        if not first_config:
            first_config = dict(saved.get("config") or {}, out=str(run_dir))
    if len(members) == 1:
        model: FusionNet | FusionEnsemble = members[0]
        training = summaries[0]
    else:
        model = FusionEnsemble(members)
        try:
            training = ensemble_training(model, first_config, summaries)
        except FileNotFoundError as exc:
            print(f"{exc}: the ensemble is measured on the first run's held-out windows")
            return 2
    contract = ModelContract(model_version=args.model_version, training=training)
    out = export_onnx(model, args.out, contract, opset=args.opset)
    diffs = max_abs_diff_vs_torch(model, out)
    loaded = load_model_contract(out)
    size_mb = out.stat().st_size / 1e6
    print(f"wrote {out} ({size_mb:.2f} MB, opset {args.opset}, model_version {loaded.model_version})")
    print("ONNX Runtime vs PyTorch max |diff|: " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
    return 0 if diffs["anomaly"] <= 1e-4 else 1


def ensemble_training(model: Any, config: dict[str, Any], summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """The contract's ``training`` field for an ensemble: its members' summaries, and its own
    metrics measured now on the held-out windows the first member's run cached (the same windows
    that run's own metrics were measured on, so the numbers compare)."""
    from models.train_config import TrainConfig
    from models.trainer import cached_evaluation_sets, heldout_report

    cfg = TrainConfig(**{k: v for k, v in config.items() if k in TrainConfig.__dataclass_fields__})
    print(f"measuring the ensemble of {len(summaries)} on {cfg.out}'s held-out windows")
    rep = heldout_report(model, cached_evaluation_sets(cfg))
    tr = training_summary(rep)
    return {
        "ensemble_of": [s["run"] for s in summaries],
        "combination": "mean of the members' probabilities and contributions",
        "metrics": tr["metrics"],
        "members": summaries,
    }
