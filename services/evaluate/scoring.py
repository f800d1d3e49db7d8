"""What ``vigil evaluate`` measures, as pure functions of labelled incidents, window scores and alerts.

Definitions (all times are seconds from the clip's start):

- **window AP** per class: average precision of the class probability over every scored window,
  a window being positive for a class when one of its incidents labels it
  (:func:`models.realclips.covers`: it overlaps the window by 0.25 s or spans it); for ``all``,
  the anomaly score against "any incident";
- an alert (one incident of the policy: from its first above-threshold window to the end of the
  window that resolved it, or the clip's end) **detects** a labelled incident when their time
  ranges overlap, each widened by ``tolerance_s``; **right class** when a detecting alert has the
  incident's class;
- a **false alarm** is an alert that detects no labelled incident (counted for its own class);
- the **alert delay** of a detected incident is the raise time of its first detecting alert
  minus the incident's labelled start (negative when it fired in the tolerance before it);
- the **confusion matrix** counts, per labelled class, the class it was alerted as: its own when a
  detecting alert had it, else the first detecting alert's (``missed`` when none); its
  ``normal`` row counts false alarms by alert class.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from models.realclips import LabelledRange, covers

ALL: str = "all"
MISSED: str = "missed"
NORMAL: str = "normal"
DEFAULT_TOLERANCE_S: float = 2.0


@dataclass(frozen=True, slots=True)
class ScoredWindow:
    """One model window of a clip: its time range, anomaly score and class probabilities."""

    start_s: float
    end_s: float
    anomaly: float
    class_probs: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class AlertSpan:
    """One incident the alert policy raised on a clip."""

    class_name: str
    start_s: float  # start of its first above-threshold window
    raised_s: float  # end of the window that raised it (when an operator would have seen it)
    end_s: float  # end of the window that resolved it (the clip's end if never resolved)
    peak: float


@dataclass(frozen=True)
class ClipResult:
    """Everything evaluated on one clip."""

    name: str
    duration_s: float
    incidents: tuple[LabelledRange, ...]
    windows: tuple[ScoredWindow, ...]
    alerts: tuple[AlertSpan, ...]
    note: str = ""  # e.g. "no audio track: scored on video only"


@dataclass(frozen=True, slots=True)
class IncidentMatch:
    """How one labelled incident fared."""

    clip: str
    incident: LabelledRange
    alert_class: str | None  # class of the first detecting alert (None: missed)
    right_class: bool
    delay_s: float | None


@dataclass
class ClassStats:
    """Incident and window metrics of one class (or of all classes together)."""

    incidents: int = 0
    detected: int = 0
    detected_right_class: int = 0
    false_alarms: int = 0
    false_alarms_per_hour: float = 0.0
    window_ap: float | None = None
    positive_windows: int = 0
    delays_s: list[float] = field(default_factory=list)

    @property
    def recall(self) -> float | None:
        """Incidents detected by an alert of any class."""
        return self.detected / self.incidents if self.incidents else None

    @property
    def recall_right_class(self) -> float | None:
        """Incidents detected by an alert of their own class."""
        return self.detected_right_class / self.incidents if self.incidents else None

    @property
    def delay_median_s(self) -> float | None:
        """Median alert delay of detected incidents."""
        return float(np.median(self.delays_s)) if self.delays_s else None

    @property
    def delay_p95_s(self) -> float | None:
        """95th percentile of the alert delay (linear interpolation)."""
        return float(np.percentile(self.delays_s, 95)) if self.delays_s else None


@dataclass
class Evaluation:
    """The whole evaluation: per class and overall, plus the matches it came from."""

    footage_s: float
    tolerance_s: float
    classes: dict[str, ClassStats]
    overall: ClassStats
    mean_class_ap: float | None
    confusion: dict[str, dict[str, int]]  # labelled class (or "normal") -> alerted class (or "missed")
    matches: list[IncidentMatch]
    false_alarms: list[tuple[str, AlertSpan]]  # (clip, alert)


def detects(alert: AlertSpan, incident: LabelledRange, tolerance_s: float) -> bool:
    """Whether ``alert``'s time range meets ``incident``'s, each widened by ``tolerance_s``."""
    return alert.start_s <= incident.end_s + tolerance_s and alert.end_s >= incident.start_s - tolerance_s


def match_clip(clip: ClipResult, tolerance_s: float) -> tuple[list[IncidentMatch], list[AlertSpan]]:
    """The clip's incidents with their detecting alerts, and its false alarms."""
    matches: list[IncidentMatch] = []
    used: set[int] = set()
    by_raise = sorted(range(len(clip.alerts)), key=lambda i: clip.alerts[i].raised_s)
    for incident in clip.incidents:
        hits = [i for i in by_raise if detects(clip.alerts[i], incident, tolerance_s)]
        used.update(hits)
        if not hits:
            matches.append(IncidentMatch(clip.name, incident, None, False, None))
            continue
        first = clip.alerts[hits[0]]
        right = any(clip.alerts[i].class_name == incident.cls for i in hits)
        matches.append(
            IncidentMatch(clip.name, incident, first.class_name, right, first.raised_s - incident.start_s)
        )
    false_alarms = [a for i, a in enumerate(clip.alerts) if i not in used]
    return matches, false_alarms


