"""Parsing what subscribers read from Redis: anything malformed is an AlertFormatError, never a crash."""

from __future__ import annotations

import json

import pytest

from streaming.alerts_client import AlertFormatError, event_camera, parse_alert, parse_event

EVENT = {"id": "inc-1-0", "type": "vigil.alert.raised.v1", "data": {"camera": "gate-3"}}


def test_a_well_formed_entry_parses() -> None:
    fields = {
        b"id": b"inc-1-0",
        b"type": b"raised",
        b"camera": b"gate-3",
        b"event": json.dumps(EVENT).encode(),
    }
    alert = parse_alert(b"1-0", fields)
    assert (alert.entry_id, alert.id, alert.type, alert.camera, alert.event) == (
        "1-0",
        "inc-1-0",
        "raised",
        "gate-3",
        EVENT,
    )
    assert event_camera(alert.event) == "gate-3"


@pytest.mark.parametrize(
    "fields",
    [
        {b"event": b"{not json"},
        {b"event": b"[1, 2]"},
        {b"event": b"\xff\xfe"},
        {b"id": b"\xc3", b"event": b"{}"},
        {b"\xc3": b"x"},
        {b"event": b"[" * 100_000},
    ],
)
def test_malformed_entries_raise_alert_format_error(fields: dict[bytes, bytes]) -> None:
    with pytest.raises(AlertFormatError):
        parse_alert(b"1-0", fields)


@pytest.mark.parametrize("event", [{"data": 5}, {"data": None}, {}])
def test_the_camera_of_an_event_without_a_data_object_is_none(event: dict[str, object]) -> None:
    assert event_camera(event) is None


def test_a_pubsub_message_that_is_not_an_object_is_an_alert_format_error() -> None:
    with pytest.raises(AlertFormatError):
        parse_event(b'"just a string"')
