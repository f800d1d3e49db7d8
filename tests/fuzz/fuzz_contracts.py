"""Fuzz the record contracts: ``contracts.decode`` and the payload decoders fusion calls.

Any input either decodes, or raises :class:`streaming.contracts.ContractError` (what the services
catch and send to the dead-letter topic). The first byte picks raw bytes, framed (a correct prefix and CRC
around fuzzed header and payload bytes), or structured (a valid header of each kind with one field
set to a fuzzed JSON value, maybe an unknown field, and a fuzzed payload) so the fuzzer reaches
the header, field and payload checks.

    python tests/fuzz/fuzz_contracts.py [libFuzzer flags] [corpus dirs]
"""

from __future__ import annotations

import json
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


_TEMPLATES: dict[int, dict[str, object]] = {
    ord("V"): {
        "camera_id": "c",
        "session_id": "s",
        "seq": 0,
        "capture_ns": 1,
        "width": 2,
        "height": 2,
        "codec": "rgb24",
        "camera_has_audio": True,
    },
    ord("A"): {
        "camera_id": "c",
        "session_id": "s",
        "seq": 0,
        "capture_ns": 1,
        "sample_rate": 16000,
        "channels": 1,
        "sample_format": "s16le",
        "num_samples": 2,
    },
    ord("S"): {
        "camera_id": "c",
        "session_id": "s",
        "seq": 0,
        "capture_ns": 1,
        "window_start_ns": 0,
        "window_end_ns": 2,
        "anomaly": 0.5,
        "class_probs": {"normal": 1.0},
        "contribution": {"audio": 0.5, "video": 0.5},
        "missing": [],
        "model_version": "m",
        "latency_s": 0.1,
        "scored_ns": 3,
    },
}


def structured(data: bytes) -> bytes:
    """A valid header of some kind with one field set to a fuzzed JSON value, and a fuzzed payload."""
    fdp = atheris.FuzzedDataProvider(data)
    kind = fdp.PickValueInList(sorted(_TEMPLATES))
    header = dict(_TEMPLATES[kind])
    name = fdp.PickValueInList(sorted(header))
    choice = fdp.ConsumeIntInRange(0, 7)
    values: list[object] = [
        fdp.ConsumeInt(9),
        fdp.ConsumeRegularFloat(),
        fdp.ConsumeUnicodeNoSurrogates(8),
        fdp.ConsumeBool(),
        None,
        [fdp.ConsumeUnicodeNoSurrogates(4), fdp.ConsumeInt(2)],
        {fdp.ConsumeUnicodeNoSurrogates(4): fdp.ConsumeRegularFloat()},
        fdp.ConsumeIntInRange(-(2**70), 2**70),
    ]
    header[name] = values[choice]
    if fdp.ConsumeBool():
        header[fdp.ConsumeUnicodeNoSurrogates(6)] = 1  # an unknown field
    head = json.dumps(header).encode()
    payload = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))
    crc = zlib.crc32(payload, zlib.crc32(head))
    return contracts._PREFIX.pack(contracts.MAGIC, kind, 1, len(head), len(payload), crc) + head + payload


def check(data: bytes) -> None:
    """One input: decode it raw, framed or structured; a decoded media record must also decode its payload."""
    mode = data[0] % 3 if data else 0
    raw = data[1:] if mode == 1 else structured(data[1:]) if mode == 2 else frame(data[1:])
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
