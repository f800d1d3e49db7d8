"""``vigil alert``: consume window scores, deliver incident alerts to Redis.

vigil alert --config vigil.yaml          # metrics/health on http.port (default 9103)
"""

from __future__ import annotations

import argparse
import logging

from prometheus_client import CollectorRegistry

from services.alert.service import AlertService
from streaming.alert_store import RedisAlertStore, RedisSetupError
from streaming.bus import BusError, BusStopped
from streaming.config import ConfigError, load_config
from streaming.observability import HealthServer, setup_logging
from streaming.runtime import ServiceShutdown, make_bus, topic_specs

DEFAULT_PORT = 9103
log = logging.getLogger("vigil.alert")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``vigil alert``."""
    parser.add_argument(
        "--config", help="YAML configuration (default: $VIGIL_CONFIG, then built-in defaults)"
    )


def run(args: argparse.Namespace) -> int:
    """Run the alert service until SIGTERM/SIGINT."""
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"vigil alert: {exc}")
        return 2
    setup_logging(config.log_level)
    if config.bus == "memory":
        print("vigil alert: bus 'memory' only works inside one process; use `vigil demo`")
        return 2
    registry = CollectorRegistry()
    port = config.http.port if config.http.port is not None else DEFAULT_PORT
    # signals first: a SIGTERM while Kafka is still unreachable must stop the start-up wait
    shutdown = ServiceShutdown(budget_s=config.shutdown_timeout_s, name="vigil alert")
    health = HealthServer(registry, config.http.host, port).start()
    health.add_readiness(shutdown.started_check)
    bus = make_bus(config, client_id="vigil-alert", stop=shutdown.event)
    store = RedisAlertStore(config.redis, stop=shutdown.event)
    try:
        store.check()  # a wrong password or CA: one clear error now, not "unavailable" forever
        bus.ensure_topics(topic_specs(config))
        service = AlertService(config, bus, registry, store)
        store_errors = service.metrics.redis_errors
        store.set_error_hook(lambda _exc: store_errors.inc())
        health.add_liveness(service.heartbeat.check)
        health.add_readiness(service.ready)
        if not shutdown.started(service.stop):
            return 0
        log.info("alert service up: metrics on :%d/metrics", health.port)
        service.run()
    except BusStopped:
        log.info("alert service: stopped before Kafka was reachable")
    except (BusError, RedisSetupError) as exc:  # unreachable for the whole timeout, or refusing us
        log.error("alert service: %s", exc)
        return 1
    finally:
        shutdown.restore()
        store.close()
        bus.close()
        health.stop()
    return 0
