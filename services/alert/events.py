"""Incident events as CloudEvents 1.0 (structured JSON), validated against ``schemas/alert.v1``.

:func:`build_alert` is pure: the caller passes the current time. Evidence (the window's JPEG
thumbnail) travels inline as base64 when small, otherwise as a Redis key (with a TTL) that the
alert names; the bytes to store under that key come back in :attr:`Alert.blobs`.
"""

from __future__ import annotations

import base64
import functools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import jsonschema

import schemas
from services.alert.summary import summary_line
from streaming.alert_policy import IncidentEvent
from streaming.alert_store import Alert

SCHEMA_PATH: Final = Path(schemas.__file__).resolve().parent / "alert.v1.schema.json"
TYPE_PREFIX: Final = "vigil.alert."
EVIDENCE_KEY_PREFIX: Final = "vigil:evidence:"


class AlertSchemaError(ValueError):
    """An alert does not match ``schemas/alert.v1.schema.json`` (the message says where)."""


def iso_time(ns: int) -> str:
    """UTC RFC 3339 time with milliseconds."""
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def capture_to_alert_seconds(event: IncidentEvent, now_ns: int) -> float:
    """From capture of the window's newest record to now (``latency_s`` is capture-to-score)."""
    window = event.window
    return max(0.0, window.latency_s + (now_ns - window.scored_ns) / 1e9)


def build_alert(event: IncidentEvent, *, now_ns: int, inline_max_bytes: int, evidence_ttl_s: int) -> Alert:
    """The CloudEvent for ``event`` (validated against the schema)."""
    w = event.window
    latency = capture_to_alert_seconds(event, now_ns)
    score = w.class_probs.get(event.class_name, 0.0)
    blobs: dict[str, bytes] = {}
    evidence: dict[str, Any]
    thumb = w.thumbnail_jpeg
    if not thumb:
        evidence = {"kind": "none"}
    elif len(thumb) <= inline_max_bytes:
        evidence = {"kind": "inline", "media_type": "image/jpeg", "base64": base64.b64encode(thumb).decode()}
    else:
        key = f"{EVIDENCE_KEY_PREFIX}{event.event_id}"
        blobs[key] = thumb
        evidence = {
            "kind": "redis_key",
            "media_type": "image/jpeg",
            "redis_key": key,
            "ttl_seconds": evidence_ttl_s,
            "bytes": len(thumb),
        }
    contribution = {"audio": w.contribution.get("audio", 0.0), "video": w.contribution.get("video", 0.0)}
    peak = event.peak_score
    cloud_event: dict[str, Any] = {
        "specversion": "1.0",
        "id": event.event_id,
        "source": f"/cameras/{event.camera_id}",
        "type": f"{TYPE_PREFIX}{event.type}.v1",
        "time": iso_time(now_ns),
        "datacontenttype": "application/json",
        "dataschema": "schemas/alert.v1.schema.json",
        "subject": event.class_name,
        "data": {
            "camera": event.camera_id,
            "incident_id": event.incident_id,
            "step": event.step,
            "class": event.class_name,
            "score": round(score, 4),
            "peak_score": round(peak, 4),
            "classes": {k: round(v, 4) for k, v in sorted(w.class_probs.items())},
            "anomaly": round(w.anomaly, 4),
            "contribution": {k: round(v, 4) for k, v in contribution.items()},
            "missing_modalities": list(w.missing),
            "window": {
                "start": iso_time(w.window_start_ns),
                "end": iso_time(w.window_end_ns),
                "session_id": w.session_id,
                "seq": w.seq,
            },
            "incident_started": iso_time(event.started_ns),
            "windows_above": event.windows_above,
            "model_version": w.model_version,
            "capture_to_alert_seconds": round(latency, 4),
            "evidence": evidence,
            "summary": summary_line(
                event.type,
                event.class_name,
                contribution,
                w.missing,
                peak,
            ),
        },
    }
    validate_alert(cloud_event)
    return Alert(event.event_id, event.camera_id, event.type, cloud_event, latency, blobs)


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator: jsonschema.protocols.Validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return validator


def validate_alert(cloud_event: dict[str, Any]) -> None:
    """Raise :class:`AlertSchemaError` unless ``cloud_event`` matches the alert schema."""
    errors = sorted(_validator().iter_errors(cloud_event), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(top level)"
        raise AlertSchemaError(f"alert {cloud_event.get('id')!r}: {where}: {first.message}")
