"""Alerts are CloudEvents 1.0 that match schemas/alert.v1.schema.json."""

from __future__ import annotations

import base64
import dataclasses
import json

import jsonschema
import pytest

from services.alert.events import SCHEMA_PATH, AlertSchemaError, build_alert, validate_alert
from services.alert.summary import describe
from streaming.alert_policy import AlertPolicy
from streaming.config import AlertPolicyConfig
from tests.unit.test_alert_policy import burst


def raised_event(thumb: bytes = b""):
    pol = AlertPolicy("cam-1", AlertPolicyConfig())
    windows = burst([0.9, 0.9])
    windows[1] = dataclasses.replace(windows[1], thumbnail_jpeg=thumb)
    events = [e for w in windows for e in pol.observe(w).events]
    assert len(events) == 1
    return events[0]


def test_schema_is_valid_draft_2020_12() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)


def test_raised_alert_is_a_valid_cloudevent() -> None:
    event = raised_event()
    now = event.window.scored_ns + 200_000_000
    alert = build_alert(event, now_ns=now, inline_max_bytes=100, evidence_ttl_s=3600)
    ce = json.loads(alert.to_json())
    assert ce["specversion"] == "1.0"
    assert ce["id"] == event.event_id
    assert ce["type"] == "vigil.alert.raised.v1"
    assert ce["source"] == "/cameras/cam-1"
    assert ce["data"]["class"] == "gunshot"
    assert ce["data"]["capture_to_alert_seconds"] == pytest.approx(0.7)
    assert (
        ce["data"]["summary"] == "gunshot-like bang with people scattering: 70% audio, 30% video (score 90%)"
    )
    assert ce["data"]["evidence"] == {"kind": "none"}


def test_small_thumbnail_inline_large_one_by_key() -> None:
    small = build_alert(raised_event(b"\xff\xd8tiny"), now_ns=0, inline_max_bytes=100, evidence_ttl_s=60)
    assert base64.b64decode(small.event["data"]["evidence"]["base64"]) == b"\xff\xd8tiny"
    assert small.blobs == {}
    big = build_alert(raised_event(b"x" * 500), now_ns=0, inline_max_bytes=100, evidence_ttl_s=60)
    ev = big.event["data"]["evidence"]
    assert ev["kind"] == "redis_key" and ev["ttl_seconds"] == 60 and ev["bytes"] == 500
    assert big.blobs == {ev["redis_key"]: b"x" * 500}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("type",), "vigil.alert.exploded.v1"),
        (("source",), "cam-1"),
        (("data", "score"), 1.5),
        (("data", "incident_id"), "nope"),
        (("specversion",), "0.3"),
    ],
)
def test_schema_rejects_bad_alerts(path: tuple[str, ...], value: object) -> None:
    ce = build_alert(raised_event(), now_ns=0, inline_max_bytes=0, evidence_ttl_s=60).event
    node = ce
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(AlertSchemaError, match=path[-1]):
        validate_alert(ce)


@pytest.mark.parametrize(
    ("cls", "contribution", "missing", "expected"),
    [
        (
            "gunshot",
            {"audio": 0.7, "video": 0.3},
            (),
            "gunshot-like bang with people scattering: 70% audio, 30% video",
        ),
        (
            "fight",
            {"audio": 0.2, "video": 0.8},
            (),
            "people grappling with shouting and blows: 80% video, 20% audio",
        ),
        # the picture did not drive it: no sight is claimed
        ("gunshot", {"audio": 0.97, "video": 0.03}, (), "gunshot-like bang, 97% from audio"),
        ("glass_break", {"audio": 0.1, "video": 0.9}, (), "a broken pane, 90% from video"),
        ("scream", {"audio": 1.0, "video": 0.0}, ("video",), "a scream (audio only)"),
        ("fight", {"audio": 0.0, "video": 1.0}, ("audio",), "people grappling (video only)"),
        (
            "new_thing",
            {"audio": 0.5, "video": 0.5},
            (),
            "new thing sound with unusual activity: 50% audio, 50% video",
        ),
    ],
)
def test_summary(cls: str, contribution: dict[str, float], missing: tuple[str, ...], expected: str) -> None:
    assert describe(cls, contribution, missing) == expected
