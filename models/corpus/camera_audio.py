"""What a surveillance camera's microphone does to a sound (numpy + PyAV, no torch).

A clean recording of a gunshot or a scream is not what ingest delivers: the camera hears it at a
distance in a room or street (reverberation, air absorption), through a cheap microphone (band
limits, an uneven response), with automatic or wrong gain (very quiet, or clipped), and sends
it as AAC. Each step here is seeded by the caller's ``np.random.Generator`` so a training
window is reproducible. All audio is float32 mono at the model's rate.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from models.contract import SAMPLE_RATE

Audio = NDArray[np.float32]

#: FFmpeg's AAC encoder primes each stream with one frame of 1024 samples that its decoder keeps.
AAC_PRIMING = 1024


def rms(x: NDArray[np.floating], active: bool = False) -> float:
    """Root mean square; ``active`` measures only the loud part (above 10 % of the peak envelope)."""
    if x.size == 0:
        return 0.0
    if active:
        env = np.abs(x)
        loud = x[env > 0.1 * float(env.max())] if env.max() > 0 else x
        x = loud if loud.size else x
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def room_impulse(rng: np.random.Generator, sr: int = SAMPLE_RATE) -> Audio:
    """A synthetic room/street impulse response: direct path + exponentially decaying diffuse tail.

    RT60 0.15–1.2 s and direct-to-reverberant ratio −4…+14 dB cover a small room to a
    street canyon; a few early reflections sit in the first 40 ms.
    """
    rt60 = float(rng.uniform(0.15, 1.2))
    drr_db = float(rng.uniform(-4.0, 14.0))
    n = int(min(rt60, 1.0) * sr)
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)  # -60 dB at rt60
    # diffuse tails lose highs faster: one-pole low-pass on the tail
    alpha = float(rng.uniform(0.2, 0.7))
    tail = _one_pole_lowpass(tail, alpha)
    onset = int(rng.integers(int(0.002 * sr), int(0.012 * sr)))
    tail[:onset] = 0.0
    h = np.zeros(n)
    h[0] = 1.0
    for _ in range(int(rng.integers(2, 6))):
        k = int(rng.integers(int(0.003 * sr), int(0.04 * sr)))
        h[k] += float(rng.uniform(-0.6, 0.6))
    tail_energy = float(np.sum(tail**2)) or 1.0
    h += tail * np.sqrt(10 ** (-drr_db / 10) / tail_energy)
    out: Audio = (h / np.max(np.abs(h))).astype(np.float32)
    return out


def _one_pole_lowpass(x: NDArray[np.floating], alpha: float) -> NDArray[np.float64]:
    """y[n] = (1-a) x[n] + a y[n-1], done in the frequency domain (no Python loop)."""
    n = x.size
    m = _fft_len(2 * n)
    w = np.fft.rfftfreq(m) * 2 * np.pi
    resp = (1 - alpha) / (1 - alpha * np.exp(-1j * w))
    return np.fft.irfft(np.fft.rfft(x, m) * resp, m)[:n]


def _fft_len(n: int) -> int:
    return 1 << max(1, int(np.ceil(np.log2(max(n, 2)))))


def convolve(x: NDArray[np.floating], h: NDArray[np.floating]) -> Audio:
    """Linear convolution by FFT, truncated to ``len(x) + len(h) - 1``."""
    n = x.size + h.size - 1
    m = _fft_len(n)
    return np.fft.irfft(np.fft.rfft(x, m) * np.fft.rfft(h, m), m)[:n].astype(np.float32)


def random_eq(
    rng: np.random.Generator, n: int, sr: int = SAMPLE_RATE, distance: float = 0.0
) -> NDArray[np.float64]:
    """A random magnitude response over ``rfft`` bins of an ``n``-point FFT.

    High-pass 80–400 Hz (small capsules), low-pass 3.5–8 kHz (cheap codecs and electronics,
    lower with ``distance`` in 0..1 for air absorption), and ±5 dB of smooth ripple.
    """
    f = np.fft.rfftfreq(n, 1 / sr)
    hp = float(rng.uniform(80.0, 400.0))
    lp = float(rng.uniform(3500.0, sr / 2)) * (1.0 - 0.5 * distance)
    order_hp, order_lp = int(rng.integers(1, 3)), int(rng.integers(1, 4))
    with np.errstate(divide="ignore"):
        resp = 1.0 / np.sqrt(1.0 + (hp / np.maximum(f, 1.0)) ** (2 * order_hp))
    resp = resp / np.sqrt(1.0 + (f / lp) ** (2 * order_lp))
    # smooth ripple: a few random points on a log-frequency axis, interpolated
    knots = np.geomspace(50.0, sr / 2, 7)
    gains_db = rng.uniform(-5.0, 5.0, knots.size)
    ripple_db = np.interp(np.log(np.maximum(f, 50.0)), np.log(knots), gains_db)
    out: NDArray[np.float64] = resp * 10 ** (ripple_db / 20)
    return out


def apply_eq(
    x: NDArray[np.floating],
    resp_fn: NDArray[np.float64] | None = None,
    *,
    rng: np.random.Generator | None = None,
    distance: float = 0.0,
) -> Audio:
    """Filter ``x`` with a magnitude response (a random one from ``rng`` when not given)."""
    m = _fft_len(x.size + 512)
    if resp_fn is None:
        assert rng is not None
        resp_fn = random_eq(rng, m, distance=distance)
    y = np.fft.irfft(np.fft.rfft(x, m) * resp_fn, m)[: x.size]
    return y.astype(np.float32)


def change_speed(x: NDArray[np.floating], factor: float) -> Audio:
    """Play ``factor`` times faster (pitch and tempo together, like a tape), by interpolation."""
    if abs(factor - 1.0) < 1e-3 or x.size < 2:
        return x.astype(np.float32)
    n_out = max(2, round(x.size / factor))
    pos = np.linspace(0.0, x.size - 1, n_out)
    out: Audio = np.interp(pos, np.arange(x.size), x).astype(np.float32)
    return out


def aac_roundtrip(x: Audio, bitrate: int, sr: int = SAMPLE_RATE) -> Audio:
    """Encode to AAC and decode again (cameras send AAC); same length and alignment as ``x``."""
    import av

    pad = 2048
    s16 = np.clip(np.concatenate([x, np.zeros(pad, np.float32)]) * 32767.0, -32768, 32767).astype(np.int16)
    enc = av.CodecContext.create("aac", "w")
    enc.sample_rate = sr
    enc.layout = "mono"
    enc.format = "fltp"
    enc.bit_rate = int(bitrate)
    enc.time_base = Fraction(1, sr)
    dec = av.CodecContext.create("aac", "r")
    dec.sample_rate = sr
    dec.layout = "mono"
    resampler = av.AudioResampler(format="fltp", layout="mono", rate=sr)
    frame = av.AudioFrame.from_ndarray(s16.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = sr
    frame.pts = 0
    out: list[NDArray[np.float32]] = []
    packets = []
    for f in resampler.resample(frame):
        packets.extend(enc.encode(f))
    packets.extend(enc.encode(None))
    if not packets:
        return x
    extradata = enc.extradata
    if extradata is not None:
        dec.extradata = extradata
    for p in packets:
        for df in dec.decode(p):
            out.append(df.to_ndarray()[0].astype(np.float32))
    y = np.concatenate(out) if out else np.zeros(0, np.float32)
    y = y[AAC_PRIMING : AAC_PRIMING + x.size]
    if y.size < x.size:
        y = np.concatenate([y, np.zeros(x.size - y.size, np.float32)])
    return y


def camera_chain(
    x: Audio,
    rng: np.random.Generator,
    *,
    aac_probability: float = 0.5,
    clip_probability: float = 0.12,
    level_dbfs: tuple[float, float] = (-42.0, -14.0),
) -> Audio:
    """Microphone colouring, automatic/wrong gain, clipping and (sometimes) the AAC round trip.

    ``x`` is the acoustic mixture at the microphone (events already reverberated). Returns audio
    at an RMS level drawn from ``level_dbfs`` (quiet installations to loud ones), clipped hard at
    ±1 as a real ADC would.
    """
    y = apply_eq(x, rng=rng)
    level = rms(y)
    if level > 0:
        y = y * (10 ** (float(rng.uniform(*level_dbfs)) / 20) / level)
    if rng.random() < clip_probability:
        drive = 10 ** (float(rng.uniform(6.0, 20.0)) / 20)
        y = np.tanh(y * drive) / np.tanh(drive) * float(rng.uniform(0.5, 1.0))
    y = np.clip(y, -1.0, 1.0).astype(np.float32)
    if rng.random() < aac_probability:
        y = aac_roundtrip(y, int(rng.choice([24_000, 32_000, 48_000, 64_000])))
    # the 16-bit ADC / wire format
    return (np.round(y * 32767.0) / 32767.0).astype(np.float32)
