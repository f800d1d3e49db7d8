"""``vigil evaluate``'s metrics on hand-built clips: matching, false alarms, delays, confusion, AP."""

from __future__ import annotations

import pytest

from models.realclips import LabelledRange
from services.evaluate.scoring import (
    AlertSpan,
    ClipResult,
    ScoredWindow,
    average_precision,
    evaluate,
    match_clip,
    pr_curve,
)

CLASSES = ("normal", "fight", "scream", "gunshot", "glass_break", "explosion")


def windows(duration: int, hot: dict[int, tuple[str, float]]) -> tuple[ScoredWindow, ...]:
    """Windows [t, t+2) every second; ``hot``: start -> (class, probability)."""
    out = []
    for t in range(duration - 1):
        cls, p = hot.get(t, ("normal", 0.0))
        probs = {c: 0.0 for c in CLASSES}
        probs[cls] = p
        out.append(ScoredWindow(float(t), t + 2.0, p, probs))
    return tuple(out)


GUNSHOT = LabelledRange(10.0, 12.0, "gunshot")
SCREAM = LabelledRange(30.0, 33.0, "scream")
CLIP_A = ClipResult(
    "a.mp4",
    1800.0,
    (GUNSHOT, SCREAM),
    windows(40, {10: ("gunshot", 0.9), 11: ("gunshot", 0.8), 30: ("fight", 0.7)}),
    (
        AlertSpan("gunshot", 10.0, 12.0, 16.0, 0.9),  # right class, 2 s late
        AlertSpan("fight", 31.0, 33.5, 37.0, 0.7),  # detects the scream as a fight
        AlertSpan("glass_break", 100.0, 102.0, 105.0, 0.6),  # a false alarm
    ),
)
CLIP_B = ClipResult(
    "b.mp4",
    1800.0,
    (LabelledRange(50.0, 52.0, "gunshot"),),
    windows(10, {}),
    (AlertSpan("gunshot", 54.5, 56.0, 58.0, 0.8),),  # 2.5 s after the end: outside a 2 s tolerance
)


def test_match_clip_detects_within_tolerance_and_lists_false_alarms() -> None:
    matches, false_alarms = match_clip(CLIP_A, tolerance_s=2.0)
    assert [(m.alert_class, m.right_class, m.delay_s) for m in matches] == [
        ("gunshot", True, 2.0),
        ("fight", False, 3.5),
    ]
    assert [a.class_name for a in false_alarms] == ["glass_break"]
    matches, false_alarms = match_clip(CLIP_B, tolerance_s=2.0)
    assert matches[0].alert_class is None and len(false_alarms) == 1
    matches, false_alarms = match_clip(CLIP_B, tolerance_s=3.0)
    assert matches[0].right_class and false_alarms == []


def test_evaluate_hand_checked() -> None:
    ev = evaluate([CLIP_A, CLIP_B], CLASSES, tolerance_s=2.0)
    assert ev.footage_s == 3600.0
    o = ev.overall
    assert (o.incidents, o.detected, o.detected_right_class) == (3, 2, 1)
    assert o.recall == pytest.approx(2 / 3) and o.recall_right_class == pytest.approx(1 / 3)
    assert (o.false_alarms, o.false_alarms_per_hour) == (2, 2.0)  # glass_break in A, the late gunshot in B
    assert o.delays_s == [2.0, 3.5]
    assert o.delay_median_s == pytest.approx(2.75)
    assert ev.classes["gunshot"].incidents == 2 and ev.classes["gunshot"].recall == 0.5
    assert ev.classes["gunshot"].false_alarms == 1
    assert ev.classes["scream"].recall_right_class == 0.0
    assert ev.confusion == {
        "gunshot": {"gunshot": 1, "missed": 1},
        "scream": {"fight": 1},
        "normal": {"glass_break": 1, "gunshot": 1},
    }
    # [9,11), [10,12) and [11,13) are labelled gunshot; two score 0.9 and 0.8, the third ties at 0
    # with the other 45 windows: AP = 1/3 * 1 + 1/3 * 1 + 1/3 * 3/48
    assert ev.classes["gunshot"].positive_windows == 3
    assert ev.classes["gunshot"].window_ap == pytest.approx(2 / 3 + 1 / 48)


def test_average_precision_known_values() -> None:
    assert average_precision([True, False, True, False], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(
        (1 + 2 / 3) / 2
    )
    assert average_precision([True, True], [0.5, 0.4]) == pytest.approx(1.0)
    assert average_precision([False, False], [0.5, 0.4]) is None
    # a tie is one threshold: both predicted together, precision 1/2
    assert average_precision([True, False], [0.5, 0.5]) == pytest.approx(0.5)
    precision, recall = pr_curve([True, False, True], [0.9, 0.5, 0.1])
    assert list(recall) == [0.5, 0.5, 1.0] and list(precision) == pytest.approx([1.0, 0.5, 2 / 3])
