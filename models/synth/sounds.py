"""Audio primitives for the synthetic scenes (numpy only, float32 mono, amplitude ~[-1, 1]).

Every function takes an explicit ``rng`` so sounds are reproducible by seed. Shared
generators are deliberate: a gunshot and a slammed door both use :func:`bang`, so audio
alone cannot always tell them apart and the model has to look as well.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Audio = NDArray[np.float32]


def _peak_norm(x: np.ndarray) -> Audio:
    y: Audio = np.asarray(x, dtype=np.float32)
    return y / np.float32(float(np.max(np.abs(y))) + 1e-9)


def _fast_len(n: int) -> int:
    return 1 << max(int(n - 1).bit_length(), 4)


def colored_noise(rng: np.random.Generator, n: int, alpha: float) -> Audio:
    """Noise with power spectrum ~ 1/f**alpha (0 white, 1 pink, 2 brown), unit RMS."""
    m = _fast_len(n)
    spec = np.fft.rfft(rng.standard_normal(m).astype(np.float32))
    f = np.arange(spec.size, dtype=np.float32)
    f[0] = 1.0
    spec /= f ** (alpha / 2.0)
    x = np.fft.irfft(spec, m)[:n]
    return (x / (np.std(x) + 1e-9)).astype(np.float32)


def band_noise(rng: np.random.Generator, n: int, sr: int, lo: float, hi: float) -> Audio:
    """White noise band-limited to [lo, hi] Hz, unit RMS."""
    m = _fast_len(n)
    spec = np.fft.rfft(rng.standard_normal(m).astype(np.float32))
    f = np.fft.rfftfreq(m, 1.0 / sr)
    spec[(f < lo) | (f > hi)] = 0.0
    x = np.fft.irfft(spec, m)[:n]
    return (x / (np.std(x) + 1e-9)).astype(np.float32)


def smooth_envelope(rng: np.random.Generator, n: int, sr: int, rate_hz: float, floor: float = 0.0) -> Audio:
    """Random positive envelope varying at about ``rate_hz`` (syllables, swells)."""
    k = max(int(n / sr * rate_hz) + 3, 4)
    pts = rng.random(k)
    env = np.interp(np.linspace(0, k - 1, n), np.arange(k), pts)
    return (floor + (1.0 - floor) * env**2).astype(np.float32)


def harmonic_voice(
    rng: np.random.Generator,
    n: int,
    sr: int,
    f0: float,
    n_harm: int,
    rolloff: float,
    glide: float = 0.0,
    vibrato: float = 0.0,
) -> Audio:
    """A voiced harmonic tone with optional pitch glide (fraction over the sound) and vibrato."""
    t = np.arange(n, dtype=np.float64) / sr
    dur = max(n / sr, 1e-3)
    vib_rate = rng.uniform(4.5, 7.0)
    f_inst = f0 * (1.0 + glide * t / dur) * (1.0 + vibrato * np.sin(2 * np.pi * vib_rate * t))
    phase = (2 * np.pi * np.cumsum(f_inst) / sr) % (2 * np.pi * 1000)
    phase32 = phase.astype(np.float32)
    out = np.zeros(n, dtype=np.float32)
    for h in range(1, n_harm + 1):
        if f0 * h * (1 + abs(glide)) >= sr / 2 - 200:
            break
        out += np.sin(np.float32(h) * phase32 + np.float32(rng.uniform(0, 2 * np.pi))) / np.float32(
            h**rolloff
        )
    return (out / (np.std(out) + 1e-9)).astype(np.float32)


def babble(
    rng: np.random.Generator,
    n: int,
    sr: int,
    voices: int,
    f0_lo: float = 90,
    f0_hi: float = 260,
    harsh: float = 1.4,
    syll_hz: float = 4.0,
) -> Audio:
    """Several talkers: harmonic voices gated by syllable-rate envelopes (speech-like babble)."""
    out = np.zeros(n, dtype=np.float32)
    for _ in range(voices):
        v = harmonic_voice(
            rng, n, sr, rng.uniform(f0_lo, f0_hi), 7, harsh, glide=rng.uniform(-0.2, 0.2), vibrato=0.02
        )
        out += v * smooth_envelope(rng, n, sr, syll_hz * rng.uniform(0.7, 1.3))
    mixed: Audio = (out / np.float32(np.sqrt(max(voices, 1)))).astype(np.float32)
    return mixed


def music(rng: np.random.Generator, n: int, sr: int, singer: bool) -> Audio:
    """Chords on a beat with kick drums, optionally a sung melody (high steady notes)."""
    t = np.arange(n) / sr
    bpm = rng.uniform(80, 140)
    beat = 60.0 / bpm
    root = rng.uniform(110, 220)
    out = np.zeros(n, dtype=np.float64)
    for ratio in (1.0, 1.25, 1.5, 2.0):
        out += 0.3 * np.sin(2 * np.pi * root * ratio * t + rng.uniform(0, 6.3))
    out *= 0.6 + 0.4 * np.cos(2 * np.pi * t / beat) ** 2
    kick_t = np.arange(rng.uniform(0, beat), n / sr, beat)
    for k in kick_t:
        i = int(k * sr)
        m = min(int(0.15 * sr), n - i)
        tt = np.arange(m) / sr
        out[i : i + m] += 1.2 * np.sin(2 * np.pi * (50 + 80 * np.exp(-tt * 30)) * tt) * np.exp(-tt * 18)
    if singer:
        note_t = 0.0
        while note_t < n / sr:
            d = rng.uniform(0.2, 0.6)
            i0, i1 = int(note_t * sr), min(int((note_t + d) * sr), n)
            if i1 > i0 and rng.random() < 0.8:
                v = harmonic_voice(rng, i1 - i0, sr, rng.uniform(300, 950), 6, 1.2, vibrato=0.03)
                env = np.sin(np.linspace(0, np.pi, i1 - i0)) ** 0.5
                out[i0:i1] += 0.8 * v * env
            note_t += d
    return (out / (np.std(out) + 1e-9)).astype(np.float32)


def bang(rng: np.random.Generator, sr: int) -> Audio:
    """An impulsive bang (shared by gunshots and slammed doors): crack, body and room tail."""
    dur = rng.uniform(0.35, 0.7)
    n = int(dur * sr)
    t = np.arange(n) / sr
    crack = rng.standard_normal(n) * np.exp(-t / rng.uniform(0.008, 0.04))
    body_f = rng.uniform(70, 260)
    body = np.sin(2 * np.pi * body_f * t) * np.exp(-t / rng.uniform(0.03, 0.1)) * rng.uniform(0.5, 1.5)
    tail = band_noise(rng, n, sr, 80, rng.uniform(1500, 5000)) * np.exp(-t / rng.uniform(0.08, 0.3)) * 0.25
    x = crack + body + tail
    x[: int(0.0008 * sr)] *= np.linspace(0, 1, int(0.0008 * sr))
    return _peak_norm(x)


def boom(rng: np.random.Generator, sr: int) -> Audio:
    """An explosion: a crack then a long, loud low-frequency rumble."""
    dur = rng.uniform(1.2, 2.2)
    n = int(dur * sr)
    t = np.arange(n) / sr
    rumble = band_noise(rng, n, sr, 15, rng.uniform(120, 260)) * np.exp(-t / rng.uniform(0.35, 0.9))
    rumble *= np.clip(t / 0.02, 0, 1)
    crack = bang(rng, sr)
    out = 1.0 * rumble / (np.max(np.abs(rumble)) + 1e-9)
    out[: crack.size] += 0.6 * crack[:n]
    return _peak_norm(out)


def tinkles(
    rng: np.random.Generator, sr: int, count: int, f_lo: float, f_hi: float, spread_s: float
) -> Audio:
    """Short decaying high pings (glass fragments, clattering dishes)."""
    n = int((spread_s + 0.1) * sr)
    out = np.zeros(n, dtype=np.float64)
    for _ in range(count):
        i = int(rng.exponential(spread_s / 3) * sr) % max(n - int(0.05 * sr), 1)
        m = int(rng.uniform(0.01, 0.05) * sr)
        tt = np.arange(m) / sr
        f = rng.uniform(f_lo, f_hi)
        out[i : i + m] += (
            rng.uniform(0.2, 1.0) * np.sin(2 * np.pi * f * tt) * np.exp(-tt / rng.uniform(0.004, 0.02))
        )
    return _peak_norm(out)


def shatter(rng: np.random.Generator, sr: int) -> Audio:
    """Breaking glass: a sharp high crack followed by many bright tinkles."""
    spread = rng.uniform(0.4, 1.0)
    pings = tinkles(rng, sr, int(rng.integers(25, 60)), 2500, 7000, spread)
    n = pings.size
    t = np.arange(n) / sr
    crack = band_noise(rng, n, sr, 2000, 7500) * np.exp(-t / rng.uniform(0.01, 0.04))
    x = 0.8 * crack / (np.max(np.abs(crack)) + 1e-9) + pings
    return _peak_norm(x)


def scream(rng: np.random.Generator, sr: int) -> Audio:
    """A scream: long, loud, high voice with a pitch glide, vibrato and breathy roughness."""
    dur = rng.uniform(0.6, 1.5)
    n = int(dur * sr)
    v = harmonic_voice(
        rng,
        n,
        sr,
        rng.uniform(550, 1100),
        8,
        rng.uniform(0.7, 1.1),
        glide=rng.uniform(-0.35, 0.25),
        vibrato=rng.uniform(0.01, 0.04),
    )
    rough = band_noise(rng, n, sr, 1500, 6000) * rng.uniform(0.2, 0.5)
    env = np.minimum(np.linspace(0, dur / 0.06, n), 1.0) * np.minimum(np.linspace(dur / 0.15, 0, n), 1.0)
    x: Audio = ((v + rough) * env).astype(np.float32)
    return x / np.float32(np.max(np.abs(x)) + 1e-9)


def shouting(rng: np.random.Generator, n: int, sr: int) -> Audio:
    """An argument/fight: a few loud, harsh, high talkers plus body thuds."""
    out = babble(rng, n, sr, int(rng.integers(2, 4)), 170, 380, harsh=0.9, syll_hz=5.5)
    for _ in range(int(rng.integers(2, 7))):
        i = int(rng.integers(0, max(n - int(0.1 * sr), 1)))
        m = int(0.09 * sr)
        tt = np.arange(m) / sr
        thud = np.sin(2 * np.pi * rng.uniform(55, 120) * tt) * np.exp(-tt / 0.025)
        out[i : i + m] += rng.uniform(1.0, 2.5) * thud[: n - i].astype(np.float32)
    return out


def add_at(out: Audio, sound: Audio, start: int, gain: float) -> None:
    """Mix ``sound`` into ``out`` at sample ``start`` (clipped to the buffer)."""
    if start >= out.size or start + sound.size <= 0:
        return
    s0 = max(start, 0)
    e = min(start + sound.size, out.size)
    out[s0:e] += gain * sound[s0 - start : e - start]


def _tone(freq_hz: np.ndarray, sr: int, harmonics: int, rolloff: float, phase0: float) -> Audio:
    """A harmonic tone following the per-sample frequency track ``freq_hz`` (Hz), unit peak.
    Harmonics above Nyquist are left out, so fast sweeps do not alias."""
    phase = phase0 + 2 * np.pi * np.cumsum(freq_hz) / sr
    out = np.zeros(freq_hz.size, np.float64)
    for k in range(1, harmonics + 1):
        audible = (k * freq_hz < 0.45 * sr).astype(np.float64)
        out += audible * np.sin(k * phase) / k**rolloff
    return _peak_norm(out)


def siren(rng: np.random.Generator, sr: int) -> Audio:
    """An emergency-vehicle siren passing by: a wail (slow sweep), a yelp (fast sweep) or a
    two-tone hi-lo, with a slight Doppler drop and a swell as the vehicle nears and leaves.
    Everyday sound, never an incident: a tonal glide the model must not take for a scream."""
    dur = rng.uniform(2.5, 8.0)
    n = int(dur * sr)
    t = np.arange(n) / sr
    kind = int(rng.integers(3))
    lo = rng.uniform(450, 800)
    hi = lo * rng.uniform(1.35, 2.2)
    if kind == 0:  # wail
        period = rng.uniform(2.5, 6.0)
        track = lo + (hi - lo) * (0.5 - 0.5 * np.cos(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi)))
    elif kind == 1:  # yelp
        period = rng.uniform(0.18, 0.45)
        track = lo + (hi - lo) * ((t / period + rng.uniform(0, 1)) % 1.0)
    else:  # hi-lo, e.g. the European two-tone
        period = rng.uniform(0.8, 1.6)
        track = np.where(((t / period + rng.uniform(0, 1)) % 1.0) < 0.5, lo, lo * rng.uniform(1.2, 1.4))
        glide = int(0.03 * sr)  # real two-tone sirens glide between their notes in a few tens of ms
        track = np.convolve(np.pad(track, glide, mode="edge"), np.ones(glide) / glide, mode="same")[
            glide:-glide
        ]
    doppler = 1.0 + rng.uniform(0.01, 0.05) * (0.5 - 1.0 / (1.0 + np.exp(-(t - dur / 2) / 0.6)))
    tone = _tone(track * doppler, sr, int(rng.integers(3, 9)), rng.uniform(0.8, 1.6), rng.uniform(0, 6.3))
    swell = np.exp(-(((t - rng.uniform(0.3, 0.7) * dur) / (dur * rng.uniform(0.3, 0.8))) ** 2))
    return _peak_norm(tone * (0.2 + 0.8 * swell))


def horn(rng: np.random.Generator, sr: int) -> Audio:
    """A car or truck horn: one to three honks of two detuned, buzzy tones."""
    f0 = rng.uniform(280, 520) if rng.random() < 0.8 else rng.uniform(120, 250)  # car / truck
    honks = int(rng.integers(1, 4))
    lengths = rng.uniform(0.12, 1.2, honks)
    gaps = rng.uniform(0.08, 0.35, honks)
    n = int((lengths.sum() + gaps.sum() + 0.1) * sr)
    out = np.zeros(n, np.float64)
    pos = 0
    for length, gap in zip(lengths, gaps, strict=True):
        m = int(length * sr)
        track = np.full(m, f0)
        pair = _tone(track, sr, 12, 0.7, 0.0) + 0.8 * _tone(track * rng.uniform(1.18, 1.3), sr, 12, 0.7, 1.0)
        edge = max(int(0.01 * sr), 1)
        env = np.minimum(np.minimum(np.arange(m) / edge, (m - np.arange(m)) / edge), 1.0)
        out[pos : pos + m] += pair * env
        pos += m + int(gap * sr)
    return _peak_norm(out)


def alarm(rng: np.random.Generator, sr: int) -> Audio:
    """A beeping alarm (reversing truck, smoke detector, car alarm): a high tone switched on and
    off, or a car alarm's stepped warble."""
    dur = rng.uniform(1.5, 6.0)
    n = int(dur * sr)
    t = np.arange(n) / sr
    if rng.random() < 0.6:
        f = rng.uniform(900, 3500)
        track = np.full(n, f)
        on = ((t / rng.uniform(0.2, 1.0)) % 1.0) < rng.uniform(0.3, 0.6)
    else:
        step = rng.uniform(0.08, 0.3)
        track = np.where(((t / step) % 2.0) < 1.0, rng.uniform(700, 1200), rng.uniform(1300, 2200))
        on = np.ones(n, bool)
    gate = np.convolve(on.astype(np.float64), np.ones(int(0.004 * sr)) / int(0.004 * sr), mode="same")
    return _peak_norm(_tone(track, sr, int(rng.integers(1, 6)), 1.0, 0.0) * gate)
