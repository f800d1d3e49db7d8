"""Trainable networks back out of an exported model file (fine-tuning the shipped default).

The default model ships as ONNX only, so a site that wants to fine-tune it on its own footage
(`vigil train --init-from models/default/vigil-av-fusion.onnx --init-member K`) needs each
member network's PyTorch weights. Export keeps most of them under their own names
(``members.K.a2v.attn.in_proj_weight``) but changes three things, undone here:

- each convolution of the audio and video CNNs is fused with the BatchNorm after it (one
  weight and one bias, named ``onnx::Conv_*``). The weights come back as the convolution and
  that BatchNorm as the identity that adds the fused bias, so the network computes exactly what
  the file does; :func:`renormalise` then gives each BatchNorm statistics measured on training
  windows, so that training mode (batch statistics) starts where the file is too;
- the feed-forward layers' weights are stored transposed (``onnx::MatMul_*``);
- the training-only heads (the unimodal auxiliary heads and the teacher's projection) are not
  in the file at all: :func:`fit_heads` fits them on the frozen network's pooled tokens before
  fine-tuning starts, so their first gradients do not pull the network towards noise.

Which member a nameless weight belongs to is read from the exporter's node scope
(``/audio/cnn/cnn.1/cnn.1.0_2/Conv``: ``audio.cnn.1.0`` of member 2).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.net import FusionNet, dequantise_pooled

_MEMBER = re.compile(r"^members\.(\d+)\.(.+)$")
_SCOPE_COPY = re.compile(r"^(.*?)(?:_(\d+))?$")
# the parts a network needs that the file never holds (training only)
TRAINING_ONLY_HEADS = ("aux_a.", "aux_v.", "distill.", "everyday.")


def _scope(node_name: str) -> tuple[str, int]:
    """(module path, member index) of an exported node: ``/a2v/ffn/ffn.0_1/MatMul`` -> ("a2v.ffn.0", 1)."""
    parts = node_name.strip("/").split("/")
    if len(parts) < 3:
        raise ValueError(f"unexpected node scope {node_name!r}")
    m = _SCOPE_COPY.match(parts[-2])
    assert m is not None  # the pattern matches every string
    return f"{parts[0]}.{m.group(1)}", int(m.group(2) or 0)


def member_states(path: str | Path) -> list[dict[str, torch.Tensor]]:
    """Each member's ``state_dict`` (without the training-only heads) from an exported model file.

    A single exported network (no ``members.K.`` prefix) comes back as one member. Raises
    ``ValueError`` for a file that is not one of Vigil's fusion models.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    inits = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in model.graph.initializer}
    members = sorted({int(m.group(1)) for name in inits if (m := _MEMBER.match(name))})
    single = not members
    states: list[dict[str, torch.Tensor]] = [{} for _ in (members or [0])]
    for name, value in inits.items():
        if m := _MEMBER.match(name):
            states[int(m.group(1))][m.group(2)] = value
        elif single and not name.startswith("onnx::"):
            states[0][name] = value
    if "logmel.dft" not in inits:
        raise ValueError(f"{Path(path).name}: not a Vigil fusion model (no log-mel front end)")
    for state in states:  # the fixed front end is stored once, shared by the members
        state["logmel.dft"], state["logmel.mel"] = inits["logmel.dft"], inits["logmel.mel"]
    for node in model.graph.node:
        if node.op_type not in ("Conv", "MatMul"):
            continue
        nameless = [i for i in node.input[1:] if i.startswith("onnx::")]
        if not nameless:
            continue
        module, k = _scope(node.name)
        if k >= len(states):
            raise ValueError(f"{node.name}: member {k} of {len(states)}")
        state = states[k]
        if node.op_type == "MatMul":  # y = x @ W^T stored as x @ (W^T)
            state[f"{module}.weight"] = inits[nameless[0]].T.contiguous()
            continue
        weight, bias = inits[node.input[1]], inits[node.input[2]]
        # module is e.g. audio.cnn.1.0: the BatchNorm fused into it is audio.cnn.1.1
        norm = module[: -len(".0")] + ".1"
        eps = 1e-5  # nn.BatchNorm2d's default, which _conv2d uses
        state[f"{module}.weight"] = weight
        state[f"{norm}.weight"] = torch.ones_like(bias)
        state[f"{norm}.bias"] = bias
        state[f"{norm}.running_mean"] = torch.zeros_like(bias)
        state[f"{norm}.running_var"] = torch.full_like(bias, 1.0 - eps)
        state[f"{norm}.num_batches_tracked"] = torch.zeros((), dtype=torch.long)
    for state in states:
        if "audio.norm.weight" in state and "audio.norm.num_batches_tracked" not in state:
            state["audio.norm.num_batches_tracked"] = torch.zeros((), dtype=torch.long)
    return states


