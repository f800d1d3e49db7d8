"""The Vigil audio-visual fusion network (PyTorch; training and export only).

Inputs follow the model contract (:mod:`models.contract`): ``frames`` uint8 [B,T,H,W,3]
(normalised inside the graph), ``audio`` float32 [B,S], ``modality_mask`` float32 [B,2]
(audio, video). Outputs: ``anomaly`` [B], ``class_probs`` [B,C] (multi-label sigmoid),
``contribution`` [B,2] (audio and video shares of the anomaly score, summing to 1: a two-player
Shapley attribution computed in the graph by re-running the fusion with each modality masked).

Audio: log-mel computed by a 1-D convolution with fixed DFT weights and a mel matrix (exports
to ONNX, unlike torch.stft), then a small 2-D CNN. Video: per frame, the picture and its
difference to the previous frame through a small CNN, then a temporal convolution. Fusion:
multi-head cross-attention in both directions, a learned gate (masked by modality presence),
and the heads. A missing modality is replaced by a learned "missing" token sequence.
"""

from __future__ import annotations

import copy
import math
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.backbone import EfficientNetLite0Trunk
from models.contract import CLASSES, FPS, FRAME_HEIGHT, SAMPLE_RATE, WINDOW_S

LOG_EPS = 1e-6
#: size of the pretrained teacher embedding the audio branch learns to predict (aiSFX: 512)
DISTILL_DIM = 512


