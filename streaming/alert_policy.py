"""Turning window scores into incidents: thresholds, hysteresis, cooldown, dedup, lifecycle.

Pure logic, no I/O and no wall clock: decisions depend only on the scores seen, in the order
seen, so the same scores replayed after a crash give the same incidents with the same ids.

Per camera, one :class:`AlertPolicy` with at most one open incident:

- a window is *above* when its anomaly score reaches ``anomaly_threshold`` and its most likely
  non-normal class ``c`` has a probability at or above ``c``'s threshold (its *score*);
- an incident is **raised** when ``raise_k`` of the last ``raise_n`` windows (by window index)
  are above, whatever their classes: a real model often names a bang "gunshot" in one window and
  "glass_break" in the next. The incident's class is the one with the most probability summed
  over those windows; it is **updated** when its peak score grows by ``UPDATE_MIN_GAIN`` and at
  least ``update_min_interval_s`` of event time passed since its last event; it is **resolved**
  after ``resolve_m`` received windows below in a row;
- after a resolve, a new incident *of the same class* waits ``cooldown_s`` of event time
  (``cooldown_scope: class``, the default; ``camera``: of any class), unless its peak beats the
  resolved incident's peak by ``cooldown_override_gain``: a door-slam false alarm never hides a
  gunshot ten seconds later, and a much stronger repeat is a new incident, not noise;
- a window seen twice (same ``window_id``: fusion re-scores in-flight windows after a crash) or
  far older than the newest is ignored.

Each window comes with an opaque ``position`` (its Kafka offset). :meth:`AlertPolicy.needed_from`
says the earliest position whose window still shapes the state: a consumer that commits no
further than that rebuilds exactly the same state (and ids) after a restart.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final, Literal

from streaming.config import AlertConfig, AlertPolicyConfig
from streaming.contracts import WindowScore

EventType = Literal["raised", "updated", "resolved"]
SuppressReason = Literal["dedup", "late", "cooldown"]

NORMAL_CLASS: Final = "normal"
UPDATE_MIN_GAIN: Final = 0.05  # a peak must grow this much to be worth an update
_SEEN_WINDOWS: Final = 1024  # window ids remembered for dedup, per camera
_NS: Final = 1_000_000_000


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """One step of an incident's lifecycle, ready to be turned into an alert."""

    type: EventType
    event_id: str  # incident id + lifecycle step: re-delivery of the same step is recognisable
    incident_id: str
    camera_id: str
    class_name: str
    step: int  # 0 raised, 1.. updated, then resolved
    window: WindowScore  # the window that caused this step
    peak_score: float  # highest class probability seen in the incident so far
    started_ns: int  # start of the incident's first above-threshold window
    windows_above: int  # above-threshold windows so far


@dataclass(frozen=True, slots=True)
class Decision:
    """What one window caused: lifecycle events and/or a suppression reason."""

    events: tuple[IncidentEvent, ...] = ()
    suppressed: tuple[SuppressReason, ...] = ()


def incident_id_for(camera_id: str, session_id: str, first_window_start_ns: int, class_name: str) -> str:
    """Stable incident id: the same first window and class always give the same id."""
    digest = hashlib.sha256(f"{camera_id}|{session_id}|{first_window_start_ns}|{class_name}".encode())
    return f"inc-{digest.hexdigest()[:24]}"


def event_id_for(incident_id: str, type_: EventType, step: int) -> str:
    """Event id = incident id + lifecycle step."""
    return f"{incident_id}.{step}.{type_}"


def top_class(score: WindowScore) -> tuple[str, float]:
    """The most likely non-normal class and its probability (``("", 0.0)`` if none)."""
    best, best_p = "", 0.0
    for name, p in sorted(score.class_probs.items()):
        if name != NORMAL_CLASS and p > best_p:
            best, best_p = name, p
    return best, best_p


@dataclass(slots=True)
class _Mark:
    above: bool
    position: int
    window: WindowScore
    score: float  # top non-normal class probability


@dataclass(slots=True)
class _Cooldown:
    until_ns: int  # event time (window end) before which a raise of its key is held off
    position: int  # first window of the resolved incident: replay rebuilds the cooldown
    peak: float  # the resolved incident's peak: a new one must beat it by the override gain
    reported: bool = False  # the suppression was counted for the current above run


