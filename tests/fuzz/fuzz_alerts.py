"""Fuzz the alert parsers subscribers run on what they read from Redis.

Any Redis client can XADD to the alert stream or PUBLISH on the live channel, so entries are
untrusted: ``parse_alert`` (stream entries) and ``parse_event`` (Pub/Sub messages) either
return, or raise :class:`streaming.alerts_client.AlertFormatError`, which subscribers log and
skip. Inputs are split on NUL into field names and values of one stream entry.

    python tests/fuzz/fuzz_alerts.py [libFuzzer flags] [corpus dirs]
"""

from __future__ import annotations

import contextlib
import sys

import atheris

import streaming.alert_store
import streaming.kafka_bus  # noqa: F401

with atheris.instrument_imports():
    from streaming import alerts_client


def check(data: bytes) -> None:
    """One input: the whole as a Pub/Sub message, then its NUL-separated parts as entry fields."""
    with contextlib.suppress(alerts_client.AlertFormatError):
        alerts_client.parse_event(data)
    parts = data.split(b"\0")
    fields = dict(zip(parts[::2], parts[1::2], strict=False))
    with contextlib.suppress(alerts_client.AlertFormatError):
        alerts_client.parse_alert(b"1-0", fields)


def main() -> None:
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
