"""Evaluation report shared by training (PyTorch) and tests/export (ONNX Runtime); numpy only.

Modes: ``both`` (audio and video), ``audio_only`` (video masked), ``video_only`` (audio masked).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from models.contract import CLASSES
from models.corpus.mixer import NEGATIVE_SCENARIO
from models.metrics import average_precision, roc_auc
from models.synth.windows import VISIBLE_INCIDENTS, WindowSet

MODES: dict[str, tuple[float, float]] = {
    "both": (1.0, 1.0),
    "audio_only": (1.0, 0.0),
    "video_only": (0.0, 1.0),
}

#: predict(frames, audio, mask) -> (anomaly [B], class_probs [B,C])
Predictor = Callable[
    [NDArray[np.uint8], NDArray[np.float32], NDArray[np.float32]],
    tuple[NDArray[np.float32], NDArray[np.float32]],
]


def summarize(
    labels: NDArray[np.float32],
    anomaly: NDArray[np.float32],
    class_probs: NDArray[np.float32],
    classes: Sequence[str] = CLASSES,
) -> dict[str, Any]:
    """Anomaly AP and ROC-AUC, per-class AP (incident classes) and their mean."""
    y_anom = 1.0 - labels[:, 0]
    per_class = {
        c: round(average_precision(labels[:, i], class_probs[:, i]), 4)
        for i, c in enumerate(classes)
        if c != "normal"
    }
    finite = [v for v in per_class.values() if v == v]
    return {
        "anomaly_ap": round(average_precision(y_anom, anomaly), 4),
        "anomaly_roc_auc": round(roc_auc(y_anom, anomaly), 4),
        "per_class_ap": per_class,
        "mean_class_ap": round(float(np.mean(finite)), 4) if finite else float("nan"),
        "min_class_ap": round(float(np.min(finite)), 4) if finite else float("nan"),
    }


def predict_modes(
    data: WindowSet, predict: Predictor, batch: int = 64
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Run ``predict`` over ``data`` in each mode; returns mode -> (anomaly, class_probs)."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for mode, (ma, mv) in MODES.items():
        an, cp = [], []
        for i in range(0, len(data), batch):
            f, a = data.frames[i : i + batch], data.audio[i : i + batch]
            mask = np.tile(np.asarray([[ma, mv]], np.float32), (len(f), 1))
            r = predict(f, a, mask)
            an.append(np.asarray(r[0]))
            cp.append(np.asarray(r[1]))
        out[mode] = (np.concatenate(an), np.concatenate(cp))
    return out


def report(
    heldout_labels: NDArray[np.float32],
    heldout_scenarios: Sequence[str],
    heldout_preds: dict[str, tuple[np.ndarray, np.ndarray]],
    ambiguous_labels: NDArray[np.float32] | None = None,
    ambiguous_preds: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> dict[str, Any]:
    """Full report: held-out metrics per mode, fusion gain on the ambiguous set, missing-audio AP."""
    rep: dict[str, Any] = {"heldout": {"n": len(heldout_labels)}}
    for mode, (an, cp) in heldout_preds.items():
        rep["heldout"][mode] = summarize(heldout_labels, an, cp)
    if "video_only" in heldout_preds:
        # with audio masked: visual incidents against every non-incident window
        sel = np.asarray(
            [s in VISIBLE_INCIDENTS or heldout_labels[i, 0] > 0.5 for i, s in enumerate(heldout_scenarios)]
        )
        an = heldout_preds["video_only"][0][sel]
        y = 1.0 - heldout_labels[sel, 0]
        rep["missing_audio"] = {
            "visual_incidents_ap": round(average_precision(y, an), 4),
            "visual_incidents_roc_auc": round(roc_auc(y, an), 4),
            "n_pos": int(y.sum()),
            "n_neg": int((1 - y).sum()),
        }
    if ambiguous_labels is not None and ambiguous_preds is not None:
        amb: dict[str, Any] = {"n": len(ambiguous_labels)}
        for mode, (an, cp) in ambiguous_preds.items():
            amb[mode] = summarize(ambiguous_labels, an, cp)
        singles = [amb[m]["anomaly_ap"] for m in ("audio_only", "video_only") if m in amb]
        if "both" in amb and singles:
            amb["fusion_gain_ap"] = round(amb["both"]["anomaly_ap"] - max(singles), 4)
        rep["ambiguous"] = amb
    return rep


def confusion(
    labels: NDArray[np.float32],
    anomaly: NDArray[np.float32],
    class_probs: NDArray[np.float32],
    threshold: float = 0.5,
    classes: Sequence[str] = CLASSES,
) -> dict[str, dict[str, int]]:
    """Window confusion matrix, true class -> predicted class -> count.

    Predicted is ``normal`` when the anomaly score is below ``threshold``, else the most
    probable incident class; a window's true class is its first labelled incident (or normal).
    """
    incidents = [i for i, c in enumerate(classes) if c != "normal"]
    out: dict[str, dict[str, int]] = {c: dict.fromkeys(classes, 0) for c in classes}
    for y, a, p in zip(labels, anomaly, class_probs, strict=True):
        true = next((classes[i] for i in incidents if y[i] > 0.5), "normal")
        pred = "normal" if a < threshold else classes[incidents[int(np.argmax(p[incidents]))]]
        out[true][pred] += 1
    return out


def real_report(
    labels: NDArray[np.float32],
    scenarios: Sequence[str],
    preds: dict[str, tuple[np.ndarray, np.ndarray]],
    threshold: float = 0.5,
) -> dict[str, Any]:
    """Metrics on real-sound windows: per mode AP, the confusion matrix and false-alarm rates.

    ``ordinary_above_threshold``: the share of windows without an incident (ambience and
    everyday events) whose anomaly score reaches ``threshold`` — what pages an operator.
    """
    rep: dict[str, Any] = {"n": len(labels), "n_incident": int((labels[:, 0] < 0.5).sum())}
    for mode, (an, cp) in preds.items():
        rep[mode] = summarize(labels, an, cp)
    if "both" in preds:
        an, cp = preds["both"]
        rep["confusion_both"] = confusion(labels, an, cp, threshold)
        ordinary = labels[:, 0] > 0.5
        rep["ordinary_above_threshold"] = (
            round(float(np.mean(an[ordinary] >= threshold)), 4) if ordinary.any() else None
        )
        kinds: dict[str, list[float]] = {}
        for s, a, o in zip(scenarios, an, ordinary, strict=True):
            if o:
                kind = s.split(":")[1] if s.startswith(NEGATIVE_SCENARIO) else "ambience"
                for k in kind.split("+"):
                    kinds.setdefault(k, []).append(float(a >= threshold))
        rep["ordinary_above_threshold_by_kind"] = {
            k: round(float(np.mean(v)), 3) for k, v in sorted(kinds.items())
        }
    return rep
