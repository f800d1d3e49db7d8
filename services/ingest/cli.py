"""``vigil ingest``: decode the configured cameras and publish frames and audio to the bus.

    vigil ingest --config vigil.yaml                      # every enabled camera
    vigil ingest --config vigil.yaml --camera gate-3      # a subset (repeat --camera)
    vigil ingest --config vigil.yaml --shard-index 1 --shard-count 4

Serves /metrics, /healthz and /readyz on ``http.port`` (default 9101). Runs until SIGTERM or
SIGINT, or until every camera is a file that has ended.
"""

from __future__ import annotations

import argparse
import logging

from prometheus_client import CollectorRegistry

from services.ingest.service import IngestService
from streaming.bus import BusError, BusStopped
from streaming.config import ConfigError, load_config
from streaming.observability import HealthServer, setup_logging
from streaming.runtime import ServiceShutdown, make_bus

DEFAULT_HTTP_PORT = 9101
log = logging.getLogger("services.ingest")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``vigil ingest``."""
    parser.add_argument("--config", help="YAML configuration (default: $VIGIL_CONFIG; VIGIL_* env applies)")
    parser.add_argument(
        "--camera", action="append", default=None, metavar="ID", help="ingest only this camera (repeatable)"
    )
    parser.add_argument(
        "--shard-index", type=int, default=None, help="this process's shard (overrides config)"
    )
    parser.add_argument("--shard-count", type=int, default=None, help="number of shards (overrides config)")
    parser.add_argument("--port", type=int, default=None, help="HTTP port (default: http.port or 9101)")


def run(args: argparse.Namespace) -> int:
    """Run ingest until a signal (or until all file inputs ended)."""
    # signals first: a SIGTERM while Kafka is still unreachable must stop the start-up wait
    shutdown = ServiceShutdown(name="vigil ingest")
    try:
        return _run(args, shutdown)
    finally:
        shutdown.restore()


def _run(args: argparse.Namespace, shutdown: ServiceShutdown) -> int:
    try:
        config = load_config(args.config)
        updates = {
            k: v
            for k, v in (("shard_index", args.shard_index), ("shard_count", args.shard_count))
            if v is not None
        }
        if updates:
            config = config.model_copy(update={"ingest": config.ingest.model_copy(update=updates)})
        setup_logging(config.log_level)
        shutdown.set_budget(config.shutdown_timeout_s)
        bus = make_bus(config, client_id="vigil-ingest", stop=shutdown.event)
        registry = CollectorRegistry()
        service = IngestService(config, bus, registry, cameras=args.camera)
    except ConfigError as exc:
        logging.basicConfig()
        log.error("%s", exc)
        return 2
    except BusStopped:
        log.info("ingest: stopped before Kafka was reachable")
        return 0
    except BusError as exc:  # Kafka unreachable for the whole connect timeout, or refusing us
        log.error("ingest: %s", exc)
        return 1
    if not service.camera_ids:
        log.error("no camera to ingest (check cameras, --camera and the shard settings)")
        return 2
    port = args.port if args.port is not None else config.http.port
    if port is None:
        port = DEFAULT_HTTP_PORT
    health = HealthServer(registry, config.http.host, port)
    health.add_liveness(service.liveness)
    health.add_readiness(service.readiness)
    health.start()
    log.info("ingest: http on %s:%d (/metrics /healthz /readyz)", config.http.host, health.port)

    if not shutdown.started(lambda: None):  # the loop below watches shutdown.event
        bus.close()
        return 0
    service.start()
    try:
        while not shutdown.event.wait(0.5):
            if service.wait(0):
                log.info("ingest: every input ended")
                break
    finally:
        service.stop()
        health.stop()
        bus.close()
    return 0