def member_state(path: str | Path, member: int = 0) -> dict[str, torch.Tensor]:
    """Network ``member`` of an exported model file, as a ``state_dict`` (see :func:`member_states`)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no model file to start from")
    states = member_states(path)
    if not 0 <= member < len(states):
        raise ValueError(f"{Path(path).name} holds {len(states)} network(s): no network {member}")
    return states[member]


def network_from_file(path: str | Path, member: int = 0) -> FusionNet:
    """Network ``member`` of an exported model as a :class:`FusionNet` (fresh training-only heads)."""
    state = member_state(path, member)
    net = FusionNet.for_state(state)
    load_into(net, state)
    return net


def load_into(net: FusionNet, state: dict[str, torch.Tensor]) -> None:
    """Load a member's state; only the training-only heads may be missing from it."""
    missing, unexpected = net.load_state_dict(state, strict=False)
    bad = [k for k in missing if not k.startswith(TRAINING_ONLY_HEADS)]
    if bad or unexpected:
        raise ValueError(
            f"the file's weights do not fit this network: missing {bad[:3]}, unexpected {unexpected[:3]}"
        )


def _norms(net: FusionNet) -> list[nn.BatchNorm2d]:
    return [m for m in net.modules() if isinstance(m, nn.BatchNorm2d) and m is not net.audio.norm]


@torch.no_grad()
def renormalise(net: FusionNet, batches: Callable[[], Any]) -> None:
    """Give each CNN BatchNorm statistics measured on training windows, without changing the output.

    ``batches()`` yields (pooled video, log-mel) tensors. In eval mode the network's output is
    unchanged (the affine part absorbs the new statistics exactly); in training mode, which
    normalises by each batch's own statistics, it now starts close to what the file computes.
    """
    norms = _norms(net)
    sums: dict[int, list[torch.Tensor]] = {i: [] for i in range(len(norms))}
    hooks = [
        bn.register_forward_hook(lambda _m, inp, _o, i=i: sums[i].append(_moments(inp[0])))
        for i, bn in enumerate(norms)
    ]
    was_training = net.training
    net.eval()
    try:
        for video, mel in batches():
            mask = torch.ones((mel.shape[0], 2), dtype=torch.float32)
            net.forward_features(video, mel, mask, explain=False)
    finally:
        for h in hooks:
            h.remove()
        net.train(was_training)
    for i, bn in enumerate(norms):
        if not sums[i]:
            raise ValueError("renormalise needs at least one batch")
        stacked = torch.stack(sums[i])  # [batches, 3, C]: count, sum, sum of squares
        count, total, squares = stacked[:, 0].sum(0), stacked[:, 1].sum(0), stacked[:, 2].sum(0)
        mean = total / count
        var = torch.clamp(squares / count - mean**2, min=0.0)
        assert bn.running_mean is not None and bn.running_var is not None
        old_scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        new_bias = bn.bias + (mean - bn.running_mean) * old_scale
        bn.weight.copy_(old_scale * torch.sqrt(var + bn.eps))
        bn.bias.copy_(new_bias)
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)


def _moments(x: torch.Tensor) -> torch.Tensor:
    """Per-channel (count, sum, sum of squares) of a [N,C,H,W] activation, in float64."""
    x = x.detach().to(torch.float64).transpose(0, 1).reshape(x.shape[1], -1)
    return torch.stack(
        [torch.full((x.shape[0],), float(x.shape[1]), dtype=torch.float64), x.sum(1), (x * x).sum(1)]
    )


