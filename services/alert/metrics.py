"""The alert service's Prometheus metrics: one place for their names, labels and buckets."""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

CAPTURE_TO_ALERT_BUCKETS: Final = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0)


class AlertMetrics:
    """Metric objects registered on the service's registry."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.alerts = Counter(
            "vigil_alerts",
            "Alerts delivered, by lifecycle type, class and camera.",
            ["type", "class", "camera"],
            registry=registry,
        )
        self.suppressed = Counter(
            "vigil_alerts_suppressed",
            "Windows or alerts held back: cooldown, dedup (window seen twice), late, redelivery.",
            ["reason"],
            registry=registry,
        )
        self.capture_to_alert = Histogram(
            "vigil_alert_capture_to_alert_seconds",
            "From capture of a raising window's newest record to its alert being stored.",
            buckets=CAPTURE_TO_ALERT_BUCKETS,
            registry=registry,
        )
        self.redis_errors = Counter(
            "vigil_alert_redis_errors", "Failed Redis delivery attempts (retried).", registry=registry
        )
        self.scores = Counter(
            "vigil_alert_scores", "Window scores consumed, by outcome.", ["outcome"], registry=registry
        )
        self.open_incidents = Gauge(
            "vigil_alert_open_incidents", "Incidents raised and not yet resolved.", registry=registry
        )
