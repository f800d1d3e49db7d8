"""Choosing an alert policy for a false-alarm budget, from window scores of labelled clips (pure logic).

The model runs once (``vigil calibrate`` scores the clips through the pipeline); every candidate
policy is then replayed on the stored window scores with the real :class:`AlertPolicy`, so what
is chosen is exactly what the alert service would do with those scores.

Search: for each ``k``-of-``n`` in :data:`RAISE_KN` and anomaly threshold in
:data:`ANOMALY_GRID`, one class threshold for all classes from :data:`CLASS_GRID`; then each class's
threshold alone, once. The objective is the most incidents detected with their right class while
false alarms per hour stay within the budget; ties go to fewer false alarms, then more incidents
of any class, then the middle of the tied thresholds (furthest from both the misses and the
false alarms). Cross-validation by clip (:func:`cross_validate`) fits on all but one fold and
counts on the held-out fold: the expected recall and false-alarm rate on clips it did not see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import yaml

from models.realclips import LabelledRange
from services.evaluate.scoring import NORMAL, AlertSpan, ClipResult, match_clip
from streaming.alert_policy import AlertPolicy
from streaming.config import AlertPolicyConfig
from streaming.contracts import WindowScore

NS: Final = 1_000_000_000
MIN_INCIDENTS: Final = 5  # fewer labelled incidents than this say nothing about a threshold
MAX_FOLDS: Final = 5
ANOMALY_GRID: Final = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
CLASS_GRID: Final = tuple(round(0.1 + 0.05 * i, 2) for i in range(17))  # 0.1 .. 0.9
RAISE_KN: Final = ((1, 1), (2, 2), (2, 3), (3, 4))


class TooFewIncidents(ValueError):
    """The labelled set cannot support a choice of thresholds (the message says what to add)."""


@dataclass(frozen=True)
class CalibrationClip:
    """One clip's labelled incidents and stored window scores."""

    name: str
    duration_s: float
    incidents: tuple[LabelledRange, ...]
    scores: tuple[WindowScore, ...]  # in window order
    origin_ns: int  # capture time of the clip's start


@dataclass(frozen=True)
class Outcome:
    """What a policy did on a set of clips."""

    incidents: int
    detected: int
    detected_right_class: int
    false_alarms: int
    footage_s: float

    @property
    def recall_right_class(self) -> float:
        """Share of incidents alerted with their own class."""
        return self.detected_right_class / self.incidents if self.incidents else 0.0

    @property
    def recall(self) -> float:
        """Share of incidents alerted with any class."""
        return self.detected / self.incidents if self.incidents else 0.0

    @property
    def false_alarms_per_hour(self) -> float:
        """False alarms per hour of footage."""
        return self.false_alarms * 3600.0 / self.footage_s if self.footage_s > 0 else 0.0

    def __add__(self, other: Outcome) -> Outcome:
        return Outcome(
            self.incidents + other.incidents,
            self.detected + other.detected,
            self.detected_right_class + other.detected_right_class,
            self.false_alarms + other.false_alarms,
            self.footage_s + other.footage_s,
        )


NO_OUTCOME: Final = Outcome(0, 0, 0, 0, 0.0)


@dataclass(frozen=True)
class Calibration:
    """The chosen policy, what it did on all clips, and what cross-validation expects of it."""

    policy: AlertPolicyConfig
    fitted: Outcome
    expected: Outcome  # summed over held-out folds
    folds: int
    budget_per_hour: float


def simulate(policy: AlertPolicyConfig, clip: CalibrationClip) -> list[AlertSpan]:
    """The incidents ``policy`` raises on the clip's window scores."""
    if not clip.scores:
        return []
    book = AlertPolicy(clip.scores[0].camera_id, policy)
    open_: dict[str, tuple[str, float, float, float]] = {}  # incident -> class, start, raised, peak
    spans: list[AlertSpan] = []
    for position, score in enumerate(clip.scores):
        for event in book.observe(score, position).events:
            if event.type == "raised":
                start = (event.started_ns - clip.origin_ns) / NS
                raised = (score.window_end_ns - clip.origin_ns) / NS
                open_[event.incident_id] = (event.class_name, start, raised, event.peak_score)
            elif event.type == "resolved" and event.incident_id in open_:
                cls, start, raised, _ = open_.pop(event.incident_id)
                end = (score.window_end_ns - clip.origin_ns) / NS
                spans.append(AlertSpan(cls, start, raised, end, event.peak_score))
    spans += [AlertSpan(c, start, raised, clip.duration_s, peak) for c, start, raised, peak in open_.values()]
    return spans


