"""``vigil calibrate``: finds the known best threshold, cross-validates, writes YAML that loads, refuses thin data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.realclips import LabelledRange
from services import cli as vigil_cli
from services.evaluate.calibrate import (
    CalibrationClip,
    TooFewIncidents,
    calibrate,
    folds_of,
    outcome,
    simulate,
    snippet,
)
from streaming.config import AlertPolicyConfig, ClassPolicy, load_config
from streaming.contracts import WindowScore

NS = 1_000_000_000
T0 = 1_780_000_000 * NS
CLASSES = ("normal", "fight", "scream", "gunshot", "glass_break", "explosion")
INCIDENT_P = 0.62  # gunshot probability the model gives real gunshots
DISTRACTOR_P = 0.48  # and a door slam in the quiet clips (the anomaly score cannot tell them apart)
ANOMALY = 0.7


def window(camera: str, t: int, cls: str = "", p: float = 0.0) -> WindowScore:
    probs = {c: 0.02 for c in CLASSES}
    probs["normal"] = 1.0 - 0.02 * 5
    if cls:
        probs[cls], probs["normal"] = p, 1.0 - p - 0.02 * 4
    start = T0 + t * NS
    return WindowScore(
        camera_id=camera,
        session_id="s",
        seq=T0 // NS + t,
        capture_ns=start,
        window_start_ns=start,
        window_end_ns=start + 2 * NS,
        anomaly=ANOMALY if cls else 0.05,
        class_probs=probs,
        contribution={"audio": 0.5, "video": 0.5},
        missing=(),
        model_version="m",
        latency_s=0.1,
        scored_ns=start + 2 * NS,
    )


def clip(
    name: str, hot: dict[int, tuple[str, float]], incidents: tuple[LabelledRange, ...], seconds: int = 60
) -> CalibrationClip:
    scores = tuple(window(name, t, *hot.get(t, ("", 0.0))) for t in range(seconds))
    return CalibrationClip(name, float(seconds), incidents, scores, T0)


def incident_clip(i: int, cls: str = "gunshot") -> CalibrationClip:
    at = 10 + 5 * i
    hot = {at - 1: (cls, INCIDENT_P), at: (cls, INCIDENT_P), at + 1: (cls, INCIDENT_P)}
    return clip(f"inc-{i}", hot, (LabelledRange(float(at), at + 2.0, cls),))


def quiet_clip(i: int) -> CalibrationClip:
    at = 20 + 3 * i
    return clip(f"quiet-{i}", {at: ("gunshot", DISTRACTOR_P), at + 1: ("gunshot", DISTRACTOR_P)}, ())


CLIPS = [incident_clip(i) for i in range(6)] + [quiet_clip(i) for i in range(4)]
BASE = AlertPolicyConfig(resolve_m=2, cooldown_s=0)


def test_simulate_uses_the_real_policy() -> None:
    loose = AlertPolicyConfig(
        raise_k=1,
        raise_n=1,
        resolve_m=2,
        anomaly_threshold=0.1,
        classes={"gunshot": ClassPolicy(threshold=0.5)},
    )
    spans = simulate(loose, incident_clip(0))
    assert [(s.class_name, s.start_s, s.raised_s) for s in spans] == [("gunshot", 9.0, 11.0)]


def test_finds_the_known_best_threshold_within_a_zero_budget() -> None:
    result = calibrate(BASE, CLIPS, 0.0, CLASSES, tolerance_s=2.0)
    assert result is not None
    thresholds = {c: p.threshold for c, p in result.policy.classes.items()}
    # the one threshold that catches every incident and no door slam lies in (0.48, 0.62]
    assert DISTRACTOR_P < thresholds["gunshot"] <= INCIDENT_P
    assert result.policy.anomaly_threshold <= ANOMALY
    assert (result.fitted.detected_right_class, result.fitted.false_alarms) == (6, 0)
    assert result.expected.incidents == 6 and result.folds == 5
    assert result.expected.recall_right_class == 1.0 and result.expected.false_alarms == 0
    assert result.policy.resolve_m == 2  # the rest of the policy is kept


def test_a_generous_budget_lets_false_alarms_in_only_if_recall_gains() -> None:
    result = calibrate(BASE, CLIPS, 1000.0, CLASSES, tolerance_s=2.0)
    assert result is not None and result.fitted.false_alarms == 0  # fewer false alarms win ties


def test_snippet_loads_through_vigil_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = calibrate(BASE, CLIPS, 0.0, CLASSES, tolerance_s=2.0)
    assert result is not None
    for camera in (None, "gate-3"):
        path = tmp_path / f"{camera}.yaml"
        path.write_text(snippet(result, camera))
        cfg = load_config(path, environ={})
        policy = cfg.alert.cameras["gate-3"] if camera else cfg.alert.default_policy
        assert policy == result.policy
        assert vigil_cli.main(["config", "--config", str(path)]) == 0  # `vigil config` accepts it
        shown = json.loads(capsys.readouterr().out)["alert"]
        assert (shown["cameras"]["gate-3"] if camera else shown["default_policy"]) == policy.model_dump(
            mode="json"
        )
    assert "expected on clips it was not fitted on" in snippet(result)


def test_refuses_with_too_few_incidents() -> None:
    with pytest.raises(TooFewIncidents, match="only 3 labelled incident"):
        calibrate(BASE, [incident_clip(i) for i in range(3)] + [quiet_clip(0)], 1.0, CLASSES, 2.0)


def test_folds_keep_clips_whole_and_outcome_counts() -> None:
    folds = folds_of(CLIPS, 5)
    assert sorted(c.name for f in folds for c in f) == sorted(c.name for c in CLIPS)
    o = outcome(BASE.model_copy(update={"anomaly_threshold": 1.0}), CLIPS, 2.0)
    assert (o.incidents, o.detected, o.false_alarms, o.footage_s) == (6, 0, 0, 600.0)
