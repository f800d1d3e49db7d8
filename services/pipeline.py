"""One in-process pipeline: ingest → windows → model → alert policy on the in-memory bus.

The real service classes (:class:`IngestService`, :class:`FusionService`, :class:`AlertService`)
wired on one :class:`MemoryBus`, in one of two ways:

- **live** (``vigil demo``): the three services run at once in threads, files paced in real time
  (``ingest.realtime``) like cameras, alerts printed as they fire;
- **to the end** (``vigil evaluate``, ``vigil bench evaluate``): ingest decodes every file as fast
  as the CPU allows (one thread per file), then fusion replays the media topics (the same code
  as ``vigil fusion --replay``: windows close as they complete, the rest flushed at the end),
  then every score record goes through the alert service in offset order. Deterministic: the
  same files and model give the same windows, scores and incidents, because every file's capture
  times start at one fixed instant on the window grid (:data:`OFFLINE_EPOCH_NS`), not at the wall
  time it happened to be opened (which would shift the windows against the footage run to run).
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from models.runtime import FusionModel
from services.alert.render import PrintingSink
from services.alert.service import AlertService
from services.fusion.service import FusionService, ReplaySpec
from services.ingest.service import IngestService
from streaming import contracts
from streaming.alert_store import Alert, AlertSink
from streaming.config import VigilConfig
from streaming.memory_bus import MemoryBus
from streaming.runtime import topic_specs

OFFLINE_EPOCH_NS = 1_767_225_600 * 1_000_000_000  # 2026-01-01T00:00:00Z: capture time of a file's start


def offline_anchor_ns(hop_ns: int) -> int:
    """The fixed capture-time anchor of offline runs: :data:`OFFLINE_EPOCH_NS` put on the window grid.

    Windows start at multiples of ``hop_ns``; anchoring a file there makes its first window start
    with the file, whatever the hop.
    """
    return OFFLINE_EPOCH_NS - OFFLINE_EPOCH_NS % hop_ns


@dataclass(frozen=True)
class PipelineOutput:
    """What a run to the end produced: window scores, alerts, and each camera's first capture time."""

    scores: list[contracts.WindowScore]
    alerts: list[Alert]
    first_capture_ns: dict[str, int]  # camera id -> capture time of its first media record
    unfinished: frozenset[str] = frozenset()  # cameras whose file did not end in time (stopped)

    def scores_of(self, camera_id: str) -> list[contracts.WindowScore]:
        """The camera's window scores in window order."""
        return sorted((s for s in self.scores if s.camera_id == camera_id), key=lambda s: s.window_start_ns)

    def alerts_of(self, camera_id: str) -> list[Alert]:
        """The camera's alerts in delivery order."""
        return [a for a in self.alerts if a.event["data"]["camera"] == camera_id]


class InProcessPipeline:
    """The services of one configuration on a fresh in-memory bus (``config.bus`` is ignored)."""

    def __init__(
        self,
        config: VigilConfig,
        *,
        sink: AlertSink | None = None,
        registry: CollectorRegistry | None = None,
        model: FusionModel | None = None,
    ) -> None:
        self.config = config
        self.bus = MemoryBus(default_partitions=config.kafka.partitions)
        self.bus.ensure_topics(topic_specs(config))
        self.registry = registry if registry is not None else CollectorRegistry()
        self.sink: AlertSink = sink if sink is not None else PrintingSink(io.StringIO())
        self.model = model
        self.ingest: IngestService | None = None
        self.fusion: FusionService | None = None
        self.alert: AlertService | None = None
        self._alert_thread: threading.Thread | None = None

    # -- live ---------------------------------------------------------------------------------------
    def start(self) -> InProcessPipeline:
        """Start fusion (warm), the alert loop, then ingest: the live mode of ``vigil demo``."""
        self.fusion = FusionService(self.config, self.bus, self.registry, model=self.model)
        self.alert = AlertService(self.config, self.bus, self.registry, self.sink)
        self.ingest = IngestService(self.config, self.bus, self.registry)
        self._alert_thread = threading.Thread(target=self.alert.run, name="alert", daemon=True)
        self.fusion.start()
        self._alert_thread.start()
        self.ingest.start()
        return self

    def wait_ingest(self, timeout_s: float | None = None) -> bool:
        """Wait until every file ended (live mode)."""
        assert self.ingest is not None, "start() first"
        return self.ingest.wait(timeout_s)

    def stop(self) -> None:
        """Stop whatever runs (live mode)."""
        if self.ingest is not None:
            self.ingest.stop()
        if self.fusion is not None:
            self.fusion.stop()
        if self.alert is not None:
            self.alert.stop()
        if self._alert_thread is not None:
            self._alert_thread.join(10)

    # -- to the end ---------------------------------------------------------------------------------
    def run_to_end(self, decode_timeout_s: float | None = None) -> PipelineOutput:
        """Decode every camera's file to its end, score every window, apply the alert policy.

        Files still decoding after ``decode_timeout_s`` (a stuck or failing file that ingest keeps
        reopening) are stopped and listed in :attr:`PipelineOutput.unfinished`.
        """
        # built first: a broken model fails before any decoding, and its hop places the anchor
        fusion = FusionService(
            self.config,
            self.bus,
            self.registry,
            model=self.model,
            replay=ReplaySpec(from_ms=0, scores_topic=self.config.topics.scores),
        )
        anchor_ns = offline_anchor_ns(fusion.params.hop_ns)
        ingest = IngestService(self.config, self.bus, self.registry, wall_ns=lambda: anchor_ns)
        ingest.start()
        try:
            ingest.wait(decode_timeout_s)
        finally:
            ingest.stop()
        unfinished = frozenset(c for c, s in ingest.supervisors.items() if not s.finished.is_set())
        fusion.run()
        alert = AlertService(self.config, self.bus, self.registry, self.sink)
        delivered: list[Alert] = []
        scores: list[contracts.WindowScore] = []
        for record in self.bus.records(self.config.topics.scores):
            delivered.extend(alert.handle(record))
            scores.append(contracts.decode_as(record.value, contracts.WindowScore))
        return PipelineOutput(scores, delivered, self._first_capture(), unfinished)

    def _first_capture(self) -> dict[str, int]:
        first: dict[str, int] = {}
        for topic in (self.config.topics.video, self.config.topics.audio):
            seen: set[bytes] = set()
            for record in self.bus.records(topic):
                if record.key is None or record.key in seen:
                    continue
                seen.add(record.key)  # records of a camera are in capture order: the first is enough
                item = contracts.decode(record.value)
                if isinstance(item, contracts.VideoFrame | contracts.AudioChunk):
                    camera = item.camera_id
                    first[camera] = min(first.get(camera, item.capture_ns), item.capture_ns)
        return first