OutcomeCache = dict[tuple[str, str], "Outcome"]  # (clip name, policy as JSON) -> that clip's outcome


def clip_outcome(policy: AlertPolicyConfig, clip: CalibrationClip, tolerance_s: float) -> Outcome:
    """Incidents detected (any / right class) and false alarms of ``policy`` on one clip."""
    if all(s.anomaly < policy.anomaly_threshold for s in clip.scores):
        spans: list[AlertSpan] = []  # nothing can be above: skip the replay
    else:
        spans = simulate(policy, clip)
    matches, false_alarms = match_clip(
        ClipResult(clip.name, clip.duration_s, clip.incidents, (), tuple(spans)), tolerance_s
    )
    return Outcome(
        len(matches),
        sum(m.alert_class is not None for m in matches),
        sum(m.right_class for m in matches),
        len(false_alarms),
        clip.duration_s,
    )


def outcome(
    policy: AlertPolicyConfig,
    clips: Sequence[CalibrationClip],
    tolerance_s: float,
    cache: OutcomeCache | None = None,
) -> Outcome:
    """:func:`clip_outcome` summed over ``clips`` (memoised in ``cache``: folds share clips)."""
    key = policy.model_dump_json()
    total = NO_OUTCOME
    for clip in clips:
        if cache is None:
            total = total + clip_outcome(policy, clip, tolerance_s)
            continue
        hit = cache.get((clip.name, key))
        if hit is None:
            hit = cache[(clip.name, key)] = clip_outcome(policy, clip, tolerance_s)
        total = total + hit
    return total


def _key(o: Outcome) -> tuple[int, int, int]:
    """Larger is better: right-class detections, then fewer false alarms, then any detections."""
    return (o.detected_right_class, -o.false_alarms, o.detected)


def _with(policy: AlertPolicyConfig, **update: Any) -> AlertPolicyConfig:
    return AlertPolicyConfig.model_validate({**policy.model_dump(), **update})