def fit_heads(
    net: FusionNet,
    pooled_a: torch.Tensor,
    pooled_v: torch.Tensor,
    targets: torch.Tensor,
    teacher: torch.Tensor | None = None,
    steps: int = 300,
    lr: float = 1e-2,
) -> dict[str, float]:
    """Fit the training-only heads on frozen pooled tokens; returns each head's final loss.

    ``pooled_a``/``pooled_v`` [N,2d]: the mean and max of the present audio / video tokens (what
    the heads see in training); ``targets`` [N,1+C]: the heads' BCE targets; ``teacher`` [N,512]
    (NaN rows: none): the embedding the distillation head is trained to point at (cosine).
    """
    losses: dict[str, float] = {}
    fits: list[tuple[str, nn.Linear, torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]] = [
        ("aux_a", net.aux_a, pooled_a, lambda o: F.binary_cross_entropy_with_logits(o, targets)),
        ("aux_v", net.aux_v, pooled_v, lambda o: F.binary_cross_entropy_with_logits(o, targets)),
    ]
    if teacher is not None:
        have = torch.isfinite(teacher).all(dim=1)
        if bool(have.any()):
            t = teacher[have]
            fits.append(
                (
                    "distill",
                    net.distill,
                    pooled_a[have],
                    lambda o: (1.0 - F.cosine_similarity(o, t, dim=1)).mean(),
                )
            )
    for name, head, x, loss_of in fits:
        opt = torch.optim.Adam(head.parameters(), lr=lr)
        for _ in range(steps):
            opt.zero_grad()
            loss = loss_of(head(x))
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
        with torch.no_grad():
            losses[name] = float(loss_of(head(x)))
    return losses


@torch.no_grad()
def pooled_tokens(
    net: FusionNet, video: torch.Tensor, mel: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The pooled audio and video tokens the training-only heads see (both modalities present)."""
    was_training = net.training
    net.eval()
    try:
        mask = torch.ones((mel.shape[0], 2), dtype=torch.float32)
        captured: dict[str, torch.Tensor] = {}
        hooks = [
            net.aux_a.register_forward_hook(lambda _m, inp, _o: captured.__setitem__("a", inp[0])),
            net.aux_v.register_forward_hook(lambda _m, inp, _o: captured.__setitem__("v", inp[0])),
        ]
        try:
            net.forward_features(video, mel, mask, explain=False)
        finally:
            for h in hooks:
                h.remove()
    finally:
        net.train(was_training)
    return captured["a"], captured["v"]


def restore_for_training(
    net: FusionNet,
    video: np.ndarray,
    mel: np.ndarray,
    labels: np.ndarray,
    teacher: np.ndarray | None,
    batch: int = 64,
    log: Callable[[str], None] = print,
) -> None:
    """Make a network read from a model file ready to train: BatchNorm statistics and heads.

    ``video`` (uint8 pooled frames, as cached), ``mel``, ``labels`` and ``teacher`` are a sample
    of training windows (a few thousand are plenty).
    """

    def batches() -> Any:
        for i in range(0, len(mel), batch):
            yield dequantise_pooled(video[i : i + batch]), torch.from_numpy(mel[i : i + batch])

    renormalise(net, batches)
    pa, pv = [], []
    for v, m in batches():
        a_i, v_i = pooled_tokens(net, v, m)
        pa.append(a_i)
        pv.append(v_i)
    y = torch.from_numpy(labels.astype(np.float32))
    targets = torch.cat([1.0 - y[:, :1], y], dim=1)
    t = None if teacher is None else torch.from_numpy(teacher.astype(np.float32))
    losses = fit_heads(net, torch.cat(pa), torch.cat(pv), targets, t)
    fitted = ", ".join(f"{k} {v:.3f}" for k, v in losses.items())
    log(f"restored from the model file: BatchNorm statistics on {len(mel)} windows; heads fitted ({fitted})")
