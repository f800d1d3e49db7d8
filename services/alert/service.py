"""The alert service loop: scores topic in (consumer group), alerts out through an :class:`AlertSink`.

Offsets: per partition the service commits no further than the earliest score still shaping an
open incident, a pending raise or a cooldown (:meth:`AlertPolicy.needed_from`). After a crash
the replay from there rebuilds the same incidents with the same event ids, and the sink drops
the ones it already stored: nothing lost, nothing doubled.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from services.alert.events import AlertSchemaError, build_alert, capture_to_alert_seconds
from services.alert.metrics import AlertMetrics
from streaming import contracts
from streaming.alert_policy import CameraPolicies, IncidentEvent
from streaming.alert_store import Alert, AlertSink, StoreStopped
from streaming.bus import Bus, BusError, Consumer, Record, TopicPartition
from streaming.config import VigilConfig
from streaming.deadletter import DeadLetterSink
from streaming.observability import Heartbeat
from streaming.runtime import StopBudget

log = logging.getLogger(__name__)

DEAD_LETTER_ACK_TIMEOUT_S = 30.0


class UnknownModelVersion(ValueError):
    """A score from a model version this service was not told to accept."""


def default_model_versions(config: VigilConfig) -> set[str] | None:
    """Accepted model versions: configured, else the deployed model's, else None (any)."""
    if config.alert.accepted_model_versions is not None:
        return set(config.alert.accepted_model_versions)
    path = config.fusion.model_path
    if path is None:
        from models.runtime import DEFAULT_MODEL_PATH

        path = DEFAULT_MODEL_PATH if DEFAULT_MODEL_PATH.exists() else None
    if path is None:
        return None
    try:
        from models.contract import load_model_contract

        return {load_model_contract(path).model_version}
    except Exception as exc:  # no readable model here: accept any version, say so
        log.warning("cannot read the model contract of %s (%s): accepting any model version", path, exc)
        return None


