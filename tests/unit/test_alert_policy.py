"""The alert policy: hysteresis, cooldown, dedup, lifecycle, replay determinism."""

from __future__ import annotations

import pytest

from streaming.alert_policy import AlertPolicy, CameraPolicies, Decision, IncidentEvent, incident_id_for
from streaming.config import AlertConfig, AlertPolicyConfig, ClassPolicy
from streaming.contracts import WindowScore

HOP = 1_000_000_000
T0 = 1_780_000_000 * HOP


def score(
    seq: int,
    p: float = 0.0,
    cls: str = "gunshot",
    *,
    camera: str = "cam-1",
    session: str = "s1",
    anomaly: float | None = None,
    audio: float = 0.7,
) -> WindowScore:
    probs = {
        "normal": 1.0 - p,
        "fight": 0.0,
        "scream": 0.0,
        "gunshot": 0.0,
        "glass_break": 0.0,
        "explosion": 0.0,
    }
    probs[cls] = p
    start = T0 + seq * HOP
    return WindowScore(
        camera_id=camera,
        session_id=session,
        seq=seq + T0 // HOP,
        capture_ns=start,
        window_start_ns=start,
        window_end_ns=start + 2 * HOP,
        anomaly=p if anomaly is None else anomaly,
        class_probs=probs,
        contribution={"audio": audio, "video": 1 - audio},
        missing=(),
        model_version="m1",
        latency_s=0.5,
        scored_ns=start + 2 * HOP + 100_000_000,
    )


def policy(**kw: object) -> AlertPolicy:
    cfg = AlertPolicyConfig(
        **{"raise_k": 2, "raise_n": 3, "resolve_m": 3, "cooldown_s": 10.0, "update_min_interval_s": 2.0, **kw}
    )
    return AlertPolicy("cam-1", cfg)


def run(pol: AlertPolicy, windows: list[WindowScore]) -> list[IncidentEvent]:
    return [e for i, w in enumerate(windows) for e in pol.observe(w, position=i).events]


def burst(levels: list[float], start: int = 0, cls: str = "gunshot") -> list[WindowScore]:
    return [score(start + i, p, cls) for i, p in enumerate(levels)]


def test_single_spike_does_not_raise_k_of_n_does() -> None:
    assert run(policy(), burst([0, 0.9, 0, 0, 0.9, 0, 0])) == []
    events = run(policy(), burst([0, 0.9, 0.1, 0.8, 0, 0, 0, 0]))
    assert [e.type for e in events] == ["raised", "resolved"]
    raised = events[0]
    assert raised.class_name == "gunshot"
    assert raised.window.seq == score(3).seq  # the 2nd above window within 3
    assert raised.started_ns == score(1).window_start_ns
    assert raised.incident_id == incident_id_for("cam-1", "s1", score(1).window_start_ns, "gunshot")


def test_resolves_after_m_consecutive_below_only() -> None:
    events = run(policy(), burst([0.9, 0.9, 0, 0, 0.9, 0, 0, 0, 0]))
    assert [e.type for e in events] == ["raised", "resolved"]
    assert events[1].window.seq == score(7).seq
    assert events[0].incident_id == events[1].incident_id
    assert [e.step for e in events] == [0, 1]


def test_update_when_peak_grows_and_interval_passed() -> None:
    events = run(policy(), burst([0.6, 0.6, 0.62, 0.9, 0.95, 0.93, 0, 0, 0]))
    assert [e.type for e in events] == ["raised", "updated", "resolved"]
    assert events[1].peak_score == pytest.approx(0.9)
    assert len({e.event_id for e in events}) == 3
    assert {e.incident_id for e in events} == {events[0].incident_id}


def test_cooldown_suppresses_a_new_incident_then_allows_it() -> None:
    pol = policy(cooldown_s=5.0)
    windows = burst([0.9, 0.9, 0, 0, 0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9])
    decisions = [pol.observe(w, i) for i, w in enumerate(windows)]
    types = [e.type for d in decisions for e in d.events]
    assert types == ["raised", "resolved", "raised"]
    assert sum(d.suppressed.count("cooldown") for d in decisions) == 1


def test_duplicate_window_is_ignored() -> None:
    pol = policy()
    w = burst([0.9, 0.9])
    assert [e.type for e in pol.observe(w[0]).events] == []
    assert pol.observe(w[0]).suppressed == ("dedup",)
    assert [e.type for e in pol.observe(w[1]).events] == ["raised"]
    assert pol.observe(w[1]) == Decision(suppressed=("dedup",))


def test_slightly_out_of_order_windows_count() -> None:
    w = burst([0.0, 0.9, 0.9, 0, 0, 0, 0])
    order = [w[0], w[2], w[1], *w[3:]]
    events = run(policy(), order)
    assert [e.type for e in events] == ["raised", "resolved"]
    assert events[0].started_ns == w[1].window_start_ns


def test_same_scores_replayed_give_same_ids() -> None:
    windows = burst([0, 0.9, 0.9, 0.95, 0.99, 0, 0, 0]) + burst([0.8, 0.8, 0, 0, 0], start=40, cls="scream")
    first = run(policy(), windows)
    second = run(policy(), windows)
    assert [e.event_id for e in first] == [e.event_id for e in second]
    assert len(first) == len({e.event_id for e in first})


