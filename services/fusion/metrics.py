"""The fusion service's Prometheus metrics: one place for names, labels and buckets."""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

INFERENCE_BUCKETS: Final = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
CAPTURE_TO_SCORE_BUCKETS: Final = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0)
BATCH_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128)


class FusionMetrics:
    """Metric objects registered on the service's registry (None: the default registry is not used)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.windows_scored = Counter(
            "vigil_fusion_windows_scored",
            "Windows scored and produced, by camera and missing modality (none/audio/video).",
            ["camera", "missing"],
            registry=registry,
        )
        self.batch_size = Histogram(
            "vigil_fusion_batch_size",
            "Windows per inference batch.",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.inference_seconds = Histogram(
            "vigil_fusion_inference_seconds",
            "ONNX Runtime time per batch.",
            buckets=INFERENCE_BUCKETS,
            registry=registry,
        )
        self.queue_windows = Gauge(
            "vigil_fusion_queue_windows",
            "Windows closed and waiting to be scored or acknowledged.",
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "vigil_fusion_consumer_lag_records",
            "Records behind the log end, per media partition.",
            ["topic", "partition"],
            registry=registry,
        )
        self.late_records = Counter(
            "vigil_fusion_late_records",
            "Records arriving after their windows were emitted (counted, not merged).",
            ["camera", "stream"],
            registry=registry,
        )
        self.dropped_records = Counter(
            "vigil_fusion_dropped_records",
            "Media records not used, by reason.",
            ["reason"],
            registry=registry,
        )
        self.windows_missing_modality = Counter(
            "vigil_fusion_windows_missing_modality",
            "Windows scored with a modality masked out.",
            ["camera", "modality"],
            registry=registry,
        )
        self.windows_unscored = Counter(
            "vigil_fusion_windows_unscored",
            "Windows on a session's grid that got no score, by reason (no_data: neither modality "
            "had a record in the window, e.g. media lost upstream).",
            ["camera", "reason"],
            registry=registry,
        )
        self.bus_disconnected = Gauge(
            "vigil_fusion_bus_disconnected",
            "1 while the consumer has no connection to its group coordinator (broker away); window "
            "timeouts are paused meanwhile.",
            registry=registry,
        )
        self.capture_to_score = Histogram(
            "vigil_fusion_capture_to_score_seconds",
            "From capture of a window's newest record to its score being produced.",
            buckets=CAPTURE_TO_SCORE_BUCKETS,
            registry=registry,
        )
        self.paused = Gauge(
            "vigil_fusion_paused", "1 while media partitions are paused for backpressure.", registry=registry
        )
