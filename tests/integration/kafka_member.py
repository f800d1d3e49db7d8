"""A consumer-group member run as a subprocess by the Kafka integration tests (so it can be SIGKILLed).

It consumes ``--topic`` in ``--group``, "processes" each record (prints it), and commits what it
processed after every poll, until ``--commit-limit`` records are committed; after that it keeps
processing without committing (the "killed after processing, before commit" case).
Every line on stdout is one JSON event, flushed at once:

    {"event": "assigned", "partitions": [0, 1]}
    {"event": "processed", "partition": 0, "offset": 12, "seq": 40}
    {"event": "committed", "offsets": {"0": 13}}
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from streaming.bus import BusError, TopicPartition
from streaming.config import KafkaConfig
from streaming.kafka_bus import KafkaBus


def emit(**event: object) -> None:
    """Print one event line and flush (the parent reads it while we run)."""
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


class Listener:
    """Reports assignments; commits nothing on revoke (offsets are committed after each poll)."""

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        emit(event="revoked", partitions=sorted(tp.partition for tp in revoked))

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        emit(event="assigned", partitions=sorted(tp.partition for tp in assigned))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--commit-limit", type=int, default=1 << 62)
    parser.add_argument("--delay-s", type=float, default=0.0, help="processing time per record")
    args = parser.parse_args()

    bus = KafkaBus(
        KafkaConfig(bootstrap_servers=args.bootstrap),
        "kafka-member",
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        max_poll_interval_ms=10_000,
    )
    consumer = bus.consumer(args.group, client_id="kafka-member")
    consumer.subscribe([args.topic], Listener())
    committed = 0  # records whose offsets were committed (until --commit-limit)
    while True:
        records = consumer.poll(0.5, max_records=20)
        offsets: dict[TopicPartition, int] = {}
        for record in records:
            time.sleep(args.delay_s)
            emit(event="processed", partition=record.partition, offset=record.offset, seq=int(record.value))
            if committed < args.commit_limit:
                offsets[record.tp] = record.offset + 1
                committed += 1
        if offsets:
            try:
                consumer.commit(offsets)
            except BusError as exc:  # a rebalance got in between: the next owner re-reads these
                emit(event="commit_failed", error=str(exc))
                continue
            emit(event="committed", offsets={str(tp.partition): o for tp, o in offsets.items()})


if __name__ == "__main__":
    sys.exit(main())