def test_restart_from_needed_position_rebuilds_same_events() -> None:
    """A consumer committing at needed_from() and replaying from there emits the same event ids."""
    windows = burst([0, 0, 0.9, 0.9, 0.95, 0.99, 0.99, 0, 0, 0, 0, 0.9, 0.9, 0, 0, 0] + [0] * 15)
    reference = run(policy(), windows)
    for crash_at in range(1, len(windows)):
        pol = policy()
        before = [e for i, w in enumerate(windows[:crash_at]) for e in pol.observe(w, i).events]
        needed = pol.needed_from()
        resume = crash_at if needed is None else needed
        replay = policy()
        after = [e for i, w in enumerate(windows) if i >= resume for e in replay.observe(w, i).events]
        delivered = {e.event_id for e in before} | {e.event_id for e in after}
        assert delivered == {e.event_id for e in reference}, crash_at


def test_class_threshold_and_anomaly_threshold() -> None:
    pol = policy(classes={"gunshot": ClassPolicy(threshold=0.95)})
    assert run(pol, burst([0.9, 0.9, 0.9])) == []
    low_anomaly = [score(i, 0.9, anomaly=0.2) for i in range(3)]
    assert run(policy(), low_anomaly) == []


def test_camera_policies_use_per_camera_config() -> None:
    cfg = AlertConfig(cameras={"strict": AlertPolicyConfig(raise_k=3, raise_n=3)})
    book = CameraPolicies(cfg)
    assert book.policy("strict").config.raise_k == 3
    assert book.policy("other").config.raise_k == 2
    book.forget({"strict"})
    assert book.cameras() == ["other"]


def test_policy_rejects_other_camera() -> None:
    with pytest.raises(ValueError, match="cam-1"):
        policy().observe(score(0, camera="cam-2"))


def test_class_flicker_is_one_incident_of_the_strongest_class() -> None:
    """A real model calls one bang "gunshot" in one window and "glass_break" in the next."""
    windows = [score(0), score(1, 0.99, "gunshot"), score(2, 0.6, "glass_break"), score(3, 0.9, "gunshot")]
    windows += [score(4 + i) for i in range(3)]
    events = run(policy(), windows)
    assert [e.type for e in events] == ["raised", "resolved"]
    assert events[0].class_name == "gunshot"
    assert events[0].peak_score == pytest.approx(0.99)


def test_no_second_incident_while_one_is_open() -> None:
    windows = (
        burst([0.9, 0.9, 0.9]) + [score(3 + i, 0.9, "scream") for i in range(3)] + burst([0] * 3, start=6)
    )
    events = run(policy(), windows)
    assert [(e.type, e.class_name) for e in events] == [("raised", "gunshot"), ("resolved", "gunshot")]


# -- per-class cooldown ---------------------------------------------------------------------------
# A door slam called "glass_break" (a false alarm), resolved at window 6; a gunshot at 10 s.
SLAM_THEN_GUNSHOT = burst([0.7, 0.7, 0, 0, 0], cls="glass_break") + burst([0.8, 0.8, 0.8, 0, 0, 0], start=10)


def test_cooldown_is_per_class_a_different_class_raises() -> None:
    events = run(policy(cooldown_s=30.0), SLAM_THEN_GUNSHOT)
    assert [(e.type, e.class_name) for e in events] == [
        ("raised", "glass_break"),
        ("resolved", "glass_break"),
        ("raised", "gunshot"),
        ("resolved", "gunshot"),
    ]


def test_camera_scope_cooldown_holds_off_every_class() -> None:
    pol = policy(cooldown_s=30.0, cooldown_scope="camera")
    decisions = [pol.observe(w, i) for i, w in enumerate(SLAM_THEN_GUNSHOT)]
    assert [e.type for d in decisions for e in d.events] == ["raised", "resolved"]
    assert sum(d.suppressed.count("cooldown") for d in decisions) == 1


@pytest.mark.parametrize(
    ("second_peak", "gain", "raised_again"),
    [
        (0.7, 0.2, False),  # the same strength: the same incident's tail, held off
        (0.85, 0.2, False),  # stronger, but not by the gain
        (0.95, 0.2, True),  # much stronger: a new incident
        (0.95, None, False),  # override off
        (0.95, 0.3, False),
    ],
)
def test_much_stronger_score_breaks_the_cooldown(
    second_peak: float, gain: float | None, raised_again: bool
) -> None:
    windows = burst([0.7, 0.7, 0, 0, 0]) + burst([second_peak] * 3 + [0] * 3, start=8)
    events = run(policy(cooldown_s=30.0, cooldown_override_gain=gain), windows)
    assert [e.type for e in events].count("raised") == (2 if raised_again else 1)


def test_restart_rebuilds_per_class_cooldowns() -> None:
    windows = (
        SLAM_THEN_GUNSHOT
        + burst([0.7, 0.7, 0, 0, 0, 0], start=20, cls="glass_break")
        + [score(26 + i) for i in range(40)]
    )
    reference = run(policy(cooldown_s=30.0), windows)
    assert [e.type for e in reference].count("raised") == 2  # the second slam is in its cooldown
    for crash_at in range(1, len(windows)):
        pol = policy(cooldown_s=30.0)
        before = [e for i, w in enumerate(windows[:crash_at]) for e in pol.observe(w, i).events]
        needed = pol.needed_from()
        resume = crash_at if needed is None else needed
        replay = policy(cooldown_s=30.0)
        after = [e for i, w in enumerate(windows) if i >= resume for e in replay.observe(w, i).events]
        assert {e.event_id for e in before} | {e.event_id for e in after} == {
            e.event_id for e in reference
        }, crash_at
