"""Run a folder of labelled clips through the real pipeline, several clips at once, and collect results.

Each clip becomes one camera of an :class:`~services.pipeline.InProcessPipeline` run to the end
(ingest decode and sampling, fusion windows and model, the configured alert policy); clips go in
groups of ``jobs`` (one ingest thread each). A clip that cannot be used (missing, unreadable, no
video stream, stuck decoding) is reported with the reason and left out; the rest go on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from models.realclips import LabelledRange, read_labels
from models.runtime import FusionModel
from services.evaluate.scoring import AlertSpan, ClipResult, ScoredWindow
from services.pipeline import InProcessPipeline, PipelineOutput
from streaming.alert_store import Alert
from streaming.config import AlertPolicyConfig, CameraConfig, VigilConfig
from streaming.contracts import WindowScore

log = logging.getLogger(__name__)

NS = 1_000_000_000
STUCK_FACTOR = 4.0  # a group's decode may take this many times its footage (plus a minute) at most


@dataclass(frozen=True)
class ClipSource:
    """A labelled clip to evaluate."""

    name: str  # as in the labels file
    path: Path
    incidents: tuple[LabelledRange, ...]


@dataclass(frozen=True)
class ClipProblem:
    """A clip left out (or evaluated with a caveat), and why."""

    name: str
    message: str


@dataclass(frozen=True)
class Probe:
    """What opening a clip told us."""

    duration_s: float
    has_audio: bool


@dataclass(frozen=True)
class ScoredClip:
    """A clip's evaluation result plus its raw window scores (for ``vigil calibrate``)."""

    result: ClipResult
    scores: tuple[WindowScore, ...]
    origin_ns: int  # capture time of the clip's start


def discover(folder: Path) -> tuple[list[ClipSource], list[ClipProblem]]:
    """Labelled clips of ``folder`` (labels.csv/json); labels naming missing files become problems.

    Raises :class:`LabelsError` when the labels file itself is missing or malformed.
    """
    labels = read_labels(folder)
    sources: list[ClipSource] = []
    problems: list[ClipProblem] = []
    for name, ranges in sorted(labels.items()):
        path = folder / name
        if not path.is_file():
            problems.append(ClipProblem(name, f"the labels name {name!r} but {path} does not exist: skipped"))
            continue
        sources.append(ClipSource(name, path, tuple(ranges)))
    return sources, problems


def probe(path: Path) -> Probe:
    """Open ``path`` with PyAV; raises ``ValueError`` with a readable reason if it cannot be evaluated."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError("no video stream: skipped")
            video = container.streams.video[0]
            duration = None
            if container.duration:
                duration = container.duration / 1_000_000
            elif video.duration and video.time_base:
                duration = float(video.duration * video.time_base)
            next(container.decode(video=0))  # one frame proves the codec works
            return Probe(duration_s=float(duration or 0.0), has_audio=bool(container.streams.audio))
    except StopIteration:
        raise ValueError("no decodable video frame: skipped") from None
    except av.error.FFmpegError as exc:
        raise ValueError(f"unreadable ({exc}): skipped") from None


def evaluate_config(base: VigilConfig, clips: dict[str, Path], policy: AlertPolicyConfig) -> VigilConfig:
    """``base`` made an offline run: memory bus, one camera per clip decoded as fast as possible.

    The model and window settings stay ``base``'s; ``policy`` becomes every camera's policy.
    """
    alert = base.alert.model_copy(update={"default_policy": policy, "cameras": {}})
    return base.model_copy(
        update={
            "bus": "memory",
            "cameras": {cid: CameraConfig(url=str(path)) for cid, path in clips.items()},
            "ingest": base.ingest.model_copy(update={"realtime": False, "shard_index": 0, "shard_count": 1}),
            "kafka": base.kafka.model_copy(update={"partitions": 1}),
            "alert": alert,
        }
    )


def select_policy(config: VigilConfig, camera: str | None) -> AlertPolicyConfig:
    """The policy the alert service gives ``camera``: its own, else the default one."""
    if camera is None:
        return config.alert.default_policy
    return config.alert.cameras.get(camera, config.alert.default_policy)


def _ns(iso: str) -> int:
    """RFC 3339 UTC time (as in alerts) to nanoseconds."""
    stamp = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return int(stamp.timestamp() * 1000) * 1_000_000 + stamp.microsecond % 1000 * 1000


def spans_from_alerts(alerts: Sequence[Alert], origin_ns: int, duration_s: float) -> list[AlertSpan]:
    """One :class:`AlertSpan` per incident from its raised/updated/resolved CloudEvents."""
    raised: dict[str, dict[str, float | str]] = {}
    for alert in alerts:
        data = alert.event["data"]
        incident = data["incident_id"]
        end_s = (_ns(data["window"]["end"]) - origin_ns) / NS
        if alert.type == "raised":
            raised[incident] = {
                "class": data["class"],
                "start": (_ns(data["incident_started"]) - origin_ns) / NS,
                "raised": end_s,
                "end": duration_s,
                "peak": float(data["peak_score"]),
            }
        elif incident in raised:
            raised[incident]["peak"] = max(float(raised[incident]["peak"]), float(data["peak_score"]))
            if alert.type == "resolved":
                raised[incident]["end"] = end_s
    return [
        AlertSpan(str(r["class"]), float(r["start"]), float(r["raised"]), float(r["end"]), float(r["peak"]))
        for r in raised.values()
    ]


def windows_of(scores: Sequence[WindowScore], origin_ns: int) -> tuple[ScoredWindow, ...]:
    """Window scores on the clip's time axis."""
    return tuple(
        ScoredWindow(
            (s.window_start_ns - origin_ns) / NS, (s.window_end_ns - origin_ns) / NS, s.anomaly, s.class_probs
        )
        for s in sorted(scores, key=lambda s: s.window_start_ns)
    )


