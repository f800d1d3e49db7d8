"""All cameras of one ingest process: :class:`IngestService` (also embedded by ``vigil demo``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry

from services.ingest.analysis import AnalysisSpec, resolve_spec
from services.ingest.metrics import IngestMetrics
from services.ingest.publisher import MediaPublisher
from services.ingest.supervisor import CameraSupervisor
from streaming.bus import Bus, BusError
from streaming.config import ConfigError, VigilConfig
from streaming.runtime import StopBudget, topic_specs

log = logging.getLogger(__name__)

BUS_ERROR_GRACE_S = 10.0


def select_cameras(config: VigilConfig, only: Sequence[str] | None = None) -> list[str]:
    """Camera ids this process ingests: enabled, in ``only`` if given, and in this shard.

    Shards split the configured ids in sorted order: index ``i`` goes to shard ``i % count``.
    """
    unknown = sorted(set(only or ()) - set(config.cameras))
    if unknown:
        raise ConfigError(f"unknown camera id(s) {unknown} (configured: {sorted(config.cameras)})")
    ingest = config.ingest
    if ingest.shard_index >= ingest.shard_count:
        raise ConfigError(
            f"ingest.shard_index {ingest.shard_index} must be < shard_count {ingest.shard_count}"
        )
    chosen = []
    for index, camera_id in enumerate(sorted(config.cameras)):
        if index % ingest.shard_count != ingest.shard_index:
            continue
        if only and camera_id not in only:
            continue
        if config.cameras[camera_id].enabled:
            chosen.append(camera_id)
    return chosen


class IngestService:
    """Runs one :class:`CameraSupervisor` per selected camera, publishing through one producer."""

    def __init__(
        self,
        config: VigilConfig,
        bus: Bus,
        registry: CollectorRegistry,
        *,
        cameras: Sequence[str] | None = None,
        spec: AnalysisSpec | None = None,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.config = config
        self.bus = bus
        self.metrics = IngestMetrics(registry)
        self.spec = spec or resolve_spec(config)
        self.camera_ids = select_cameras(config, cameras)
        self._producer = bus.producer(client_id="vigil-ingest")
        self.publisher = MediaPublisher(
            self._producer,
            config.topics,
            self.metrics,
            max_inflight_per_camera=config.ingest.max_inflight_per_camera,
            max_record_bytes=config.kafka.max_request_size,
            backlog_s=config.ingest.backlog_s,
            backlog_bytes=config.ingest.backlog_bytes,
        )
        self.supervisors: dict[str, CameraSupervisor] = {}
        for camera_id in self.camera_ids:
            camera = config.cameras[camera_id]
            self.supervisors[camera_id] = CameraSupervisor(
                camera_id,
                camera.resolved_url(),
                self.spec.for_camera(camera),
                config.ingest,
                self.publisher.publish,
                self.metrics,
                want_audio=camera.audio,
                wall_ns=wall_ns,
            )
        self._topics_ready = threading.Event()
        self._stop = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> IngestService:
        """Create the topics (retrying in the background if the bus is away) and start all cameras."""
        if not self._ensure_topics():
            threading.Thread(target=self._retry_topics, name="ingest-topics", daemon=True).start()
        for supervisor in self.supervisors.values():
            supervisor.start()
        log.info(
            "ingest: %d camera(s) %s at %.4g fps %dx%d, audio %d Hz",
            len(self.camera_ids),
            self.camera_ids,
            self.spec.fps,
            self.spec.width,
            self.spec.height,
            self.spec.sample_rate,
        )
        return self

    def stop(self, timeout_s: float | None = None) -> None:
        """Stop every camera, then flush what is in flight, within ``timeout_s`` in all (default:
        the configured ``shutdown_timeout_s``); records the bus has not taken by then are dropped
        and counted in the log (a broker that is away)."""
        self._stop.set()
        budget = StopBudget(self.config.shutdown_timeout_s if timeout_s is None else timeout_s)
        budget.start()
        steps: list[str] = []
        t = time.monotonic()

        def took(step: str) -> None:
            nonlocal t
            now = time.monotonic()
            steps.append(f"{step} {now - t:.1f} s")
            t = now

        for supervisor in self.supervisors.values():
            supervisor.stop()
        for supervisor in self.supervisors.values():
            supervisor.join(budget.left(floor_s=0.0))
        took("cameras")
        self.publisher.flush(budget.left())
        took("flush")
        self.publisher.close(budget.left(floor_s=0.0))  # in the budget: its pump may be stuck in a send
        took("publisher")
        self._producer.close(timeout=budget.left())
        took("producer")
        log.info("ingest: stopped (%s)", ", ".join(steps))

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait until every camera finished (files that ended); True if they all did."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for supervisor in self.supervisors.values():
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not supervisor.finished.wait(remaining):
                return False
        return True

    # -- health ------------------------------------------------------------------------------
    def liveness(self) -> tuple[bool, str]:
        """Every running camera supervisor's loop beats."""
        stale = [cid for cid, s in self.supervisors.items() if s.is_alive() and not s.heartbeat.check()[0]]
        if stale:
            return False, f"camera supervisor(s) not beating: {stale}"
        return True, f"{len(self.supervisors)} camera supervisor(s) beating"

    def readiness(self) -> tuple[bool, str]:
        """At least one camera, topics exist, and the bus has not failed lately."""
        if not self.supervisors:
            return False, "no camera configured for this process"
        if not self._topics_ready.is_set():
            return False, "bus unreachable: topics not created yet"
        p = self.publisher
        if (
            p.last_error
            and time.monotonic() - p.last_error_mono < BUS_ERROR_GRACE_S
            and (p.last_ack_mono < p.last_error_mono)
        ):
            return False, f"bus failing: {p.last_error}"
        return True, f"bus reachable, {len(self.supervisors)} camera(s)"

    # -- internals ---------------------------------------------------------------------------
    def _ensure_topics(self) -> bool:
        try:
            self.bus.ensure_topics(topic_specs(self.config))
        except BusError as exc:
            log.warning("ingest: cannot create topics yet (%s); retrying", exc)
            return False
        self._topics_ready.set()
        return True

    def _retry_topics(self) -> None:
        delay = 1.0
        while not self._stop.wait(delay):
            if self._ensure_topics():
                return
            delay = min(delay * 2, self.config.kafka.connect_retry_max_s)
