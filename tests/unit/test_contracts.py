"""Contracts: round trips and a clear ContractError for anything mangled."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.contracts import (
    AudioChunk,
    ContractError,
    DeadLetter,
    VideoFrame,
    WindowScore,
    decode,
    decode_as,
    encode,
)

ids = st.text(min_size=1, max_size=20)
ns = st.integers(min_value=0, max_value=2**62)
seqs = st.integers(min_value=0, max_value=2**40)
unit = st.floats(min_value=0, max_value=1, allow_nan=False)


@st.composite
def video_frames(draw: st.DrawFn) -> VideoFrame:
    h = draw(st.integers(1, 12))
    w = draw(st.integers(1, 12))
    pixels = draw(st.binary(min_size=h * w * 3, max_size=h * w * 3))
    return VideoFrame(draw(ids), draw(ids), draw(seqs), draw(ns), w, h, "rgb24", draw(st.booleans()), pixels)


@st.composite
def audio_chunks(draw: st.DrawFn) -> AudioChunk:
    n = draw(st.integers(0, 64))
    fmt = draw(st.sampled_from(["s16le", "f32le"]))
    width = 2 if fmt == "s16le" else 4
    payload = draw(st.binary(min_size=n * width, max_size=n * width))
    return AudioChunk(
        draw(ids), draw(ids), draw(seqs), draw(ns), draw(st.integers(1, 96000)), 1, fmt, n, payload
    )


@st.composite
def window_scores(draw: st.DrawFn) -> WindowScore:
    start = draw(ns)
    a = draw(unit)
    return WindowScore(
        camera_id=draw(ids),
        session_id=draw(ids),
        seq=draw(seqs),
        capture_ns=start,
        window_start_ns=start,
        window_end_ns=start + 2_000_000_000,
        anomaly=draw(unit),
        class_probs=draw(st.dictionaries(ids, unit, max_size=6)),
        contribution={"audio": a, "video": 1 - a},
        missing=tuple(draw(st.lists(st.sampled_from(["audio", "video"]), max_size=1))),
        model_version=draw(ids),
        latency_s=draw(st.floats(0, 1e4)),
        scored_ns=draw(ns),
        num_frames=draw(st.integers(0, 100)),
        num_audio_samples=draw(st.integers(0, 10**6)),
        flags=tuple(draw(st.lists(ids, max_size=3))),
        thumbnail_jpeg=draw(st.binary(max_size=64)),
    )


@st.composite
def dead_letters(draw: st.DrawFn) -> DeadLetter:
    return DeadLetter(
        draw(ids),
        draw(ids),
        draw(seqs),
        draw(ns),
        draw(ids),
        draw(ids),
        draw(st.integers(0, 100)),
        draw(seqs),
        draw(st.text()),
        draw(ids),
        draw(st.binary(max_size=100)),
    )


records = st.one_of(video_frames(), audio_chunks(), window_scores(), dead_letters())


@given(records)
def test_round_trip(record) -> None:
    assert decode(encode(record)) == record


@given(records, st.data())
def test_truncation_is_a_contract_error(record, data) -> None:
    wire = encode(record)
    cut = data.draw(st.integers(0, len(wire) - 1))
    with pytest.raises(ContractError):
        decode(wire[:cut])


@given(records, st.data())
def test_any_flipped_byte_is_a_contract_error(record, data) -> None:
    wire = bytearray(encode(record))
    index = data.draw(st.integers(0, len(wire) - 1))
    wire[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(ContractError):
        decode(bytes(wire))


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_garbage_is_a_contract_error(garbage: bytes) -> None:
    with pytest.raises(ContractError):
        decode(garbage)


@given(records)
def test_wrong_version_names_the_version(record) -> None:
    wire = bytearray(encode(record))
    wire[3] = 99
    with pytest.raises(ContractError, match="unsupported schema version 99"):
        decode(bytes(wire))


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"", "truncated"),
        (b"XX" + bytes(14), "bad magic"),
        (struct.pack(">2sBBIII", b"VG", ord("Z"), 1, 0, 0, 0), "unknown kind"),
        (b"VG" + b"V" + bytes([1]) + struct.pack(">III", 2, 0, 0) + b"{}", "checksum"),
    ],
)
def test_specific_errors(wire: bytes, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        decode(wire)


def test_missing_header_field_is_named() -> None:
    import json
    import zlib

    header = json.dumps({"camera_id": "c"}).encode()
    wire = (
        struct.pack(">2sBBIII", b"VG", ord("A"), 1, len(header), 0, zlib.crc32(b"", zlib.crc32(header)))
        + header
    )
    with pytest.raises(ContractError, match="lacks field 'session_id'"):
        decode(wire)


def test_decode_as_checks_kind() -> None:
    chunk = AudioChunk.from_float32(
        np.zeros(10, np.float32), camera_id="c", session_id="s", seq=0, capture_ns=0, sample_rate=16000
    )
    with pytest.raises(ContractError, match="expected a VideoFrame"):
        decode_as(encode(chunk), VideoFrame)


def test_jpeg_frame_round_trip_is_close() -> None:
    rng = np.random.default_rng(0)
    rgb = (rng.random((112, 112, 3)) * 40 + 100).astype(np.uint8)
    frame = VideoFrame.from_rgb(
        rgb, camera_id="c", session_id="s", seq=1, capture_ns=1, camera_has_audio=False
    )
    back = decode_as(encode(frame), VideoFrame).to_rgb()
    assert back.shape == rgb.shape
    assert np.abs(back.astype(int) - rgb.astype(int)).mean() < 12


def test_audio_float_round_trip() -> None:
    samples = np.sin(np.linspace(0, 20, 1600)).astype(np.float32) * 0.5
    chunk = AudioChunk.from_float32(
        samples, camera_id="c", session_id="s", seq=0, capture_ns=0, sample_rate=16000
    )
    assert chunk.duration_ns == 100_000_000
    np.testing.assert_allclose(decode_as(encode(chunk), AudioChunk).to_float32(), samples, atol=1e-4)


def test_bad_jpeg_payload_is_a_contract_error() -> None:
    frame = VideoFrame("c", "s", 0, 0, 4, 4, "jpeg", True, b"not a jpeg")
    with pytest.raises(ContractError, match="JPEG"):
        frame.to_rgb()
