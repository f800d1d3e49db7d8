"""Pure parts of the corpus builder on synthetic data: DMX/WAD parsing, silence trimming, PCM
round trip, DEP-5 licences, labelling rules, manifest determinism."""

from __future__ import annotations

import io
import struct
import wave

import numpy as np
import pytest

from models.corpus import audio
from models.corpus.dmx import WadError, dmx_samples, dmx_to_wav, is_dmx, wad_lumps
from models.corpus.fetch import safe_name
from models.corpus.licences import acceptable, licence_for, parse_copyright
from models.corpus.manifest import CorpusEntry, load_manifest, write_manifest
from models.corpus.sources import PackageSource, Rule


def _dmx(rate: int, samples: bytes) -> bytes:
    body = bytes([128]) * 16 + samples + bytes([128]) * 16
    return struct.pack("<HHI", 3, rate, len(body)) + body


def _wad(lumps: list[tuple[str, bytes]]) -> bytes:
    data = b""
    directory = b""
    offset = 12
    for name, payload in lumps:
        directory += struct.pack("<ii8s", offset + len(data), len(payload), name.encode())
        data += payload
    return b"IWAD" + struct.pack("<ii", len(lumps), 12 + len(data)) + data + directory


def test_wad_directory_and_dmx_lump():
    samples = bytes([128, 255, 0, 128] * 25)
    wad = _wad([("DSPISTOL", _dmx(11025, samples)), ("MAP01", b"\x00" * 10)])
    lumps = wad_lumps(wad)
    assert [n for n, _ in lumps] == ["DSPISTOL", "MAP01"]
    assert is_dmx(lumps[0][1]) and not is_dmx(lumps[1][1])
    rate, x = dmx_samples(lumps[0][1])
    assert rate == 11025 and x.size == 100  # pad bytes removed
    assert x[1] == pytest.approx(127 / 128) and x[2] == -1.0 and x[0] == 0.0
    with wave.open(io.BytesIO(dmx_to_wav(lumps[0][1]))) as w:
        assert (w.getframerate(), w.getnframes(), w.getsampwidth()) == (11025, 100, 1)


@pytest.mark.parametrize(
    "blob",
    [b"PWAD", b"XWAD" + b"\x00" * 20, b"IWAD" + struct.pack("<ii", 5, 1000)],
)
def test_bad_wads_are_refused(blob):
    with pytest.raises(WadError):
        wad_lumps(blob)


def test_dmx_wrong_format_is_refused():
    with pytest.raises(WadError, match="format"):
        dmx_samples(struct.pack("<HHI", 1, 11025, 4) + b"\x80" * 4)


def test_trim_silence_keeps_margin_and_drops_quiet_edges():
    rate = 16000
    x = np.zeros(rate, np.float32)
    x[4000:4800] = 0.5
    x[100] = 0.001  # -54 dB below the peak: silence
    y = audio.trim_silence(x, rate, floor_db=-45.0, margin_s=0.05)
    assert y.size == 800 + 2 * 800
    assert audio.trim_silence(np.zeros(50, np.float32)).size == 0
    assert audio.cap(np.ones(rate * 10, np.float32), 6.0, rate).size == 6 * rate


def test_pcm16_wav_round_trip(tmp_path):
    x = np.linspace(-1.0, 1.0, 1601, dtype=np.float32)
    pcm = audio.to_pcm16(x)
    audio.write_wav(tmp_path / "a.wav", pcm)
    rate, y = audio.read_wav(tmp_path / "a.wav")
    assert rate == 16000 and y.size == x.size
    assert np.max(np.abs(y - x)) < 1e-4
    assert audio.pcm_sha256(pcm) == audio.pcm_sha256(audio.to_pcm16(y))


def test_decode_resamples_to_16k_mono():
    buf = io.BytesIO()
    t = np.arange(44100) / 44100
    stereo = (np.stack([np.sin(2 * np.pi * 440 * t)] * 2, axis=1) * 16000).astype("<i2")
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(stereo.tobytes())
    y = audio.decode(buf.getvalue(), ".wav")
    assert y.dtype == np.float32 and abs(y.size - 16000) <= 64


DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: demo

Files: *
Copyright: 2001 Someone <a@b.c>
License: GPL-2+