@dataclass(slots=True)
class _Incident:
    incident_id: str
    class_name: str
    started_ns: int
    position: int  # position of its first above window
    step: int = 0
    peak: float = 0.0
    reported_peak: float = 0.0
    last_event_end_ns: int = 0
    last_above_seq: int = 0
    windows_above: int = 0


class AlertPolicy:
    """The alert policy of one camera (see the module docstring for the rules)."""

    def __init__(self, camera_id: str, config: AlertPolicyConfig) -> None:
        self.camera_id = camera_id
        self.config = config
        self._marks: dict[int, _Mark] = {}  # window seq -> mark, the last few windows
        self._incident: _Incident | None = None
        self._cooldowns: dict[str, _Cooldown] = {}  # class name (or "*": the camera) -> cooldown
        # Replay point of the cooldowns: the first resolved incident of an unbroken run of
        # overlapping cooldowns (a later one alone would not rebuild what an earlier one held off).
        self._cooldown_anchor: int | None = None
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._latest_seq: int | None = None
        self._latest_end_ns = 0
        self._horizon = max(config.raise_n, config.resolve_m) + 2

    def threshold(self, class_name: str) -> float:
        """The probability threshold of ``class_name`` (the anomaly threshold if not configured)."""
        policy = self.config.classes.get(class_name)
        return policy.threshold if policy is not None else self.config.anomaly_threshold

    def is_above(self, score: WindowScore) -> str | None:
        """The class this window is above threshold for, if any."""
        name, p = top_class(score)
        if not name or score.anomaly < self.config.anomaly_threshold or p < self.threshold(name):
            return None
        return name

    def observe(self, score: WindowScore, position: int = 0) -> Decision:
        """Take one window score; return the lifecycle events it causes."""
        if score.camera_id != self.camera_id:
            raise ValueError(f"policy of camera {self.camera_id!r} got a score of {score.camera_id!r}")
        if score.window_id in self._seen:
            return Decision(suppressed=("dedup",))
        self._seen[score.window_id] = None
        if len(self._seen) > _SEEN_WINDOWS:
            self._seen.popitem(last=False)
        if self._latest_seq is not None and score.seq <= self._latest_seq - self._horizon:
            return Decision(suppressed=("late",))
        if self._latest_seq is None or score.seq > self._latest_seq:
            self._latest_seq = score.seq
        self._latest_end_ns = max(self._latest_end_ns, score.window_end_ns)
        for key in [k for k, c in self._cooldowns.items() if self._latest_end_ns >= c.until_ns]:
            del self._cooldowns[key]
        if not self._cooldowns:
            self._cooldown_anchor = None

        above = self.is_above(score) is not None
        existing = self._marks.get(score.seq)
        if existing is None or (above and not existing.above):  # two sessions on one grid slot: above wins
            self._marks[score.seq] = _Mark(above, position, score, top_class(score)[1])
        for seq in [s for s in self._marks if s <= self._latest_seq - self._horizon]:
            del self._marks[seq]
        events: list[IncidentEvent] = []
        suppressed: list[SuppressReason] = []
        if self._incident is None:
            self._maybe_raise(score, events, suppressed)
        else:
            self._follow(self._incident, score, above, events)
        return Decision(tuple(events), tuple(suppressed))

    def _maybe_raise(
        self, score: WindowScore, events: list[IncidentEvent], suppressed: list[SuppressReason]
    ) -> None:
        cfg = self.config
        latest = self._latest_seq if self._latest_seq is not None else score.seq
        recent = sorted(s for s, m in self._marks.items() if m.above and s > latest - cfg.raise_n)
        if len(recent) < cfg.raise_k:
            for held in self._cooldowns.values():
                held.reported = False
            return
        marks = [self._marks[s] for s in recent]
        evidence: dict[str, float] = {}
        for mark in marks:
            for name, p in mark.window.class_probs.items():
                if name != NORMAL_CLASS:
                    evidence[name] = evidence.get(name, 0.0) + p
        class_name = max(sorted(evidence), key=lambda n: evidence[n])
        peak = max(m.score for m in marks)
        key = self._cooldown_key(class_name)
        cooldown = self._cooldowns.get(key)
        if cooldown is not None and score.window_end_ns < cooldown.until_ns:
            gain = cfg.cooldown_override_gain
            if gain is None or peak < cooldown.peak + gain:
                if not cooldown.reported:
                    suppressed.append("cooldown")
                    cooldown.reported = True
                return
        self._cooldowns.pop(key, None)
        first = marks[0].window
        incident = _Incident(
            incident_id=incident_id_for(self.camera_id, first.session_id, first.window_start_ns, class_name),
            class_name=class_name,
            started_ns=first.window_start_ns,
            position=min(m.position for m in marks),
            last_above_seq=recent[-1],
            windows_above=len(recent),
            peak=peak,
            last_event_end_ns=score.window_end_ns,
        )
        incident.reported_peak = incident.peak
        self._incident = incident
        events.append(self._event("raised", incident, score))

    def _follow(
        self, incident: _Incident, score: WindowScore, above: bool, events: list[IncidentEvent]
    ) -> None:
        cfg = self.config
        if above:
            incident.windows_above += 1
            incident.last_above_seq = max(incident.last_above_seq, score.seq)
            incident.peak = max(incident.peak, top_class(score)[1])
            due = score.window_end_ns - incident.last_event_end_ns >= cfg.update_min_interval_s * _NS
            if due and incident.peak >= incident.reported_peak + UPDATE_MIN_GAIN:
                incident.step += 1
                incident.reported_peak = incident.peak
                incident.last_event_end_ns = score.window_end_ns
                events.append(self._event("updated", incident, score))
            return
        below_after = sum(1 for s, m in self._marks.items() if s > incident.last_above_seq and not m.above)
        if below_after >= cfg.resolve_m:
            incident.step += 1
            events.append(self._event("resolved", incident, score))
            self._incident = None
            self._marks.clear()
            if cfg.cooldown_s > 0:
                self._cooldowns[self._cooldown_key(incident.class_name)] = _Cooldown(
                    until_ns=score.window_end_ns + int(cfg.cooldown_s * _NS),
                    position=incident.position,
                    peak=incident.peak,
                )
                anchor = self._cooldown_anchor
                self._cooldown_anchor = (
                    incident.position if anchor is None else min(anchor, incident.position)
                )

    def _cooldown_key(self, class_name: str) -> str:
        return class_name if self.config.cooldown_scope == "class" else "*"

    def _event(self, type_: EventType, incident: _Incident, score: WindowScore) -> IncidentEvent:
        return IncidentEvent(
            type=type_,
            event_id=event_id_for(incident.incident_id, type_, incident.step),
            incident_id=incident.incident_id,
            camera_id=self.camera_id,
            class_name=incident.class_name,
            step=incident.step,
            window=score,
            peak_score=incident.peak,
            started_ns=incident.started_ns,
            windows_above=incident.windows_above,
        )

    def open_incidents(self) -> dict[str, str]:
        """Class name -> incident id of the incident open now (at most one)."""
        incident = self._incident
        return {} if incident is None else {incident.class_name: incident.incident_id}

    def needed_from(self) -> int | None:
        """The earliest position still shaping the state (None: nothing; commit freely)."""
        positions = [m.position for m in self._marks.values() if m.above]
        if self._incident is not None:
            positions.append(self._incident.position)
        if self._cooldown_anchor is not None:
            positions.append(self._cooldown_anchor)
        return min(positions) if positions else None


class CameraPolicies:
    """One :class:`AlertPolicy` per camera, configured from :class:`AlertConfig`."""

    def __init__(self, config: AlertConfig) -> None:
        self.config = config
        self._policies: dict[str, AlertPolicy] = {}

    def policy(self, camera_id: str) -> AlertPolicy:
        """The camera's policy (created on first use, from its own or the default config)."""
        policy = self._policies.get(camera_id)
        if policy is None:
            cfg = self.config.cameras.get(camera_id, self.config.default_policy)
            policy = self._policies[camera_id] = AlertPolicy(camera_id, cfg)
        return policy

    def observe(self, score: WindowScore, position: int = 0) -> Decision:
        """Route the score to its camera's policy."""
        return self.policy(score.camera_id).observe(score, position)

    def forget(self, camera_ids: set[str]) -> None:
        """Drop the state of ``camera_ids`` (their partitions moved to another member)."""
        for camera_id in camera_ids:
            self._policies.pop(camera_id, None)

    def cameras(self) -> list[str]:
        """Cameras with state."""
        return sorted(self._policies)
