"""The fusion service loop: media topics in, window scores out, offsets committed only when safe.

Threads: the *consumer loop* (poll, decode, assemble windows, commit, backpressure) and the
scoring stages in a pipeline: *batcher* (batches across cameras, stacks model inputs), *infer*
workers (ONNX Runtime, several batches at once on CPUs) and *emitter* (score records in batch
order, produce). A window's lowest offsets stay
uncommitted until its score is acknowledged (:class:`~services.fusion.offsets.OffsetTracker`),
and open windows hold back commits via :meth:`WindowAssembler.min_open_offsets`, so a crash
re-reads what it needs. On revoke, open windows of the revoked partitions are dropped (their next
owner re-reads them from the committed offset); windows already closed are still scored (a
duplicate at worst, with the same window id).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt
from PIL import Image
from prometheus_client import CollectorRegistry

from models.runtime import FusionModel, ModelOutput
from services.fusion.batcher import Batcher
from services.fusion.metrics import FusionMetrics
from services.fusion.offsets import OffsetTracker
from services.fusion.runner import ModelBatch, WindowScorer, batch_buckets, inference_workers, load_model
from streaming import contracts
from streaming.bus import Bus, BusError, Consumer, Delivered, Record, TopicPartition, TopicSpec
from streaming.config import VigilConfig
from streaming.deadletter import DeadLetterSink
from streaming.observability import Heartbeat
from streaming.runtime import StopBudget, topic_specs
from streaming.windowing import AssembledWindow, WindowAssembler, WindowParams

log = logging.getLogger(__name__)

DEAD_LETTER_ACK_TIMEOUT_S = 30.0
COMMIT_INTERVAL_S = 0.5
LAG_INTERVAL_S = 5.0
# the lag probe is a metric: a broker that vanishes mid-request (it stops before us) must not
# hold the consume loop, and with it a clean shutdown, for kafka-python's request timeout
LAG_TIMEOUT_S = 1.0
POLL_TIMEOUT_S = 0.1
MAX_POLL_RECORDS = 500

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ReplaySpec:
    """Score retained media from ``from_ms`` into ``scores_topic``, then stop at the end seen at start."""

    from_ms: int
    scores_topic: str


@dataclass(slots=True)
class _Job:
    window: AssembledWindow
    token: int


_InFlight = tuple[list[_Job], ModelBatch, Future[ModelOutput]]  # a batch handed to the workers


class FusionService:
    """Embeddable fusion worker: ``start()``/``stop()`` run it in threads, ``run()`` blocks.

    ``model`` defaults to ``config.fusion.model_path`` (or the bundled model); a model without a
    valid contract raises :class:`models.contract.ModelContractError` here, before any I/O.
    """

    def __init__(
        self,
        config: VigilConfig,
        bus: Bus,
        registry: CollectorRegistry | None,
        *,
        model: FusionModel | None = None,
        replay: ReplaySpec | None = None,
    ) -> None:
        self.config = config
        self.bus = bus
        fc = config.fusion
        self.model = model or load_model(fc.model_path, fc.providers, fc.inference_workers)
        c = self.model.contract
        self.contract = c
        self.replay = replay
        self.scores_topic = replay.scores_topic if replay else config.topics.scores
        self.group_id = f"{fc.group_id}-replay-{uuid.uuid4().hex[:8]}" if replay else fc.group_id
        self.params = WindowParams.create(
            window_s=c.window_s,
            hop_s=c.hop_s,
            fps=c.fps,
            sample_rate=c.sample_rate,
            lateness_s=fc.lateness_s,
            idle_timeout_s=fc.idle_timeout_s,
        )
        self.assembler = WindowAssembler(self.params, (c.frame_height, c.frame_width))
        self.metrics = FusionMetrics(registry)
        self.heartbeat = Heartbeat("fusion")
        self.scorer = WindowScorer(
            self.model, fc.thumbnail_threshold, batch_buckets(fc.max_batch, self.model.providers)
        )
        self.batcher: Batcher[_Job] = Batcher(fc.max_batch, fc.max_wait_ms / 1000.0)
        self.tracker = OffsetTracker()
        self._producer = bus.producer(client_id="vigil-fusion")
        self._dead = DeadLetterSink(self._producer, config.topics.dead_letter, "fusion", registry)
        self._media_topics = (config.topics.video, config.topics.audio)
        self._stop = threading.Event()
        self._stop_budget = StopBudget(config.shutdown_timeout_s)  # drain, commit, leave, close: in all
        self._assigned = threading.Event()
        self._done = threading.Event()
        self._threads: list[threading.Thread] = []
        self._consumer: Consumer | None = None
        self._committed: dict[TopicPartition, int] = {}
        self._late_seen: dict[tuple[str, str], int] = {}
        self._unscored_seen: dict[tuple[str, str], int] = {}
        self._away_since: float | None = None  # the bus is away: processing time stands still
        self._away_total = 0.0
        self._paused = False
        self._paused_since = 0.0
        self._paused_total = 0.0
        self._pending_seek: set[TopicPartition] = set()
        self._replay_end: dict[TopicPartition, int] | None = None
        self._replay_logged = 0.0
        self._resend: deque[tuple[contracts.WindowScore, int]] = deque()
        self._resend_lock = threading.Lock()
        self.workers = inference_workers(fc.inference_workers, self.model.providers)
        self._infer_pool = ThreadPoolExecutor(self.workers, thread_name_prefix="fusion-infer")
        self._inflight: queue.Queue[_InFlight | None] = queue.Queue(maxsize=self.workers)
        self.error: BaseException | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> FusionService:
        """Warm up, then run the consumer loop and the scoring stages in daemon threads."""
        self.warm_up()
        self._threads = [
            *self._stage_threads(),
            threading.Thread(target=self._guard(self._consume_loop), name="fusion-consumer", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def request_stop(self) -> None:
        """Ask the threads to finish (safe from a signal handler); :meth:`run` then returns within
        the configured ``shutdown_timeout_s``."""
        self._stop_budget.start()
        self._stop.set()
        self.batcher.close()

    def stop(self) -> None:
        """Stop both threads (the consumer leaves its group) and close the producer, within the
        configured ``shutdown_timeout_s``."""
        self.request_stop()
        for thread in self._threads:
            thread.join(self._stop_budget.left())
        self._threads.clear()
        self._producer.close(timeout=self._stop_budget.left())

    def run(self) -> None:
        """Warm up and run until :meth:`stop` (or the end of a replay) in the calling thread."""
        self.warm_up()
        stages = self._stage_threads()
        for thread in stages:
            thread.start()
        try:
            self._consume_loop()
        finally:
            self._stop.set()
            self.batcher.close()
            for thread in stages:
                thread.join(self._stop_budget.left())
            self._producer.close(timeout=self._stop_budget.left())
        if self.error is not None:
            raise self.error

    def warm_up(self) -> None:
        """Run the model once per batch size in use, before the service says it is ready."""
        if not self.scorer.warm:
            sizes = self.scorer.buckets or (1, self.config.fusion.max_batch)
            self.scorer.warm_up(sorted(set(sizes)))

    @property
    def finished(self) -> threading.Event:
        """Set when the loop has exited (end of replay, stop, or a fatal error)."""
        return self._done

    def ready(self) -> tuple[bool, str]:
        """Ready = model warm and partitions assigned."""
        if not self.scorer.warm:
            return False, "fusion: model not warm"
        if not self._assigned.is_set():
            return False, "fusion: no partitions assigned"
        return True, f"fusion: model {self.contract.model_version} warm, partitions assigned"

    def _guard(self, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as exc:  # a dead thread must take the service down, not hang it
                log.exception("fusion: %s failed", threading.current_thread().name)
                self.error = exc
                self._stop.set()
                self.batcher.close()

        return run

    # -- rebalance listener -----------------------------------------------------------------------
    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Commit what is safe for ``revoked``, then forget their open windows."""
        try:
            self._commit(only=revoked)
        except Exception as exc:  # the next owner replays from the older commit: safe
            log.warning("fusion: commit on revoke failed: %s", exc)
        self._pending_seek -= revoked
        dropped = self.assembler.drop_partitions(revoked)
        self.tracker.forget(revoked)
        for tp in revoked:
            self._committed.pop(tp, None)
        log.info("fusion: revoked %s (%d open sessions dropped)", _names(revoked), dropped)

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Seek after the poll: replay by time, live mode to the committed offsets.

        kafka-python keeps the fetch position of a partition revoked and assigned again in one
        (eager) rebalance, but its open windows were dropped on revoke: without rewinding to the
        committed offset their first records would never be read again.
        """
        self._pending_seek |= assigned
        log.info("fusion: assigned %s", _names(assigned))

    # -- consumer loop ----------------------------------------------------------------------------
    def _now(self) -> float:
        """Processing time for the assembler; frozen while we pause ourselves or the broker is away.

        Window timeouts (lateness, idleness) measure how long a camera was silent while the bus
        worked: during a broker outage ingest holds its backlog, so silence then means nothing.
        """
        now = time.monotonic()
        paused = self._paused_total + (now - self._paused_since if self._paused else 0.0)
        away = self._away_total + (now - self._away_since if self._away_since is not None else 0.0)
        return now - paused - away

    def _watch_bus(self, consumer: Consumer) -> bool:
        """Track whether the broker is reachable (consumers that cannot tell count as connected)."""
        probe = getattr(consumer, "connected", None)
        connected = True if probe is None else bool(probe())
        now = time.monotonic()
        if not connected and self._away_since is None:
            self._away_since = now
            self.metrics.bus_disconnected.set(1)
            log.warning("fusion: lost the Kafka group coordinator; window timeouts paused until it is back")
        elif connected and self._away_since is not None:
            log.info("fusion: Kafka back after %.1f s; window timeouts resume", now - self._away_since)
            self._away_total += now - self._away_since
            self._away_since = None
            self.metrics.bus_disconnected.set(0)
        return connected

    def _consume_loop(self) -> None:
        specs = topic_specs(self.config)
        if self.replay is not None:
            specs.append(
                TopicSpec(
                    self.scores_topic, self.config.kafka.partitions, self.config.kafka.scores_retention_ms
                )
            )
        self.bus.ensure_topics(specs)
        consumer = self.bus.consumer(self.group_id, client_id="vigil-fusion")
        self._consumer = consumer
        consumer.subscribe(list(self._media_topics), listener=self)
        last_commit = last_lag = 0.0
        try:
            while not self._stop.is_set():
                self.heartbeat.beat()
                try:
                    records = consumer.poll(POLL_TIMEOUT_S, max_records=MAX_POLL_RECORDS)
                except BusError as exc:  # Kafka away: keep the heartbeat, retry (liveness stays green)
                    log.warning("fusion: poll failed: %s (retrying)", exc)
                    self._stop.wait(1.0)
                    continue
                if consumer.assignment():
                    self._assigned.set()
                else:
                    self._assigned.clear()
                if self._pending_seek:
                    records = self._seek_assigned(consumer, records)
                connected = self._watch_bus(consumer)
                processing = self._now()  # one per poll: it only matters at the lateness scale
                handled: dict[TopicPartition, int] = {}
                for record in records:
                    tp = record.tp
                    self._handle(record, tp, processing)
                    handled[tp] = record.offset
                self.tracker.consumed(handled)
                self._enqueue(self.assembler.tick(processing))
                self._count_late()
                self._count_unscored()
                self._backpressure(consumer)
                now = time.monotonic()
                if now - last_commit >= COMMIT_INTERVAL_S:
                    try:
                        self._commit()
                    except BusError as exc:  # e.g. a rebalance in progress: the next commit covers it
                        log.warning("fusion: commit failed: %s", exc)
                    last_commit = now
                if (
                    now - last_lag >= LAG_INTERVAL_S and connected and not self._stop.is_set()
                ):  # offsets requests hang while away
                    self._update_lag(consumer)
                    last_lag = now
                if self._replay_finished(consumer):
                    self._finish_replay()
                    break
        finally:
            # Kafka may be away now: each step gets what is left of the budget, never more
            self._drain(self._stop_budget.left())
            try:
                self._commit(timeout_s=self._stop_budget.left())
            except Exception as exc:
                log.warning("fusion: final commit failed: %s", exc)
            try:
                consumer.close(timeout_s=self._stop_budget.left())
            except Exception as exc:  # the new owner replays from the last commit: safe
                log.warning("fusion: leaving the group failed: %s", exc)
            self._done.set()

    def _drain(self, timeout_s: float) -> None:
        """On the way out: let the scoring stages finish closed windows and their acks, so they are committed."""
        self.batcher.close()
        deadline = time.monotonic() + timeout_s
        while self.tracker.inflight() and time.monotonic() < deadline and self.error is None:
            self.heartbeat.beat()
            time.sleep(0.02)
        try:
            self._producer.flush(max(0.1, deadline - time.monotonic()))
        except BusError as exc:
            log.warning("fusion: flush on the way out failed: %s", exc)

    def _handle(self, record: Record, tp: TopicPartition, now: float) -> None:
        """Decode one media record into the assembler (or the dead-letter topic); queue what closes."""
        try:
            item = contracts.decode(record.value)
            if isinstance(item, contracts.VideoFrame):
                rgb = self._frame_rgb(item)
                windows = self.assembler.add_frame(
                    item.camera_id,
                    item.session_id,
                    item.capture_ns,
                    rgb,
                    has_audio=item.camera_has_audio,
                    tp=tp,
                    offset=record.offset,
                    now=now,
                    jpeg=item.payload if item.codec == "jpeg" else b"",
                    first=item.seq == 0,
                )
            elif isinstance(item, contracts.AudioChunk):
                windows = self.assembler.add_audio(
                    item.camera_id,
                    item.session_id,
                    item.capture_ns,
                    self._samples(item),
                    tp=tp,
                    offset=record.offset,
                    now=now,
                    first=item.seq == 0,
                )
            else:
                raise contracts.ContractError(
                    f"{type(item).__name__} record on media topic {record.topic}: expected video frames or audio chunks"
                )
        except contracts.ContractError as exc:
            self._dead.send(record, str(exc), exc, reason_type="contract").get(DEAD_LETTER_ACK_TIMEOUT_S)
            self.metrics.dropped_records.labels("dead_letter").inc()
            return
        if windows:
            self._enqueue(windows)

    def _frame_rgb(self, frame: contracts.VideoFrame) -> npt.NDArray[np.uint8]:
        rgb = frame.to_rgb()
        h, w = self.contract.frame_height, self.contract.frame_width
        if rgb.shape[:2] != (h, w):  # ingest sizes frames for the model; a model swap may not match
            rgb = np.asarray(Image.fromarray(rgb).resize((w, h), Image.Resampling.BILINEAR), dtype=np.uint8)
        return rgb

    def _samples(self, chunk: contracts.AudioChunk) -> npt.NDArray[np.float32]:
        samples = chunk.to_float32()
        rate = self.contract.sample_rate
        if chunk.sample_rate != rate and samples.size:
            n = round(samples.size * rate / chunk.sample_rate)
            x = np.arange(n, dtype=np.float64) * chunk.sample_rate / rate
            samples = np.interp(x, np.arange(samples.size), samples).astype(np.float32)
        return samples

    def _enqueue(self, windows: list[AssembledWindow]) -> None:
        for window in windows:
            token = self.tracker.track(window.needed_offsets)
            self.batcher.put(_Job(window, token))
        self.metrics.queue_windows.set(self.tracker.inflight())

    def _count_late(self) -> None:
        for (camera, stream), count in self.assembler.late_records.items():
            seen = self._late_seen.get((camera, stream), 0)
            if count > seen:
                self.metrics.late_records.labels(camera, stream).inc(count - seen)
                self.metrics.dropped_records.labels("late").inc(count - seen)
                self._late_seen[(camera, stream)] = count

    def _count_unscored(self) -> None:
        for (camera, reason), count in self.assembler.unscored_windows.items():
            seen = self._unscored_seen.get((camera, reason), 0)
            if count > seen:
                self.metrics.windows_unscored.labels(camera, reason).inc(count - seen)
                log.warning(
                    "fusion: camera %s: %d window(s) without any media (%s): not scored",
                    camera,
                    count - seen,
                    reason,
                )
                self._unscored_seen[(camera, reason)] = count

    def _backpressure(self, consumer: Consumer) -> None:
        queued = self.tracker.inflight()
        limit = self.config.fusion.max_queue_windows
        if not self._paused and queued > limit:
            consumer.pause(consumer.assignment())
            self._paused, self._paused_since = True, time.monotonic()
            self.metrics.paused.set(1)
            log.info("fusion: %d windows queued (> %d): pausing media partitions", queued, limit)
        elif self._paused and queued <= limit // 2:
            consumer.resume(consumer.paused())
            self._paused = False
            self._paused_total += time.monotonic() - self._paused_since
            self.metrics.paused.set(0)

    def _commit(self, only: set[TopicPartition] | None = None, timeout_s: float | None = None) -> None:
        """Commit what is safe; within ``timeout_s`` (default ``shutdown_timeout_s``: a commit
        under way when SIGTERM comes must not outlast the shutdown budget)."""
        consumer = self._consumer
        if consumer is None:
            return
        assigned = consumer.assignment()
        safe = self.tracker.safe_offsets(self.assembler.min_open_offsets())
        offsets = {
            tp: off
            for tp, off in safe.items()
            if tp in assigned and (only is None or tp in only) and self._committed.get(tp) != off
        }
        if offsets:
            consumer.commit(offsets, self.config.shutdown_timeout_s if timeout_s is None else timeout_s)
            self._committed.update(offsets)

    def _update_lag(self, consumer: Consumer) -> None:
        positions = self.tracker.positions()
        tps = [tp for tp in consumer.assignment() if tp in positions]
        if not tps:
            return
        try:
            ends = consumer.end_offsets(tps, timeout_s=LAG_TIMEOUT_S)
        except BusError as exc:
            log.warning("fusion: cannot read end offsets: %s", exc)
            return
        for tp, end in ends.items():
            self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, end - positions[tp]))

    def _seek_assigned(self, consumer: Consumer, records: list[Record]) -> list[Record]:
        """Position newly assigned partitions; records this poll returned for them are read again."""
        pending, self._pending_seek = self._pending_seek, set()
        assigned = consumer.assignment()
        tps = pending & assigned
        self._pending_seek |= pending - assigned  # assignment not visible yet: next round
        if self.replay is not None:
            self._seek_replay(consumer, tps)
        else:
            for tp in tps:
                committed = consumer.committed(tp)
                start = committed if committed is not None else consumer.offsets_for_time(tp, 0)
                if start is not None:
                    consumer.seek(tp, start)
        return [r for r in records if r.tp not in tps]

    # -- replay -----------------------------------------------------------------------------------
    def _seek_replay(self, consumer: Consumer, tps: set[TopicPartition]) -> None:
        assert self.replay is not None
        ends = consumer.end_offsets(tps)
        self._replay_end = {**(self._replay_end or {}), **ends}
        for tp in tps:
            offset = consumer.offsets_for_time(tp, self.replay.from_ms)
            start = ends[tp] if offset is None else offset
            consumer.seek(tp, start)
            self.tracker.set_position(tp, start)
        log.info(
            "fusion replay: from %d ms, ends %s", self.replay.from_ms, {str(k): v for k, v in ends.items()}
        )

    def _replay_finished(self, consumer: Consumer) -> bool:
        if self.replay is None or not self._replay_end or self._pending_seek:
            return False
        positions = self.tracker.positions()
        left = sum(max(0, end - positions.get(tp, 0)) for tp, end in self._replay_end.items())
        now = time.monotonic()
        if left and now - self._replay_logged >= 5.0:
            log.info("fusion replay: %d records left", left)
            self._replay_logged = now
        return left == 0

    def _finish_replay(self) -> None:
        self._enqueue(self.assembler.flush(self._now()))
        deadline = time.monotonic() + 120
        while self.tracker.inflight() and time.monotonic() < deadline and self.error is None:
            self.heartbeat.beat()
            time.sleep(0.02)
        self._producer.flush(30)
        log.info("fusion replay: done")

    # -- scoring stages ---------------------------------------------------------------------------
    # A pipeline, so that ONNX Runtime (which releases the GIL) is never kept waiting by Python
    # work: the "batcher" thread stacks each batch and hands it to the inference workers (several
    # batches at once on CPUs, see runner.inference_workers); the "emitter" thread takes the
    # results in batch order (a camera's windows stay in order) and builds and sends the scores.
    # The ordered queue holds at most ``workers`` batches: memory stays bounded.
    def _stage_threads(self) -> list[threading.Thread]:
        stages = (("fusion-batcher", self._prepare_loop), ("fusion-emitter", self._emit_loop))
        return [threading.Thread(target=self._guard(t), name=n, daemon=True) for n, t in stages]

    def _prepare_loop(self) -> None:
        try:
            while self.error is None:
                if self._stop.is_set() and len(self.batcher) == 0:
                    break
                jobs = self.batcher.next_batch(0.1)
                if jobs:
                    batch = self.scorer.prepare([j.window for j in jobs])
                    self._hand_on(self._inflight, (jobs, batch, self._infer_pool.submit(self._infer, batch)))
            self._hand_on(self._inflight, None)
        finally:
            self._infer_pool.shutdown(wait=False)

    def _infer(self, batch: ModelBatch) -> ModelOutput:
        out, took = self.scorer.infer(batch)
        self.metrics.batch_size.observe(len(batch.windows))
        self.metrics.inference_seconds.observe(took)
        return out

    def _emit_loop(self) -> None:
        while True:
            self._send_retries()
            try:
                item = self._inflight.get(timeout=0.1)
            except queue.Empty:
                if self.error is not None:
                    return
                continue
            if item is None:
                self._send_retries()
                return
            jobs, batch, result = item
            out = result.result()
            for job, score in zip(jobs, self.scorer.records(batch, out, time.time_ns()), strict=True):
                self._send(score, job.token)

    def _hand_on(self, q: queue.Queue[_T | None], item: _T | None) -> None:
        """Put ``item`` on the next stage's queue; give up only if a stage failed."""
        while self.error is None:
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _send(self, score: contracts.WindowScore, token: int) -> None:
        future = self._producer.send(self.scores_topic, contracts.encode(score), key=score.camera_id.encode())

        def acked(_: Delivered) -> None:
            self.tracker.done(token)
            missing = score.missing[0] if score.missing else "none"
            self.metrics.windows_scored.labels(score.camera_id, missing).inc()
            for modality in score.missing:
                self.metrics.windows_missing_modality.labels(score.camera_id, modality).inc()
            self.metrics.capture_to_score.observe(score.latency_s)
            self.metrics.queue_windows.set(self.tracker.inflight())

        def failed(exc: BaseException) -> None:
            log.warning("fusion: score of %s not delivered (%s): retrying", score.window_id, exc)
            with self._resend_lock:
                self._resend.append((score, token))

        future.add_callback(acked)
        future.add_errback(failed)

    def _send_retries(self) -> None:
        with self._resend_lock:
            retries = list(self._resend)
            self._resend.clear()
        for score, token in retries:
            self._send(score, token)


def _names(tps: set[TopicPartition]) -> list[str]:
    return sorted(f"{tp.topic}[{tp.partition}]" for tp in tps)
