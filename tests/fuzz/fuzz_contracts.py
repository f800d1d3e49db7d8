"""Fuzz the record contracts: ``contracts.decode`` and the payload decoders fusion calls.

Any input either decodes, or raises :class:`streaming.contracts.ContractError` (what the services
catch and send to the dead-letter topic). Half the inputs are framed (a correct prefix and CRC
around fuzzed header and payload bytes) so the fuzzer reaches the header and payload checks.

    python tests/fuzz/fuzz_contracts.py [libFuzzer flags] [corpus dirs]
"""

from __future__ import annotations

import sys
import zlib

import atheris
import numpy  # noqa: F401  (dependencies first: instrument only the contracts)
import simplejpeg  # noqa: F401

with atheris.instrument_imports():
    from streaming import contracts


def frame(data: bytes) -> bytes:
    """Wrap fuzzed bytes as a well-framed record: kind byte, header/payload split, CRC."""
    if len(data) < 3:
        return data
    kinds = b"VASD"
    kind, split = kinds[data[0] % len(kinds)], data[1]
    body = data[2:]
    header, payload = body[: split % (len(body) + 1)], body[split % (len(body) + 1) :]
    crc = zlib.crc32(payload, zlib.crc32(header))
    prefix = contracts._PREFIX.pack(contracts.MAGIC, kind, 1, len(header), len(payload), crc)
    return prefix + header + payload


def check(data: bytes) -> None:
    """One input: decode it raw or framed; a decoded media record must also decode its payload."""
    raw = data[1:] if data and data[0] & 1 else frame(data[1:])
    try:
        record = contracts.decode(raw)
        if isinstance(record, contracts.VideoFrame):
            record.to_rgb()
        elif isinstance(record, contracts.AudioChunk):
            record.to_float32()
        contracts.to_dict(record)
    except contracts.ContractError:
        pass


def main() -> None:
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