Progress = Callable[[int, float], None]  # (clips done, footage seconds done)


def score_clips(
    sources: Sequence[ClipSource],
    base: VigilConfig,
    policy: AlertPolicyConfig,
    *,
    model: FusionModel | None = None,
    jobs: int = 2,
    progress: Progress | None = None,
) -> tuple[list[ScoredClip], list[ClipProblem]]:
    """Evaluate ``sources`` through the pipeline, ``jobs`` clips at a time."""
    results: list[ScoredClip] = []
    problems: list[ClipProblem] = []
    usable: list[tuple[ClipSource, Probe]] = []
    for source in sources:
        try:
            usable.append((source, probe(source.path)))
        except ValueError as exc:
            problems.append(ClipProblem(source.name, str(exc)))
    for source, info in usable:
        if not info.has_audio:
            problems.append(ClipProblem(source.name, "no audio track: scored on video only"))
    done, footage = len(sources) - len(usable), 0.0  # the skipped ones are done
    for start in range(0, len(usable), max(1, jobs)):
        group = usable[start : start + max(1, jobs)]
        scored, failed = _score_group(group, base, policy, model)
        results.extend(scored)
        problems.extend(failed)
        done += len(group)
        footage += sum(info.duration_s for _, info in group)
        if progress is not None:
            progress(done, footage)
    return results, problems


def _score_group(
    group: Sequence[tuple[ClipSource, Probe]],
    base: VigilConfig,
    policy: AlertPolicyConfig,
    model: FusionModel | None,
) -> tuple[list[ScoredClip], list[ClipProblem]]:
    cameras = {f"clip-{i}": source.path for i, (source, _) in enumerate(group)}
    config = evaluate_config(base, cameras, policy)
    pipeline = InProcessPipeline(config, model=model)
    limit = STUCK_FACTOR * sum(info.duration_s for _, info in group) + 60.0
    started = time.monotonic()
    output = pipeline.run_to_end(decode_timeout_s=limit)
    log.debug("group of %d clip(s) in %.1f s", len(group), time.monotonic() - started)
    return _collect(group, output)


def _collect(
    group: Sequence[tuple[ClipSource, Probe]], output: PipelineOutput
) -> tuple[list[ScoredClip], list[ClipProblem]]:
    results: list[ScoredClip] = []
    problems: list[ClipProblem] = []
    for i, (source, info) in enumerate(group):
        camera = f"clip-{i}"
        if camera in output.unfinished:
            problems.append(
                ClipProblem(source.name, "decoding did not finish (stuck or failing file): skipped")
            )
            continue
        scores = output.scores_of(camera)
        origin = output.first_capture_ns.get(camera)
        if origin is None or not scores:
            problems.append(
                ClipProblem(source.name, "no complete window (shorter than one window?): skipped")
            )
            continue
        duration = info.duration_s or (max(s.window_end_ns for s in scores) - origin) / NS
        alerts = spans_from_alerts(output.alerts_of(camera), origin, duration)
        note = "" if info.has_audio else "no audio track: scored on video only"
        result = ClipResult(
            source.name, duration, source.incidents, windows_of(scores, origin), tuple(alerts), note
        )
        results.append(ScoredClip(result, tuple(scores), origin))
    return results, problems