Files: data/sounds/*
Copyright: Other
 OpenArena
License: CC-BY-SA-3.0

Files: data/sounds/nc/*
Copyright: X
License: CC-BY-NC-3.0

Files: data/sounds/heavy rocket hit.wav
Copyright: Mike Koenig
License: CC-BY-SA-3.0+
"""


def test_dep5_last_matching_stanza_wins_on_installed_paths():
    info = parse_copyright(DEP5)
    assert info.machine_readable and info.holder == "2001 Someone"
    assert licence_for(info, "usr/share/games/demo/data/sounds/boom.ogg") == "CC-BY-SA-3.0"
    assert licence_for(info, "usr/share/games/demo/music/a.ogg") == "GPL-2+"
    assert licence_for(info, "data/sounds/nc/x.wav") == "CC-BY-NC-3.0"
    assert licence_for(info, "usr/share/demo/data/sounds/heavy rocket hit.wav") == "CC-BY-SA-3.0+"
    assert licence_for(parse_copyright("free text, GPL"), "a.wav") is None


@pytest.mark.parametrize(
    ("licence", "ok"),
    [
        ("GPL-2+", True),
        ("CC-BY-SA-3.0", True),
        ("CC0-1.0", True),
        ("public-domain", True),
        ("CC-BY-NC-3.0", False),
        ("CC-BY-NC-SA-4.0", False),
        ("CC-BY-ND-4.0", False),
        ("", False),
        (None, False),
        ("proprietary", False),
    ],
)
def test_acceptable_licences(licence, ok):
    assert acceptable(licence) is ok


def test_rules_first_match_wins_and_skips_come_first():
    src = PackageSource(
        "demo-data",
        (Rule(r"/glass_break\.wav$", "glass_break"), Rule(r"\.wav$", "impact")),
        skip=(r"/0ad/",),
    )
    assert src.classify("usr/share/demo/GLASS_BREAK.wav") == "glass_break"
    assert src.classify("usr/share/demo/thud.wav") == "impact"
    assert src.classify("usr/share/demo/0ad/thud.wav") is None
    assert src.classify("usr/share/demo/readme.txt") is None
    with pytest.raises(ValueError, match="vocabulary"):
        Rule("x", "laser")


def test_manifest_write_is_sorted_and_byte_identical(tmp_path):
    a = CorpusEntry("b-pkg", "1", "z.wav", "dog", "negative", "GPL-2+", 1.23456, "00", "audio/b-pkg/z.wav")
    b = CorpusEntry("a-pkg", "2", "y.wav", "rain", "bed", "CC0", 2.0, "11", "audio/a-pkg/y.wav")
    write_manifest([a, b], tmp_path / "m1.tsv")
    write_manifest([b, a], tmp_path / "m2.tsv")
    assert (tmp_path / "m1.tsv").read_bytes() == (tmp_path / "m2.tsv").read_bytes()
    rows = load_manifest(tmp_path / "m1.tsv")
    assert [r.package for r in rows] == ["a-pkg", "b-pkg"] and rows[1].duration_s == 1.235


def test_safe_name_is_flat():
    assert safe_name("usr/share/games/doom/freedoom2.wad#DSPISTOL") == "doom__freedoom2.wad_DSPISTOL.wav"
    assert safe_name("usr/share/x/a b.ogg") == "x__a_b.ogg.wav"
    assert safe_name("usr/share/games/7kaa/SOUND/RAIN.WAV") == "7kaa__SOUND__RAIN.WAV.wav"


def _sf2(samples: list[tuple[str, int, np.ndarray]]) -> bytes:
    pcm = b""
    headers = b""
    for name, rate, x in samples:
        start = len(pcm) // 2
        pcm += x.astype("<i2").tobytes()
        end = len(pcm) // 2
        headers += struct.pack("<20sIIIIIBbHH", name.encode(), start, end, start, end, rate, 60, 0, 0, 1)
    headers += struct.pack("<20sIIIIIBbHH", b"EOS", 0, 0, 0, 0, 0, 0, 0, 0, 0)

    def chunk(cid: bytes, body: bytes) -> bytes:
        return cid + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")

    sdta = chunk(b"LIST", b"sdta" + chunk(b"smpl", pcm))
    pdta = chunk(b"LIST", b"pdta" + chunk(b"shdr", headers))
    body = b"sfbk" + sdta + pdta
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_soundfont_samples_by_name():
    from models.corpus.soundfont import SoundFontError, pcm16_to_wav, sf2_samples

    a = np.arange(100, dtype=np.int16)
    b = -np.arange(50, dtype=np.int16)
    got = sf2_samples(_sf2([("Scream", 22050, a), ("Gun", 44100, b)]))
    assert [(n, r, len(p)) for n, r, p in got] == [("Scream", 22050, 200), ("Gun", 44100, 100)]
    assert np.array_equal(np.frombuffer(got[1][2], "<i2"), b)
    with wave.open(io.BytesIO(pcm16_to_wav(got[0][2], 22050))) as w:
        assert w.getnframes() == 100
    with pytest.raises(SoundFontError):
        sf2_samples(b"RIFF\0\0\0\0WAVE")


def _cat(entries: list[tuple[bytes, bytes]]) -> bytes:
    """An OpenTTD sound catalogue: (offset | flag, size) table, then length-prefixed names + WAVs."""
    table_len = 8 * len(entries)
    table, body = b"", b""
    for name, wav in entries:
        table += struct.pack("<II", (table_len + len(body)) | 0x8000_0000, len(wav))
        body += bytes([len(name)]) + name + wav
    return table + body


def test_openttd_catalogue_titles_and_wavs():
    from models.corpus.archive import CatalogueError, cat_sounds
    from models.corpus.fetch import expand_members
    from models.corpus.soundfont import pcm16_to_wav

    wav = pcm16_to_wav(np.arange(40, dtype=np.int16).tobytes(), 11025)
    cat = _cat(
        [
            (b'"Ship horn". Original "ship2.aif" by Leon Milo. License: CC BY 3.0.\0', wav),
            (b'"Diesel/electric train". By Janis Lukss.\0', wav),
            (b"Beep. By nobody\0", wav),
        ]
    )
    got = list(cat_sounds(cat))
    assert [t for t, _ in got] == ["00 Ship horn", "01 Diesel-electric train", "02 Beep"]
    assert all(w == wav for _, w in got)
    members = list(expand_members([("usr/share/games/openttd/baseset/opensfx/opensfx.cat", cat)]))
    assert members[0][:2] == ("usr/share/games/openttd/baseset/opensfx/opensfx.cat#00 Ship horn", ".wav")
    with pytest.raises(CatalogueError, match="no WAV"):
        list(cat_sounds(_cat([(b'"x"\0', b"OggS" + b"\0" * 40)])))
    with pytest.raises(CatalogueError, match="past the end"):
        list(cat_sounds(_cat([(b'"x"\0', wav)])[:-1]))
    with pytest.raises(CatalogueError, match="table length"):
        list(cat_sounds(struct.pack("<II", 5, 1) + b"\0" * 8))
