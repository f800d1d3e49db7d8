"""Score ONNX models on real-sound windows from packages of one split (numpy + ONNX Runtime).

    python -m models.evaluate_real --corpus data/corpus                 # default model vs the previous one
    python -m models.evaluate_real --model M.onnx --baseline none --split val

Renders (seeded) mixed windows from the split's packages only — the same recipe as training
(:func:`models.corpus.windows.make_real_dataset`) — and a set built to be ambiguous for each
modality alone (:func:`models.corpus.windows.make_ambiguous_real_dataset`), then prints, per
model: anomaly AP with both modalities, audio only and video only; per-class AP; the share of
ordinary windows scoring >= 0.5; and the fusion gain on the ambiguous set. JSON with --json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from models.evaluate import MODES, real_report
from models.previous import add_baseline_argument, resolve_baseline
from models.runtime import DEFAULT_MODEL_PATH, FusionModel
from models.synth.windows import WindowSet


def score(model: FusionModel, data: WindowSet, batch: int = 64) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Mode -> (anomaly, class_probs) over ``data``."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for mode, (ma, mv) in MODES.items():
        an, cp = [], []
        for i in range(0, len(data), batch):
            f, a = data.frames[i : i + batch], data.audio[i : i + batch]
            r = model.predict(f, a, np.tile(np.asarray([[ma, mv]], np.float32), (len(f), 1)))
            an.append(r.anomaly)
            cp.append(r.class_probs)
        out[mode] = (np.concatenate(an), np.concatenate(cp))
    return out


def evaluate_model(path: Path, sets: dict[str, WindowSet]) -> dict[str, Any]:
    """real_report of ``path`` on each set, plus the ambiguous set's fusion gain."""
    model = FusionModel(path, providers=["CPUExecutionProvider"])
    rep: dict[str, Any] = {"model": str(path), "model_version": model.contract.model_version}
    for name, data in sets.items():
        rep[name] = real_report(data.labels, data.scenarios, score(model, data))
    if "ambiguous" in rep:
        amb = rep["ambiguous"]
        amb["fusion_gain_ap"] = round(
            amb["both"]["anomaly_ap"] - max(amb["audio_only"]["anomaly_ap"], amb["video_only"]["anomaly_ap"]),
            4,
        )
    return rep


def _line(name: str, rep: dict[str, Any]) -> str:
    w, amb = rep["windows"], rep.get("ambiguous")
    classes = " ".join(f"{c} {v:.2f}" for c, v in w["both"]["per_class_ap"].items())
    text = (
        f"{name:>9} {rep['model_version']!s:>7}  AP both {w['both']['anomaly_ap']:.3f}  "
        f"audio-only {w['audio_only']['anomaly_ap']:.3f}  video-only {w['video_only']['anomaly_ap']:.3f}  "
        f"ordinary>=0.5 {w['ordinary_above_threshold']:.3f}  per class: {classes}"
    )
    if amb:
        text += (
            f"\n{'':>9} {'':>7}  ambiguous: both {amb['both']['anomaly_ap']:.3f}, audio-only "
            f"{amb['audio_only']['anomaly_ap']:.3f}, video-only {amb['video_only']['anomaly_ap']:.3f}, "
            f"fusion gain {amb['fusion_gain_ap']:+.3f}"
        )
    return text


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    from models.corpus.mixer import SoundBank
    from models.corpus.windows import default_frame_source, make_ambiguous_real_dataset, make_real_dataset

    ap = argparse.ArgumentParser(prog="python -m models.evaluate_real", description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(DEFAULT_MODEL_PATH))
    add_baseline_argument(ap)
    ap.add_argument("--corpus", default="data/corpus")
    ap.add_argument("--split", default="test", choices=["train", "val", "test"])
    ap.add_argument("--windows", type=int, default=1200)
    ap.add_argument("--ambiguous", type=int, default=600)
    ap.add_argument("--seed", type=int, default=3_100_003)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    try:
        bank = SoundBank.from_corpus(args.corpus, [args.split])
    except FileNotFoundError as exc:
        print(f"evaluate_real: {exc} (run `vigil data fetch`)", file=sys.stderr)
        return 2
    print(
        f"{args.split} split: {len(bank.packages)} packages ({', '.join(sorted(bank.packages))})", flush=True
    )
    sets = {
        "windows": make_real_dataset(bank, args.windows, args.seed, default_frame_source(args.corpus)),
        "ambiguous": make_ambiguous_real_dataset(bank, args.ambiguous, args.seed + 1, args.corpus),
    }
    models = {"model": Path(args.model)}
    baseline = resolve_baseline(args.baseline, Path(args.model))
    if baseline is not None:
        models["baseline"] = baseline
    reports = {name: evaluate_model(path, sets) for name, path in models.items()}
    for name, rep in reports.items():
        print(_line(name, rep))
    if args.json:
        print(json.dumps(reports))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
