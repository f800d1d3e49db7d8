"""Turning window scores into incidents: thresholds, hysteresis, cooldown, dedup, lifecycle.

Pure logic, no I/O and no wall clock: decisions depend only on the scores seen, in the order
seen, so the same scores replayed after a crash give the same incidents with the same ids.

Per camera, one :class:`AlertPolicy`; per incident class, a track:

- a window is *above* for class ``c`` when its anomaly score reaches ``anomaly_threshold`` and
  ``c`` is its most likely non-normal class with a probability at or above ``c``'s threshold;
- an incident is **raised** when ``raise_k`` of the last ``raise_n`` windows (by window index)
  are above; it is **updated** when its peak score grows by ``UPDATE_MIN_GAIN`` and at least
  ``update_min_interval_s`` of event time passed since its last event; it is **resolved** after
  ``resolve_m`` received windows below in a row;
- after a resolve no new incident of that class starts for ``cooldown_s`` of event time;
- a window seen twice (same ``window_id``: fusion re-scores in-flight windows after a crash) or
  far older than the newest is ignored.

Each window comes with an opaque ``position`` (its Kafka offset). :meth:`AlertPolicy.needed_from`
says the earliest position whose window still shapes the state: a consumer that commits no
further than that rebuilds exactly the same state (and ids) after a restart.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
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


@dataclass(slots=True)
class _Incident:
    incident_id: str
    started_ns: int
    position: int  # position of its first above window
    step: int = 0
    peak: float = 0.0
    reported_peak: float = 0.0
    last_event_end_ns: int = 0
    last_above_seq: int = 0
    windows_above: int = 0


@dataclass(slots=True)
class _Track:
    """State of one class on one camera."""

    marks: dict[int, _Mark] = field(default_factory=dict)  # window seq -> mark
    incident: _Incident | None = None
    cooldown_until_ns: int = 0
    cooldown_position: int | None = None  # keep replaying from here until the cooldown is over
    cooldown_reported: bool = False


class AlertPolicy:
    """The alert policy of one camera (see the module docstring for the rules)."""

    def __init__(self, camera_id: str, config: AlertPolicyConfig) -> None:
        self.camera_id = camera_id
        self.config = config
        self._tracks: dict[str, _Track] = {}
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

        above_class = self.is_above(score)
        if above_class is not None and above_class not in self._tracks:
            self._tracks[above_class] = _Track()
        events: list[IncidentEvent] = []
        suppressed: list[SuppressReason] = []
        for name in sorted(self._tracks):
            track = self._tracks[name]
            mark = _Mark(name == above_class, position, score)
            existing = track.marks.get(score.seq)
            if existing is None or (mark.above and not existing.above):
                track.marks[score.seq] = mark  # two sessions on one grid slot: above wins
            self._step(name, track, score, mark.above, events, suppressed)
        self._forget_quiet_tracks()
        return Decision(tuple(events), tuple(suppressed))

    def _step(
        self,
        name: str,
        track: _Track,
        score: WindowScore,
        above: bool,
        events: list[IncidentEvent],
        suppressed: list[SuppressReason],
    ) -> None:
        cfg = self.config
        latest = self._latest_seq if self._latest_seq is not None else score.seq
        for seq in [s for s in track.marks if s <= latest - self._horizon]:
            del track.marks[seq]
        incident = track.incident
        if incident is None:
            recent = sorted(s for s, m in track.marks.items() if m.above and s > latest - cfg.raise_n)
            if len(recent) < cfg.raise_k:
                track.cooldown_reported = False
                return
            if score.window_end_ns < track.cooldown_until_ns:
                if not track.cooldown_reported:
                    suppressed.append("cooldown")
                    track.cooldown_reported = True
                return
            first = track.marks[recent[0]]
            incident = _Incident(
                incident_id=incident_id_for(
                    self.camera_id, first.window.session_id, first.window.window_start_ns, name
                ),
                started_ns=first.window.window_start_ns,
                position=min(track.marks[s].position for s in recent),
                last_above_seq=recent[-1],
                windows_above=len(recent),
            )
            incident.peak = max(track.marks[s].window.class_probs.get(name, 0.0) for s in recent)
            incident.reported_peak = incident.peak
            incident.last_event_end_ns = score.window_end_ns
            track.incident = incident
            track.cooldown_position = None
            events.append(self._event("raised", name, incident, score))
            return
        if above:
            incident.windows_above += 1
            incident.last_above_seq = max(incident.last_above_seq, score.seq)
            incident.peak = max(incident.peak, score.class_probs.get(name, 0.0))
            due = score.window_end_ns - incident.last_event_end_ns >= cfg.update_min_interval_s * _NS
            if due and incident.peak >= incident.reported_peak + UPDATE_MIN_GAIN:
                incident.step += 1
                incident.reported_peak = incident.peak
                incident.last_event_end_ns = score.window_end_ns
                events.append(self._event("updated", name, incident, score))
            return
        below_after = sum(1 for s, m in track.marks.items() if s > incident.last_above_seq and not m.above)
        if below_after >= cfg.resolve_m:
            incident.step += 1
            events.append(self._event("resolved", name, incident, score))
            track.incident = None
            track.marks.clear()
            track.cooldown_until_ns = score.window_end_ns + int(cfg.cooldown_s * _NS)
            track.cooldown_position = incident.position
            track.cooldown_reported = False

    def _event(self, type_: EventType, name: str, incident: _Incident, score: WindowScore) -> IncidentEvent:
        return IncidentEvent(
            type=type_,
            event_id=event_id_for(incident.incident_id, type_, incident.step),
            incident_id=incident.incident_id,
            camera_id=self.camera_id,
            class_name=name,
            step=incident.step,
            window=score,
            peak_score=incident.peak,
            started_ns=incident.started_ns,
            windows_above=incident.windows_above,
        )

    def _forget_quiet_tracks(self) -> None:
        for name in list(self._tracks):
            track = self._tracks[name]
            cooling = self._latest_end_ns < track.cooldown_until_ns
            if not cooling:
                track.cooldown_position = None
            if track.incident is None and not cooling and not any(m.above for m in track.marks.values()):
                del self._tracks[name]

    def open_incidents(self) -> dict[str, str]:
        """Class name -> incident id of the incidents open now."""
        return {n: t.incident.incident_id for n, t in self._tracks.items() if t.incident is not None}

    def needed_from(self) -> int | None:
        """The earliest position still shaping the state (None: nothing; commit freely)."""
        positions: list[int] = []
        for track in self._tracks.values():
            if track.incident is not None:
                positions.append(track.incident.position)
            if track.cooldown_position is not None:
                positions.append(track.cooldown_position)
            positions.extend(m.position for m in track.marks.values() if m.above)
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
