"""``vigil fusion``: score audio-visual windows from the media topics with the ONNX model.

    vigil fusion --config vigil.yaml                      # live: consumer group, scores topic
    vigil fusion --model new.onnx --replay-from 2026-11-28T10:00:00Z --scores-topic vigil.scores.candidate
                                                         # replay retained media into another topic

Exit codes: 0 done, 2 bad configuration or a model without a valid contract, 1 service failure.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry

from models.contract import ModelContractError
from streaming.bus import BusError, BusStopped
from streaming.config import ConfigError, load_config
from streaming.observability import HealthServer, setup_logging
from streaming.runtime import ServiceShutdown, make_bus

DEFAULT_PORT = 9102
log = logging.getLogger("vigil.fusion")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``vigil fusion``."""
    parser.add_argument(
        "--config", help="YAML configuration (default: $VIGIL_CONFIG, then built-in defaults)"
    )
    parser.add_argument(
        "--model", type=Path, help="ONNX model with a Vigil contract (overrides fusion.model_path)"
    )
    parser.add_argument(
        "--replay-from",
        metavar="TIME",
        help="replay retained media from TIME (ISO 8601, e.g. 2026-11-28T10:00:00Z, or epoch ms) "
        "with its own consumer group; stops at the end offsets seen at start",
    )
    parser.add_argument("--scores-topic", help="topic for replayed scores (required with --replay-from)")


def parse_time_ms(text: str) -> int:
    """Epoch milliseconds from ``text`` (digits: epoch ms; else ISO 8601, naive = UTC)."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"--replay-from {text!r}: expected ISO 8601 (2026-11-28T10:00:00Z) or epoch ms"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def _fail(message: str) -> int:
    print(f"vigil fusion: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Run the fusion service until SIGTERM/SIGINT (or the end of a replay)."""
    from models.runtime import ModelInputError
    from services.fusion.runner import load_model
    from services.fusion.service import FusionService, ReplaySpec

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        return _fail(str(exc))
    setup_logging(config.log_level)
    if config.bus == "memory":
        return _fail("bus 'memory' only works inside one process; use `vigil demo`")
    replay: ReplaySpec | None = None
    if args.replay_from is not None or args.scores_topic is not None:
        if args.replay_from is None or args.scores_topic is None:
            return _fail("--replay-from and --scores-topic go together")
        if args.scores_topic in (config.topics.scores, config.topics.video, config.topics.audio):
            return _fail(f"--scores-topic {args.scores_topic!r} is a live topic; replay into a separate one")
        try:
            replay = ReplaySpec(parse_time_ms(args.replay_from), args.scores_topic)
        except ValueError as exc:
            return _fail(str(exc))
    model_path = args.model or config.fusion.model_path
    try:
        model = load_model(model_path, config.fusion.providers, config.fusion.inference_workers)
    except ModelContractError as exc:
        return _fail(f"model refused: {exc}")
    except ModelInputError as exc:
        return _fail(f"model refused: {exc}")
    registry = CollectorRegistry()
    port = config.http.port if config.http.port is not None else DEFAULT_PORT
    # signals first: a SIGTERM while Kafka is still unreachable must stop the start-up wait
    shutdown = ServiceShutdown(budget_s=config.shutdown_timeout_s, name="vigil fusion")
    health = HealthServer(registry, config.http.host, port).start()
    health.add_readiness(shutdown.started_check)
    bus = make_bus(config, client_id="vigil-fusion", stop=shutdown.event)
    try:
        service = FusionService(config, bus, registry, model=model, replay=replay)
        health.add_liveness(service.heartbeat.check)
        health.add_readiness(service.ready)
        if not shutdown.started(service.request_stop):
            return 0
        log.info(
            "fusion up: model %s (%s) on %s, metrics on :%d/metrics",
            model.contract.model_version,
            model.path,
            ",".join(model.providers),
            health.port,
        )
        service.run()
    except BusStopped:
        log.info("fusion: stopped before Kafka was reachable")
        return 0
    except BusError as exc:  # Kafka unreachable for the whole connect timeout, or refusing us
        log.error("fusion: %s", exc)
        return 1
    except Exception as exc:
        log.error("fusion failed: %s: %s", type(exc).__name__, exc)
        return 1
    finally:
        shutdown.restore()
        bus.close()
        health.stop()
    return 0
