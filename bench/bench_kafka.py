"""Kafka throughput of 30 KB records: Vigil's producer settings against kafka-python's defaults.

Both run in the same process against the same broker, alternating, on fresh topics; the table
shows the best of ``--rounds`` for each and the ratio. Payloads are random bytes: frames are
JPEG, which does not compress further, so compression is measured at its real (small) worth.

    vigil bench kafka [--bootstrap 127.0.0.1:9092] [--records 2000] [--size 30000]
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, KafkaProducer

from streaming.bus import BusError, TopicSpec
from streaming.config import KafkaConfig, load_config
from streaming.kafka_bus import KafkaBus, client_settings


@dataclass
class Result:
    """One measured run."""

    produce_s: float
    consume_s: float


def _produce(settings: dict[str, Any], topic: str, payloads: list[bytes], keys: list[bytes]) -> float:
    producer = KafkaProducer(**settings)
    try:
        producer.partitions_for(topic)  # metadata outside the timed part
        start = time.perf_counter()
        for key, value in zip(keys, payloads, strict=True):
            producer.send(topic, value=value, key=key)
        producer.flush(120)
        return time.perf_counter() - start
    finally:
        producer.close(10)


def _consume(config: KafkaConfig, topic: str, count: int) -> float:
    consumer = KafkaConsumer(
        topic,
        **client_settings(config, "bench-consumer"),
        group_id=f"bench-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=max(1024 * 1024, config.max_request_size),
    )
    try:
        seen = 0
        start = None
        deadline = time.monotonic() + 120
        while seen < count and time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=500)
            if batch and start is None:
                start = time.perf_counter()
            seen += sum(len(v) for v in batch.values())
        if seen < count:
            raise RuntimeError(f"consumed {seen} of {count} records from {topic}")
        assert start is not None
        return time.perf_counter() - start
    finally:
        consumer.close(autocommit=False)


def main(argv: list[str]) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(prog="vigil bench kafka", description=__doc__)
    parser.add_argument("--config", help="Vigil YAML config (kafka section); VIGIL_ env applies")
    parser.add_argument("--bootstrap", help="override kafka.bootstrap_servers")
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--size", type=int, default=30_000, help="record value size in bytes")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--cameras", type=int, default=24, help="distinct keys")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)

    config = load_config(args.config).kafka
    if args.bootstrap:
        config = config.model_copy(update={"bootstrap_servers": args.bootstrap})
    bus = KafkaBus(config, "bench", connect_timeout_s=30)
    bus.wait_until_reachable(30)
    payloads = [os.urandom(args.size) for _ in range(args.records)]
    keys = [f"cam-{i % args.cameras}".encode() for i in range(args.records)]

    setups = {
        "vigil": bus.producer_settings("bench-vigil"),
        "kafka-python defaults": client_settings(config, "bench-defaults"),
        # What compression is worth on JPEG-like payloads: the same settings without it.
        "vigil, no compression": {**bus.producer_settings("bench-vigil-nc"), "compression_type": None},
    }
    best: dict[str, Result] = {}
    topics: list[str] = []
    for _ in range(args.rounds):
        for name, settings in setups.items():
            topic = f"bench.kafka.{uuid.uuid4().hex[:8]}"
            topics.append(topic)
            bus.ensure_topics([TopicSpec(topic, args.partitions, 600_000)])
            produce_s = _produce(settings, topic, payloads, keys)
            consume_s = _consume(config, topic, args.records)
            prev = best.get(name)
            best[name] = Result(
                min(produce_s, prev.produce_s) if prev else produce_s,
                min(consume_s, prev.consume_s) if prev else consume_s,
            )

    mb = args.records * args.size / 1e6
    shown = {
        "vigil": f"acks=all idempotent {config.compression} linger={config.linger_ms}ms batch={config.batch_size // 1024}KiB",
        "kafka-python defaults": "acks=all idempotent none linger=0ms batch=16KiB (kafka-python 3 defaults)",
        "vigil, no compression": "as vigil, compression none",
    }
    print(
        f"Kafka at {config.bootstrap_servers}: {args.records} records x {args.size} B "
        f"({mb:.0f} MB), {args.partitions} partitions, best of {args.rounds}"
    )
    print(
        f"{'producer':<24}{'produce rec/s':>14}{'produce MB/s':>13}{'consume rec/s':>15}{'consume MB/s':>14}  settings"
    )
    for name, r in best.items():
        print(
            f"{name:<24}{args.records / r.produce_s:>14,.0f}{mb / r.produce_s:>13.1f}"
            f"{args.records / r.consume_s:>15,.0f}{mb / r.consume_s:>14.1f}  {shown[name]}"
        )
    ratio = best["kafka-python defaults"].produce_s / best["vigil"].produce_s
    print(f"produce throughput ratio vigil / defaults: {ratio:.2f}x")

    try:
        bus.delete_topics(topics)
    except BusError as exc:  # best effort: leftover bench topics are harmless
        print(f"(could not delete bench topics: {exc})")
    bus.close()
    return 0