def _middle(tied: list[float]) -> float:
    return tied[(len(tied) - 1) // 2]


def fit(
    base: AlertPolicyConfig,
    clips: Sequence[CalibrationClip],
    budget_per_hour: float,
    class_names: Sequence[str],
    tolerance_s: float,
    cache: OutcomeCache | None = None,
) -> tuple[AlertPolicyConfig, Outcome] | None:
    """The best policy within the budget on ``clips`` (None when no candidate meets it)."""
    names = [c for c in class_names if c != NORMAL]
    footage = sum(c.duration_s for c in clips)

    def within(o: Outcome) -> bool:
        return o.false_alarms <= budget_per_hour * footage / 3600.0 + 1e-9

    best: tuple[tuple[int, int, int], AlertPolicyConfig, Outcome] | None = None
    for k, n in RAISE_KN:
        for anomaly in ANOMALY_GRID:
            tied: list[tuple[float, AlertPolicyConfig, Outcome]] = []
            top: tuple[int, int, int] | None = None
            for t in CLASS_GRID:
                cand = _with(
                    base,
                    raise_k=k,
                    raise_n=n,
                    anomaly_threshold=anomaly,
                    classes={c: {"threshold": t} for c in names},
                )
                o = outcome(cand, clips, tolerance_s, cache)
                if not within(o):
                    continue
                if top is None or _key(o) > top:
                    top, tied = _key(o), [(t, cand, o)]
                elif _key(o) == top:
                    tied.append((t, cand, o))
            if top is not None and (best is None or top > best[0]):
                _, cand, o = tied[(len(tied) - 1) // 2]
                best = (top, cand, o)
    if best is None:
        return None
    _, policy, result = best
    for name in names:  # each class's own threshold, once
        options: list[tuple[float, Outcome]] = []
        for t in CLASS_GRID:
            cand = _with(policy, classes={**policy.model_dump()["classes"], name: {"threshold": t}})
            o = outcome(cand, clips, tolerance_s, cache)
            if within(o):
                options.append((t, o))
        if not options:
            continue
        top = max(_key(o) for _, o in options)
        if top < _key(result):
            continue
        t = _middle([t for t, o in options if _key(o) == top])
        policy = _with(policy, classes={**policy.model_dump()["classes"], name: {"threshold": t}})
        result = outcome(policy, clips, tolerance_s, cache)
    return policy, result


def folds_of(clips: Sequence[CalibrationClip], folds: int) -> list[list[CalibrationClip]]:
    """Clips dealt round-robin by name into ``folds`` groups (each clip's windows stay together)."""
    ordered = sorted(clips, key=lambda c: c.name)
    return [ordered[i::folds] for i in range(folds)]


def cross_validate(
    base: AlertPolicyConfig,
    clips: Sequence[CalibrationClip],
    budget_per_hour: float,
    class_names: Sequence[str],
    tolerance_s: float,
    cache: OutcomeCache | None = None,
) -> tuple[Outcome, int]:
    """Held-out outcome summed over folds (a fold whose fit fails contributes no alerts), and the fold count."""
    k = min(MAX_FOLDS, len(clips))
    total = NO_OUTCOME
    groups = folds_of(clips, k)
    for i, held_out in enumerate(groups):
        train = [c for j, g in enumerate(groups) if j != i for c in g]
        fitted = fit(base, train, budget_per_hour, class_names, tolerance_s, cache)
        if fitted is None:  # nothing meets the budget on the rest: count the fold as all missed
            silent = _with(base, anomaly_threshold=1.0, classes={})
            total = total + outcome(silent, held_out, tolerance_s, cache)
            continue
        total = total + outcome(fitted[0], held_out, tolerance_s, cache)
    return total, k


def check_enough(clips: Sequence[CalibrationClip]) -> None:
    """Raise :class:`TooFewIncidents` unless there are enough incidents and clips to cross-validate."""
    incidents = sum(len(c.incidents) for c in clips)
    if incidents < MIN_INCIDENTS:
        raise TooFewIncidents(
            f"only {incidents} labelled incident(s) in {len(clips)} clip(s): too few to choose "
            f"thresholds (need at least {MIN_INCIDENTS}); label more clips with incidents"
        )
    if len(clips) < 2:
        raise TooFewIncidents(
            "need at least 2 usable clips to check the policy on clips it was not fitted on"
        )


def calibrate(
    base: AlertPolicyConfig,
    clips: Sequence[CalibrationClip],
    budget_per_hour: float,
    class_names: Sequence[str],
    tolerance_s: float,
) -> Calibration | None:
    """Fit on all clips and cross-validate; None when no policy meets the budget even on all clips."""
    check_enough(clips)
    cache: OutcomeCache = {}
    fitted = fit(base, clips, budget_per_hour, class_names, tolerance_s, cache)
    if fitted is None:
        return None
    expected, folds = cross_validate(base, clips, budget_per_hour, class_names, tolerance_s, cache)
    return Calibration(fitted[0], fitted[1], expected, folds, budget_per_hour)


def snippet(calibration: Calibration, camera: str | None = None) -> str:
    """YAML for ``alert.default_policy`` (or ``alert.cameras.<camera>``), with what to expect as comments."""
    policy = calibration.policy.model_dump(mode="json")
    policy["classes"] = {name: {"threshold": c["threshold"]} for name, c in sorted(policy["classes"].items())}
    body = {"alert": {"cameras": {camera: policy}} if camera else {"default_policy": policy}}
    e, f = calibration.expected, calibration.fitted
    header = (
        f"# vigil calibrate: budget {calibration.budget_per_hour:g} false alarms per hour\n"
        f"# expected on clips it was not fitted on ({calibration.folds}-fold cross-validation by clip):\n"
        f"#   right-class recall {e.recall_right_class:.0%} (any class {e.recall:.0%}) of {e.incidents} "
        f"incidents, {e.false_alarms_per_hour:.2f} false alarms per hour\n"
        f"# on all clips (fitted): right-class recall {f.recall_right_class:.0%}, "
        f"{f.false_alarms_per_hour:.2f} false alarms per hour\n"
    )
    return header + yaml.safe_dump(body, sort_keys=False)