def average_precision(labels: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Average precision (area under the stepwise PR curve, ties as one threshold); None without positives."""
    precision, recall = pr_curve(labels, scores)
    if not len(recall):
        return None
    steps = np.diff(np.concatenate(([0.0], recall)))
    return float(np.sum(steps * precision))


def pr_curve(labels: Sequence[bool], scores: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall at every distinct score threshold, highest threshold first."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    positives = int(y.sum())
    if positives == 0:
        return np.zeros(0), np.zeros(0)
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]
    tp = np.cumsum(y)[last_of_tie]
    predicted = last_of_tie + 1
    return tp / predicted, tp / positives


def window_labels(window: ScoredWindow, incidents: Iterable[LabelledRange]) -> set[str]:
    """Classes of the incidents that label ``window``."""
    return {r.cls for r in incidents if covers(r, window.start_s, window.end_s)}


def window_table(
    clips: Sequence[ClipResult], class_names: Sequence[str]
) -> dict[str, tuple[list[bool], list[float]]]:
    """Per class (and ``all`` with the anomaly score): window labels and scores over every clip."""
    table: dict[str, tuple[list[bool], list[float]]] = {c: ([], []) for c in (*class_names, ALL)}
    for clip in clips:
        for window in clip.windows:
            labels = window_labels(window, clip.incidents)
            for name in class_names:
                table[name][0].append(name in labels)
                table[name][1].append(float(window.class_probs.get(name, 0.0)))
            table[ALL][0].append(bool(labels))
            table[ALL][1].append(window.anomaly)
    return table


def evaluate(
    clips: Sequence[ClipResult], class_names: Sequence[str], tolerance_s: float = DEFAULT_TOLERANCE_S
) -> Evaluation:
    """All the metrics of the module docstring over ``clips``."""
    names = [c for c in class_names if c != NORMAL]
    stats = {c: ClassStats() for c in names}
    overall = ClassStats()
    confusion: dict[str, dict[str, int]] = {}
    matches: list[IncidentMatch] = []
    false_alarms: list[tuple[str, AlertSpan]] = []
    for clip in clips:
        clip_matches, clip_false = match_clip(clip, tolerance_s)
        matches.extend(clip_matches)
        false_alarms.extend((clip.name, a) for a in clip_false)
    for m in matches:
        per = stats.setdefault(m.incident.cls, ClassStats())
        for s in (per, overall):
            s.incidents += 1
            if m.alert_class is not None:
                s.detected += 1
                s.detected_right_class += int(m.right_class)
                assert m.delay_s is not None
                s.delays_s.append(m.delay_s)
        row = confusion.setdefault(m.incident.cls, {})
        col = m.incident.cls if m.right_class else (m.alert_class or MISSED)
        row[col] = row.get(col, 0) + 1
    for _, alert in false_alarms:
        stats.setdefault(alert.class_name, ClassStats()).false_alarms += 1
        overall.false_alarms += 1
        row = confusion.setdefault(NORMAL, {})
        row[alert.class_name] = row.get(alert.class_name, 0) + 1
    footage_s = sum(c.duration_s for c in clips)
    hours = footage_s / 3600.0
    for s in (*stats.values(), overall):
        s.false_alarms_per_hour = s.false_alarms / hours if hours > 0 else 0.0
    table = window_table(clips, names)
    for name, (labels, scores) in table.items():
        target = overall if name == ALL else stats.setdefault(name, ClassStats())
        target.window_ap = average_precision(labels, scores)
        target.positive_windows = sum(labels)
    aps = [s.window_ap for s in stats.values() if s.window_ap is not None]
    return Evaluation(
        footage_s=footage_s,
        tolerance_s=tolerance_s,
        classes=stats,
        overall=overall,
        mean_class_ap=float(np.mean(aps)) if aps else None,
        confusion=confusion,
        matches=matches,
        false_alarms=false_alarms,
    )