def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Triangular HTK-style mel filters, shape [n_mels, n_fft // 2 + 1]."""

    def hz2mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel2hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    pts = mel2hz(np.linspace(hz2mel(np.array(fmin)), hz2mel(np.array(fmax)), n_mels + 2))
    fb = np.zeros((n_mels, freqs.size))
    for i in range(n_mels):
        lo, c, hi = pts[i], pts[i + 1], pts[i + 2]
        fb[i] = np.clip(np.minimum((freqs - lo) / (c - lo), (hi - freqs) / (hi - c)), 0, None)
    return fb.astype(np.float32)


class LogMel(nn.Module):
    """Log-mel spectrogram as conv1d with fixed (Hann-windowed) DFT weights and a mel matrix."""

    dft: Tensor
    mel: Tensor

    def __init__(self, sr: int = SAMPLE_RATE, n_fft: int = 512, hop: int = 320, n_mels: int = 64) -> None:
        super().__init__()
        n = np.arange(n_fft)
        k = np.arange(n_fft // 2 + 1)
        win = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)
        ang = 2 * np.pi * np.outer(k, n) / n_fft
        w = np.concatenate([np.cos(ang) * win, -np.sin(ang) * win])[:, None, :].astype(np.float32)
        self.register_buffer("dft", torch.from_numpy(w))
        self.register_buffer("mel", torch.from_numpy(mel_filterbank(sr, n_fft, n_mels, 50.0, sr / 2)))
        self.hop = hop
        self.n_bins = n_fft // 2 + 1

    def forward(self, audio: Tensor) -> Tensor:
        """audio [B,S] -> log-mel [B, n_mels, frames]."""
        spec = F.conv1d(audio.unsqueeze(1), self.dft, stride=self.hop)
        re, im = spec[:, : self.n_bins], spec[:, self.n_bins :]
        power = re * re + im * im
        return torch.log(torch.matmul(self.mel, power) + LOG_EPS)


def _conv2d(cin: int, cout: int, stride: int | tuple[int, int]) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


#: the last EfficientNet-Lite0 block the optional picture encoder keeps (stride 16, 112 channels)
PICTURE_LAST_BLOCK = 10


def frame_features(trunk: EfficientNetLite0Trunk, video: Tensor) -> Tensor:
    """The trunk's map of each pooled frame [B,T,3,h,w], pooled over space (mean, max): [B,T,2C]."""
    h = trunk(video.flatten(0, 1))
    pooled = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
    return pooled.reshape(video.shape[0], video.shape[1], -1)


class PictureEncoder(nn.Module):
    """Frozen ImageNet features per frame, as tokens added to the video branch's (optional).

    Each pooled frame goes through the EfficientNet-Lite0 trunk (:mod:`models.backbone`); its map
    is pooled (mean and max over space), and the change from the previous frame is appended, so
    the tokens carry what is in the picture and what changed. The projection starts at zero: a
    network that gains the encoder computes exactly what it did without it until training moves it.
    """

    def __init__(self, d: int) -> None:
        super().__init__()
        self.trunk = EfficientNetLite0Trunk(PICTURE_LAST_BLOCK)
        self.features = 2 * self.trunk.out_channels
        self.proj = nn.Linear(2 * self.features, d)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def frame_features(self, video: Tensor) -> Tensor:
        """pooled frames [B,T,3,h,w] in [0,1] -> per-frame features [B,T,2C] (no learned weights)."""
        return frame_features(self.trunk, video)

    def forward(self, feats: Tensor) -> Tensor:
        """per-frame features [B,T,2C] -> tokens [B,T,D]."""
        diff = torch.cat([torch.zeros_like(feats[:, :1]), feats[:, 1:] - feats[:, :-1]], dim=1)
        tokens: Tensor = self.proj(torch.cat([feats, diff], dim=2))
        return tokens


#: channels of the audio CNN's layers (the first halves the mel axis only, the next two halve both
#: axes, the rest keep the resolution)
AUDIO_WIDTHS: tuple[int, ...] = (32, 64, 96, 128)


class AudioBranch(nn.Module):
    """log-mel [B,M,F] -> tokens [B,Ta,D].

    With ``relative``, the CNN also sees each mel band relative to its mean over the window (a
    second input channel): what stands out of the window's steady background and microphone
    colour, whatever those are.
    """

    def __init__(
        self, n_mels: int, d: int, widths: tuple[int, ...] = AUDIO_WIDTHS, relative: bool = False
    ) -> None:
        super().__init__()
        self.relative = relative
        channels = 2 if relative else 1
        self.norm = nn.BatchNorm2d(channels)
        strides: list[int | tuple[int, int]] = [(2, 1), 2, 2, *([1] * (len(widths) - 3))]
        layers, cin = [], channels
        for cout, stride in zip(widths, strides, strict=True):
            layers.append(_conv2d(cin, cout, stride))
            cin = cout
        self.cnn = nn.Sequential(*layers)
        self.proj = nn.Conv1d(widths[-1] * math.ceil(n_mels / 8), d, 1)

    def forward(self, mel: Tensor) -> Tensor:
        x = mel.unsqueeze(1)
        if self.relative:
            x = torch.cat([x, x - x.mean(dim=3, keepdim=True)], dim=1)
        x = self.cnn(self.norm(x))
        b, c, m, t = x.shape
        tokens: Tensor = self.proj(x.reshape(b, c * m, t)).transpose(1, 2)
        return tokens


class VideoBranch(nn.Module):
    """pooled frames [B,T,3,h,w] in [0,1] -> tokens [B,T,D] (sees frame differences)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.cnn = nn.Sequential(
            _conv2d(6, 12, 2), _conv2d(12, 24, 2), _conv2d(24, 48, 2), _conv2d(48, 64, 1)
        )
        self.proj = nn.Linear(128, d)
        self.temporal = nn.Conv1d(d, d, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        b, t = x.shape[0], x.shape[1]
        x = (x - 0.45) / 0.25
        diff = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1)
        h = self.cnn(torch.cat([x, 2.0 * diff], dim=2).flatten(0, 1))
        h = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
        tok: Tensor = self.proj(h).reshape(b, t, -1)
        return tok + F.relu(self.temporal(tok.transpose(1, 2))).transpose(1, 2)


class CrossBlock(nn.Module):
    """Queries of one modality attend to the other's tokens; residual, LayerNorm, FFN."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln1 = nn.LayerNorm(d)
        self.ffn = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.ln2 = nn.LayerNorm(d)

    def forward(self, q: Tensor, kv: Tensor) -> Tensor:
        h = self.ln1(q + self.attn(q, kv, kv, need_weights=False)[0])
        out: Tensor = self.ln2(h + self.ffn(h))
        return out


class FusionNet(nn.Module):
    """Audio-visual cross-attention fusion with a learned, presence-masked gate."""

    def __init__(
        self,
        n_classes: int = len(CLASSES),
        d: int = 64,
        heads: int = 4,
        n_mels: int = 64,
        frames: int = int(WINDOW_S * FPS),
        samples: int = int(WINDOW_S * SAMPLE_RATE),
        frame_size: int = FRAME_HEIGHT,
        picture_encoder: bool = False,
        relative_mel: bool = False,
        everyday_kinds: int = 0,
    ) -> None:
        super().__init__()
        self.logmel = LogMel(n_mels=n_mels)
        self.audio = AudioBranch(n_mels, d, relative=relative_mel)
        self.video = VideoBranch(d)
        # optional frozen ImageNet picture features (models.backbone); None: the video CNN alone
        self.picture = PictureEncoder(d) if picture_encoder else None
        n_audio_tok = math.ceil(((samples - 512) // 320 + 1) / 4)
        self.pos_a = nn.Parameter(torch.zeros(1, n_audio_tok, d))
        self.pos_v = nn.Parameter(torch.zeros(1, frames, d))
        self.missing_a = nn.Parameter(torch.zeros(1, n_audio_tok, d))
        self.missing_v = nn.Parameter(torch.zeros(1, frames, d))
        self.a2v = CrossBlock(d, heads)
        self.v2a = CrossBlock(d, heads)
        self.pool_a = nn.Linear(2 * d, d)
        self.pool_v = nn.Linear(2 * d, d)
        self.gate = nn.Linear(2 * d, 2)
        self.head = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, 1 + n_classes))
        self.aux_a = nn.Linear(2 * d, 1 + n_classes)
        self.aux_v = nn.Linear(2 * d, 1 + n_classes)
        # training only: predicts a pretrained sound embedding from the audio tokens (distillation,
        # models/teacher.py); not part of the exported outputs
        self.distill = nn.Linear(2 * d, DISTILL_DIM)
        # training only, optional: which everyday sounds (door, siren, speech...) an ordinary
        # window holds, predicted from the audio tokens (`vigil train --everyday-weight`)
        self.everyday = nn.Linear(2 * d, everyday_kinds) if everyday_kinds else None
        nn.init.normal_(self.pos_a, std=0.02)
        nn.init.normal_(self.pos_v, std=0.02)
        nn.init.normal_(self.missing_a, std=0.02)
        nn.init.normal_(self.missing_v, std=0.02)

    @staticmethod
    def pool_frames(frames: Tensor) -> Tensor:
        """uint8 [B,T,H,W,3] -> float [B,T,3,H/2,W/2] in [0,1] (2x2 average)."""
        b, t, h, w, _ = frames.shape
        x = frames.to(torch.float32).permute(0, 1, 4, 2, 3).reshape(b * t, 3, h, w) / 255.0
        x = F.avg_pool2d(x, 2)
        return x.reshape(b, t, 3, h // 2, w // 2)

    def forward(self, frames: Tensor, audio: Tensor, modality_mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Contract forward: (anomaly [B], class_probs [B,C], contribution [B,2])."""
        ma = modality_mask[:, 0:1]
        mel = self.logmel(audio * ma)
        video = self.pool_frames(frames)
        out = self.forward_features(video, mel, modality_mask)
        return out[0], out[1], out[2]

    @classmethod
    def for_state(cls, state: dict[str, Tensor]) -> FusionNet:
        """A network of the kind whose ``state_dict`` this is (picture encoder, relative mel)."""
        return cls(
            picture_encoder=any(k.startswith("picture.") for k in state),
            relative_mel=int(state["audio.norm.weight"].shape[0]) == 2,
            everyday_kinds=int(state["everyday.weight"].shape[0]) if "everyday.weight" in state else 0,
        )

    def forward_features(
        self,
        video: Tensor,
        mel: Tensor,
        modality_mask: Tensor,
        explain: bool = True,
        pictures: Tensor | None = None,
    ) -> tuple[Tensor, ...]:
        """From pooled frames and log-mel: (anomaly, class_probs, contribution, logits, aux_a, aux_v).

        ``explain`` re-runs the (cheap) fusion part with each modality masked to compute the
        contribution; training passes False and gets the gate weights there instead, and a
        seventh output: the audio branch's prediction of the teacher embedding (and an eighth,
        the everyday-sound logits, where the network has that head). ``pictures``:
        the picture encoder's per-frame features of ``video`` if already computed (training
        caches them, since the encoder is frozen); ignored by a network without the encoder.
        """
        ma = modality_mask[:, 0:1]
        mv = modality_mask[:, 1:2]
        mel = mel * ma.unsqueeze(2) + math.log(LOG_EPS) * (1 - ma).unsqueeze(2)
        video = video * mv.reshape(-1, 1, 1, 1, 1)
        a_raw = self.audio(mel) + self.pos_a
        v_raw = self.video(video) + self.pos_v
        if self.picture is not None:
            feats = self.picture.frame_features(video) if pictures is None else pictures
            v_raw = v_raw + self.picture(feats)
        a, v = self._present(a_raw, v_raw, modality_mask)
        a_pool_uni = torch.cat([a.mean(1), a.amax(1)], dim=1)
        v_pool_uni = torch.cat([v.mean(1), v.amax(1)], dim=1)
        aux_a, aux_v = self.aux_a(a_pool_uni), self.aux_v(v_pool_uni)
        if not explain:
            logits, gate = self._fuse(a, v, modality_mask)
            distill = self.distill(a_pool_uni)
            everyday = () if self.everyday is None else (self.everyday(a_pool_uni),)
            return (
                torch.sigmoid(logits[:, 0]),
                torch.sigmoid(logits[:, 1:]),
                gate,
                logits,
                aux_a,
                aux_v,
                distill,
                *everyday,
            )
        b = modality_mask.shape[0]
        only_a = modality_mask * torch.tensor([[1.0, 0.0]], dtype=modality_mask.dtype)
        only_v = modality_mask * torch.tensor([[0.0, 1.0]], dtype=modality_mask.dtype)
        masks = torch.cat([modality_mask, only_a, only_v], dim=0)
        a3, v3 = self._present(a_raw.repeat(3, 1, 1), v_raw.repeat(3, 1, 1), masks)
        logits_all, _ = self._fuse(a3, v3, masks)
        logits = logits_all[:b]
        p_all = torch.sigmoid(logits_all[:, 0])
        p_both, p_a, p_v = p_all[:b], p_all[b : 2 * b], p_all[2 * b :]
        # two-player Shapley value of the anomaly probability (baseline: no evidence = 0)
        phi_a = torch.clamp(0.5 * (p_a + p_both - p_v), min=0.0).unsqueeze(1) * ma
        phi_v = torch.clamp(0.5 * (p_v + p_both - p_a), min=0.0).unsqueeze(1) * mv
        # a missing modality gets exactly 0; with neither present, both get 0.5
        nothing = 1.0 - torch.clamp(ma + mv, max=1.0)
        phi = torch.cat([phi_a, phi_v], dim=1) + 1e-3 * modality_mask + nothing
        contribution = phi / phi.sum(dim=1, keepdim=True)
        return torch.sigmoid(logits[:, 0]), torch.sigmoid(logits[:, 1:]), contribution, logits, aux_a, aux_v

    def _present(self, a: Tensor, v: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Replace the tokens of absent modalities by the learned 'missing' sequences."""
        ma3, mv3 = mask[:, 0:1].unsqueeze(2), mask[:, 1:2].unsqueeze(2)
        return a * ma3 + self.missing_a * (1 - ma3), v * mv3 + self.missing_v * (1 - mv3)

    def _fuse(self, a: Tensor, v: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Cross-attention both ways, presence-masked gate, heads: (logits [B,1+C], gate [B,2])."""
        a2 = self.a2v(a, v)
        v2 = self.v2a(v, a)
        av = self.pool_a(torch.cat([a2.mean(1), a2.amax(1)], dim=1))
        vv = self.pool_v(torch.cat([v2.mean(1), v2.amax(1)], dim=1))
        gate = torch.softmax(self.gate(torch.cat([av, vv], dim=1)) + (mask - 1.0) * 1e4, dim=1)
        fused = gate[:, 0:1] * av + gate[:, 1:2] * vv
        logits: Tensor = self.head(fused)
        return logits, gate


def quantise_pooled(video: Tensor) -> np.ndarray:
    """Pooled frames in [0,1] (``FusionNet.pool_frames``) -> uint8, as training caches them."""
    return (video * 255.0).round().to(torch.uint8).numpy()


def dequantise_pooled(video: np.ndarray) -> Tensor:
    """Cached uint8 pooled frames -> the float input ``FusionNet.forward_features`` takes."""
    return torch.from_numpy(video).to(torch.float32) / 255.0


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (the fixed DFT/mel buffers are not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class FusionEnsemble(nn.Module):
    """Several :class:`FusionNet` s trained apart (other seeds or schedules), averaged.

    The same contract as one FusionNet: the members' probabilities and contributions are averaged
    (a deep ensemble; averaging what independently trained networks say cancels part of each
    one's idiosyncratic errors on sound it never heard). The fixed log-mel front end and the frame
    pooling are computed once and shared, since they have no learned weights.
    """

    def __init__(self, members: list[FusionNet]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        # a copy, so that the exported graph names it ``logmel.*`` like a single network's
        self.logmel = copy.deepcopy(members[0].logmel)
        for i, m in enumerate(members[1:], start=1):
            if not (
                torch.equal(m.logmel.dft, self.logmel.dft) and torch.equal(m.logmel.mel, self.logmel.mel)
            ):
                raise ValueError(f"member {i} has another log-mel front end than member 0")
        self.members = nn.ModuleList(members)
        # the frozen picture encoder's trunk, like the front end, is computed once for all
        trunks = [m.picture.trunk for m in members if m.picture is not None]
        self.picture_trunk = copy.deepcopy(trunks[0]) if trunks else None
        for trunk in trunks[1:]:
            mine, theirs = trunks[0].state_dict(), trunk.state_dict()
            if any(not torch.equal(mine[k], theirs[k]) for k in mine):
                raise ValueError("the members' picture encoders hold different trunk weights")

    def forward(self, frames: Tensor, audio: Tensor, modality_mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Contract forward: the members' mean (anomaly [B], class_probs [B,C], contribution [B,2])."""
        mel = self.logmel(audio * modality_mask[:, 0:1])
        out = self.forward_features(FusionNet.pool_frames(frames), mel, modality_mask)
        return out[0], out[1], out[2]

    def forward_features(
        self, video: Tensor, mel: Tensor, modality_mask: Tensor, explain: bool = True
    ) -> tuple[Tensor, ...]:
        """From pooled frames and log-mel: the members' mean (anomaly, class_probs, contribution).

        The third output is the mean contribution with ``explain``, else the mean gate (as for
        :meth:`FusionNet.forward_features`); what only training uses is not returned.
        """
        nets = cast(list[FusionNet], list(self.members))
        pictures = None if self.picture_trunk is None else frame_features(self.picture_trunk, video)
        outs = [
            m.forward_features(video, mel, modality_mask, explain=explain, pictures=pictures) for m in nets
        ]
        n = float(len(outs))
        return tuple(torch.stack([o[k] for o in outs]).sum(0) / n for k in range(3))
