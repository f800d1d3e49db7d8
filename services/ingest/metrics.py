"""Prometheus metrics of ingest, registered on a registry the caller passes (one place for names).

Telling a silent camera from a blocked downstream: a silent camera has a growing
``vigil_ingest_last_frame_age_seconds`` and ``vigil_camera_up`` 0; a blocked downstream has
fresh frames but a full ``vigil_ingest_publish_inflight`` and a growing
``vigil_ingest_backlog_records``, then drops (``reason="backlog_full"``) once the backlog is full.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# capture-to-publish: a few ms on a healthy bus, seconds when Kafka struggles
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class IngestMetrics:
    """All ingest metrics; labels are camera ids and fixed words, never URLs."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.frames_decoded = Counter(
            "vigil_ingest_frames_decoded_total",
            "Frames decoded (video pictures, audio frames) per camera and stream.",
            ["camera", "stream"],
            registry=registry,
        )
        self.published = Counter(
            "vigil_ingest_published_total",
            "Records acknowledged by the bus per camera and stream.",
            ["camera", "stream"],
            registry=registry,
        )
        self.dropped = Counter(
            "vigil_ingest_dropped_total",
            "Records dropped instead of blocking decode, by reason (backlog_full: the oldest "
            "record of a full backlog; bus_error, delivery_failed, too_large).",
            ["camera", "stream", "reason"],
            registry=registry,
        )
        self.published_bytes = Counter(
            "vigil_ingest_published_bytes_total",
            "Bytes of record values acknowledged by the bus.",
            ["camera", "stream"],
            registry=registry,
        )
        self.decode_errors = Counter(
            "vigil_ingest_decode_errors_total",
            "Packets the decoder rejected (corrupt stream); the session goes on.",
            ["camera"],
            registry=registry,
        )
        self.reconnects = Counter(
            "vigil_ingest_reconnects_total",
            "Session ends followed by a reconnect, by reason "
            "(eof, stall, unreachable, unauthorized, not_found, timeout, error).",
            ["camera", "reason"],
            registry=registry,
        )
        self.camera_up = Gauge(
            "vigil_camera_up", "1 while the camera's session delivers frames.", ["camera"], registry=registry
        )
        self.camera_has_audio = Gauge(
            "vigil_camera_has_audio",
            "1 if the camera's current session has an audio track being ingested.",
            ["camera"],
            registry=registry,
        )
        self.last_frame_age = Gauge(
            "vigil_ingest_last_frame_age_seconds",
            "Seconds since the camera last delivered a decoded frame (silent camera).",
            ["camera"],
            registry=registry,
        )
        self.publish_inflight = Gauge(
            "vigil_ingest_publish_inflight",
            "Records sent but not yet acknowledged (blocked downstream when at the cap).",
            ["camera"],
            registry=registry,
        )
        self.backlog_records = Gauge(
            "vigil_ingest_backlog_records",
            "Records held for the bus (broker away or slow); bounded by ingest.backlog_s/backlog_bytes.",
            ["camera"],
            registry=registry,
        )
        self.crash_looping = Gauge(
            "vigil_ingest_crash_looping",
            "1 while the camera fails so often that reconnects wait the maximum backoff.",
            ["camera"],
            registry=registry,
        )
        self.abandoned_sessions = Gauge(
            "vigil_ingest_abandoned_sessions",
            "Stalled sessions whose worker thread is still stuck inside FFmpeg (should drain to 0).",
            ["camera"],
            registry=registry,
        )
        self.capture_to_publish = Histogram(
            "vigil_ingest_capture_to_publish_seconds",
            "From a record's capture time to the bus acknowledging it.",
            ["camera"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def init_camera(self, camera: str, *, audio: bool) -> None:
        """Create a camera's series at zero so dashboards see them before the first event."""
        self.camera_up.labels(camera).set(0)
        self.camera_has_audio.labels(camera).set(0)
        self.publish_inflight.labels(camera).set(0)
        self.backlog_records.labels(camera).set(0)
        self.crash_looping.labels(camera).set(0)
        self.abandoned_sessions.labels(camera).set(0)
        self.decode_errors.labels(camera)
        streams = ("video", "audio") if audio else ("video",)
        for stream in streams:
            self.frames_decoded.labels(camera, stream)
            self.published.labels(camera, stream)
            self.published_bytes.labels(camera, stream)
