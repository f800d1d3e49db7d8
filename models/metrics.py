"""Ranking metrics in numpy (no scikit-learn): average precision and ROC-AUC."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def average_precision(y_true: ArrayLike, score: ArrayLike) -> float:
    """Average precision (area under the step PR curve, as scikit-learn computes it).

    Returns NaN when there is no positive.
    """
    y = np.asarray(y_true, dtype=np.float64).ravel() > 0.5
    s = np.asarray(score, dtype=np.float64).ravel()
    n_pos = int(y.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    distinct = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]
    tp = np.cumsum(y)[distinct]
    fp = (distinct + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / n_pos
    prev = np.r_[0.0, recall[:-1]]
    return float(np.sum((recall - prev) * precision))


def pr_curve(y_true: ArrayLike, score: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) points, highest threshold first."""
    y = np.asarray(y_true, dtype=np.float64).ravel() > 0.5
    s = np.asarray(score, dtype=np.float64).ravel()
    order = np.argsort(-s, kind="mergesort")
    tp = np.cumsum(y[order])
    k = np.arange(1, y.size + 1)
    return tp / max(int(y.sum()), 1), tp / k


def roc_auc(y_true: ArrayLike, score: ArrayLike) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties count one half). NaN if one class is absent."""
    y = np.asarray(y_true, dtype=np.float64).ravel() > 0.5
    s = np.asarray(score, dtype=np.float64).ravel()
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(s.size, dtype=np.float64)
    sorted_s = s[order]
    i = 0
    while i < s.size:
        j = i
        while j + 1 < s.size and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