class AlertService:
    """Consumes window scores, applies per-camera policies, delivers alerts to ``sink``."""

    def __init__(
        self,
        config: VigilConfig,
        bus: Bus,
        registry: CollectorRegistry | None,
        sink: AlertSink,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.config = config
        self.bus = bus
        self.sink = sink
        self.metrics = AlertMetrics(registry)
        self.policies = CameraPolicies(config.alert)
        self.heartbeat = Heartbeat("alert")
        self._clock_ns = clock_ns
        self._versions = default_model_versions(config)
        self._producer = bus.producer(client_id="vigil-alert")
        self._dead = DeadLetterSink(self._producer, config.topics.dead_letter, "alert", registry)
        self._stop = threading.Event()
        self._stop_budget = StopBudget(config.shutdown_timeout_s)  # leaving the group, closing: in all
        self._joined = threading.Event()
        self._progress: dict[TopicPartition, int] = {}  # next offset after the last processed record
        self._committed: dict[TopicPartition, int] = {}
        self._cameras: dict[TopicPartition, set[str]] = defaultdict(set)
        self._consumer: Consumer | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to finish (it returns after the current record, then closes within the
        configured ``shutdown_timeout_s``)."""
        self._stop_budget.start()
        self._stop.set()

    @property
    def stop_event(self) -> threading.Event:
        """Set when the service is stopping (shared with the sink's retry loop)."""
        return self._stop

    def ready(self) -> tuple[bool, str]:
        """Ready once the consumer joined its group and the sink can deliver."""
        if not self._joined.is_set():
            return False, "alert: not yet in the consumer group"
        return self.sink.ready()

    def positions(self) -> dict[TopicPartition, int]:
        """Per partition, the offset after the last record processed."""
        return dict(self._progress)

    def run(self) -> None:
        """Consume until :meth:`stop`."""
        consumer = self.bus.consumer(self.config.alert.group_id, client_id="vigil-alert")
        self._consumer = consumer
        consumer.subscribe([self.config.topics.scores], listener=self)
        try:
            while not self._stop.is_set():
                self.heartbeat.beat()
                records = consumer.poll(0.5, max_records=200)
                self._joined.set()
                for record in records:
                    if self._stop.is_set():
                        break
                    self.handle(record)
                try:
                    self._commit()
                except BusError as exc:  # retried after the next batch; a replay is deduplicated
                    log.warning("alert: commit failed: %s", exc)
        except StoreStopped:
            log.info("alert service stopping with undelivered alerts (their scores stay uncommitted)")
        finally:
            try:
                consumer.close(timeout_s=self._stop_budget.left())
            except Exception as exc:  # the new owner replays from the last commit: deduplicated
                log.warning("alert: leaving the group failed: %s", exc)
            self._producer.close(timeout=self._stop_budget.left())

    # -- rebalance listener -----------------------------------------------------------------------
    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Commit what is done on ``revoked`` and forget their cameras' state."""
        try:
            self._commit({tp for tp in revoked if tp in self._progress})
        except Exception as exc:  # the new owner replays from the older commit: safe
            log.warning("commit on revoke failed: %s", exc)
        for tp in revoked:
            self.policies.forget(self._cameras.pop(tp, set()))
            self._progress.pop(tp, None)
            self._committed.pop(tp, None)
        self._update_open_gauge()

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Nothing to load: state is rebuilt by replaying from the committed offsets."""
        log.info("alert: assigned %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))

    # -- processing -----------------------------------------------------------------------------
    def handle(self, record: Record) -> list[Alert]:
        """Process one score record; returns the alerts newly delivered."""
        tp = record.tp
        delivered: list[Alert] = []
        try:
            score = contracts.decode_as(record.value, contracts.WindowScore)
            if self._versions is not None and score.model_version not in self._versions:
                raise UnknownModelVersion(
                    f"model version {score.model_version!r} is not accepted "
                    f"(accepted: {sorted(self._versions)}; set alert.accepted_model_versions)"
                )
        except (contracts.ContractError, UnknownModelVersion) as exc:
            reason = "contract" if isinstance(exc, contracts.ContractError) else "model_version"
            self._dead.send(record, str(exc), exc, reason_type=reason).get(DEAD_LETTER_ACK_TIMEOUT_S)
            self.metrics.scores.labels("dead_letter").inc()
            self._progress[tp] = record.offset + 1
            return delivered
        self._cameras[tp].add(score.camera_id)
        decision = self.policies.observe(score, position=record.offset)
        for reason in decision.suppressed:
            self.metrics.suppressed.labels(reason).inc()
        self.metrics.scores.labels("suppressed" if decision.suppressed else "ok").inc()
        for event in decision.events:
            alert = self._alert(event, record)
            if alert is not None and self._deliver(alert, event):
                delivered.append(alert)
        self._progress[tp] = record.offset + 1
        self._update_open_gauge()
        return delivered

    def _alert(self, event: IncidentEvent, record: Record) -> Alert | None:
        try:
            return build_alert(
                event,
                now_ns=self._clock_ns(),
                inline_max_bytes=self.config.alert.thumbnail_inline_max_bytes,
                evidence_ttl_s=self.config.redis.evidence_ttl_s,
            )
        except AlertSchemaError as exc:
            self._dead.send(record, str(exc), exc, reason_type="alert_schema").get(DEAD_LETTER_ACK_TIMEOUT_S)
            return None

    def _deliver(self, alert: Alert, event: IncidentEvent) -> bool:
        if not self.sink.deliver(alert):
            self.metrics.suppressed.labels("redelivery").inc()
            return False
        self.metrics.alerts.labels(event.type, event.class_name, event.camera_id).inc()
        if event.type == "raised":
            self.metrics.capture_to_alert.observe(capture_to_alert_seconds(event, self._clock_ns()))
        log.info("alert %s %s: %s", alert.id, event.type, alert.event["data"]["summary"])
        return True

    def _commit(self, only: set[TopicPartition] | None = None) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        offsets: dict[TopicPartition, int] = {}
        for tp, progress in self._progress.items():
            if only is not None and tp not in only:
                continue
            safe = progress
            for camera_id in self._cameras.get(tp, ()):
                needed = self.policies.policy(camera_id).needed_from()
                if needed is not None:
                    safe = min(safe, needed)
            if self._committed.get(tp) != safe:
                offsets[tp] = safe
        if offsets:
            # bounded by the shutdown budget: a commit under way at SIGTERM (Kafka away) must end in it
            consumer.commit(offsets, self.config.shutdown_timeout_s)
            self._committed.update(offsets)

    def _update_open_gauge(self) -> None:
        self.metrics.open_incidents.set(
            sum(len(self.policies.policy(c).open_incidents()) for c in self.policies.cameras())
        )
