"""Training loop for :class:`models.net.FusionNet` on synthetic (and optional real) windows.

Frames and audio go through the model's fixed front ends once (2x2-pooled frames stored as
uint8, log-mel as float32) and are cached in the run directory, so epochs train only the
learnable part. The math is the same as the exported graph (``FusionNet.forward``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from models.augment import MelAugment, augment_mel
from models.backbone import ATTRIBUTION as PICTURE_ATTRIBUTION
from models.contract import CLASSES
from models.corpus.mixer import NEGATIVE_SCENARIO
from models.corpus.vocabulary import NEGATIVE_CLASSES
from models.evaluate import MODES, real_report, report
from models.net import (
    DISTILL_DIM,
    FusionEnsemble,
    FusionNet,
    count_parameters,
    dequantise_pooled,
    quantise_pooled,
)
from models.onnx_weights import load_into, member_state, restore_for_training
from models.synth.windows import AMBIGUOUS_MIX, TRAIN_MIX, WindowSet, make_dataset
from models.teacher import ATTRIBUTION, Teacher
from models.train_config import TrainConfig

# training windows on which a network read from a model file gets its BatchNorm statistics and
# training-only heads back (models/onnx_weights.py)
RESTORE_WINDOWS = 4000


@dataclass
class Features:
    """Front-end features of a window set (what the trainable part of the model sees)."""

    video: np.ndarray  # uint8 [N,T,3,h,w]
    mel: np.ndarray  # float32 [N,M,F]
    labels: np.ndarray  # float32 [N,C]
    scenarios: tuple[str, ...]
    teacher: np.ndarray | None = None  # float32 [N,512] teacher embeddings (NaN rows: none)
    pictures: np.ndarray | None = None  # float16 [N,T,K] frozen picture-encoder features, if used


def featurize(data: WindowSet, model: FusionNet, batch: int = 64, teacher: Teacher | None = None) -> Features:
    """Apply the fixed front ends (frame pooling, log-mel) to a window set, and the teacher if given."""
    vids, mels = [], []
    with torch.no_grad():
        for i in range(0, len(data), batch):
            f = torch.from_numpy(data.frames[i : i + batch])
            vids.append(quantise_pooled(model.pool_frames(f)))
            mels.append(model.logmel(torch.from_numpy(data.audio[i : i + batch])).numpy())
    emb = teacher.embed(data.audio, progress=True) if teacher is not None else None
    return Features(np.concatenate(vids), np.concatenate(mels), data.labels, data.scenarios, emb)


def _cached(path: Path, build: Any) -> Features:
    if path.exists():
        z = np.load(path, allow_pickle=False)
        return Features(
            z["video"],
            z["mel"],
            z["labels"],
            tuple(str(s) for s in z["scenarios"]),
            z["teacher"] if "teacher" in z.files else None,
        )
    feats: Features = build()
    tmp = path.with_suffix(".tmp.npz")
    arrays: dict[str, Any] = {
        "video": feats.video,
        "mel": feats.mel,
        "labels": feats.labels,
        "scenarios": np.asarray(feats.scenarios),
    }
    if feats.teacher is not None:
        arrays["teacher"] = feats.teacher
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return feats


def _stem(name: str, seed: int, n: int) -> str:
    """The file name (before any suffix) of a run's cached window set."""
    return f"data-{name}-seed{seed}-n{n}"


def _cache_path(out: Path, stem: str, need_teacher: bool) -> Path:
    """Cached features; the copy with teacher embeddings serves runs without distillation too."""
    with_teacher = out / f"{stem}-t.npz"
    return with_teacher if need_teacher or with_teacher.exists() else out / f"{stem}.npz"


def _teacher_rows(f: Features) -> np.ndarray:
    return (
        f.teacher if f.teacher is not None else np.full((len(f.scenarios), DISTILL_DIM), np.nan, np.float32)
    )


def load_features(cfg: TrainConfig, model: FusionNet, log: Any = print) -> dict[str, Features]:
    """Generate (or load cached) train / held-out / ambiguous feature sets."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    teacher = None
    if cfg.distill_weight > 0:
        teacher = Teacher(Path(cfg.teacher_cache).expanduser())
        log(f"teacher: {ATTRIBUTION}")
    specs = {
        "train": (cfg.train_windows, cfg.seed, TRAIN_MIX),
        "heldout": (cfg.heldout_windows, cfg.heldout_seed, TRAIN_MIX),
        "ambiguous": (cfg.ambiguous_windows, cfg.ambiguous_seed, AMBIGUOUS_MIX),
    }
    sets: dict[str, Features] = {}
    for name, (n, seed, mix) in specs.items():
        tch = teacher if name == "train" else None
        path = _cache_path(out, _stem(name, seed, n), tch is not None)
        log(f"data {name}: {n} windows, seed {seed} ({'cached' if path.exists() else 'generating'})")
        sets[name] = _cached(
            path,
            lambda n=n, seed=seed, mix=mix, tch=tch: featurize(
                make_dataset(n, seed, mix, progress=True), model, teacher=tch
            ),
        )
    if cfg.corpus_dir:
        sets.update(load_corpus_features(cfg, model, teacher, log))
    # per set before they are joined, so that runs with other synthetic seeds share the real ones'
    attach_pictures(model, sets, out, log)
    if cfg.corpus_dir:
        _append(sets, "train", sets.pop("real_train"))
    if cfg.real_dir:
        from models.realclips import load_real_windows

        real = {"real": featurize(load_real_windows(cfg.real_dir), model)}
        log(f"data real: {len(real['real'].scenarios)} windows from {cfg.real_dir}")
        attach_pictures(model, real, out, log)
        _append(sets, "train", real["real"])
    return sets


def _append(sets: dict[str, Features], name: str, more: Features) -> None:
    have = sets[name]
    teacher = None
    if have.teacher is not None or more.teacher is not None:
        teacher = np.concatenate([_teacher_rows(have), _teacher_rows(more)])
    sets[name] = Features(
        np.concatenate([have.video, more.video]),
        np.concatenate([have.mel, more.mel]),
        np.concatenate([have.labels, more.labels]),
        have.scenarios + more.scenarios,
        teacher,
        None
        if have.pictures is None or more.pictures is None
        else np.concatenate([have.pictures, more.pictures]),
    )


def load_corpus_features(
    cfg: TrainConfig, model: FusionNet, teacher: Teacher | None = None, log: Any = print
) -> dict[str, Features]:
    """Mixed real-sound windows per leave-package-out split: ``real_train``, ``real_val``, ``real_test``.

    Each split's windows are mixed only from its own packages' recordings, so the test set holds
    sounds (and sound designers) the model never heard in training.
    """
    from models.corpus.mixer import SoundBank, add_generator_sounds
    from models.corpus.windows import default_frame_source, make_real_dataset

    assert cfg.corpus_dir is not None
    out = Path(cfg.out)
    frames = default_frame_source(cfg.corpus_dir)
    specs = {
        "real_train": ("train", cfg.real_train_windows, cfg.real_seed),
        "real_val": ("val", cfg.real_val_windows, cfg.real_val_seed),
        "real_test": ("test", cfg.real_test_windows, cfg.real_test_seed),
    }
    sets: dict[str, Features] = {}
    for name, (split, n, seed) in specs.items():
        if n <= 0:
            continue
        tch = teacher if split == "train" else None
        # the train bank's generated negatives change its windows: they name the cache too
        extra = f"-e{cfg.generated_everyday}" if split == "train" and cfg.generated_everyday else ""
        balance = split == "train" and cfg.balance_packages
        extra += "-b" if balance else ""
        path = _cache_path(out, _stem(name, seed, n) + extra, tch is not None)
        cached = path.exists()

        def build(
            split: str = split,
            n: int = n,
            seed: int = seed,
            tch: Teacher | None = tch,
            balance: bool = balance,
        ) -> Features:
            bank = SoundBank.from_corpus(cfg.corpus_dir or "", [split])
            bank.balance_packages = balance
            if split == "train":
                add_generator_sounds(bank, np.random.default_rng([seed, 77]), everyday=cfg.generated_everyday)
            log(f"  {split} sound bank: {len(bank.packages)} packages, {bank.summary()}")
            return featurize(make_real_dataset(bank, n, seed, frames, progress=True), model, teacher=tch)

        log(
            f"data {name}: {n} windows, seed {seed}, packages of split {split!r} ({'cached' if cached else 'mixing'})"
        )
        sets[name] = _cached(path, build)
    return sets


def _batch(feats: Features, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    v = dequantise_pooled(feats.video[idx])
    return v, torch.from_numpy(feats.mel[idx]), torch.from_numpy(feats.labels[idx])


def _pictures(feats: Features, idx: np.ndarray) -> torch.Tensor | None:
    return None if feats.pictures is None else torch.from_numpy(feats.pictures[idx]).to(torch.float32)


def attach_pictures(model: FusionNet, sets: dict[str, Features], out: Path, log: Any = print) -> None:
    """Compute (or load cached) the frozen picture encoder's features of every set's frames.

    The encoder has no trainable weights, so its features of the cached frames are computed once
    and kept in the run directory (``pictures-<set>-n<N>-<digest>.npy``) instead of every step.
    """
    from tqdm import tqdm

    enc = model.picture
    if enc is None:
        return
    for name, feats in sets.items():
        n = len(feats.scenarios)
        # the digest ties the cache to these frames (a set's name and size alone could repeat)
        digest = hashlib.sha1(feats.video[:: max(1, n // 64)].tobytes()).hexdigest()[:12]
        path = out / f"pictures-{name}-n{n}-{digest}.npy"
        if path.exists():
            feats.pictures = np.load(path)
            continue
        rows = []
        with torch.no_grad():
            for i in tqdm(range(0, n, 64), desc=f"picture features {name}", unit="batch"):
                v = dequantise_pooled(feats.video[i : i + 64])
                rows.append(enc.frame_features(v).numpy().astype(np.float16))
        feats.pictures = np.concatenate(rows)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, feats.pictures)
        os.replace(tmp, path)
        log(f"picture features {name}: {feats.pictures.shape} -> {path}")


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, audio_present: torch.Tensor) -> torch.Tensor:
    """Mean cosine distance to the teacher's embedding over rows that have one and hear audio."""
    have = torch.isfinite(teacher).all(dim=1) & (audio_present > 0.5)
    if not bool(have.any()):
        return student.sum() * 0.0
    cos = F.cosine_similarity(student[have], teacher[have], dim=1)
    return (1.0 - cos).mean()


def predict_features(
    model: FusionNet | FusionEnsemble, feats: Features, mask: tuple[float, float], batch: int = 128
) -> tuple[np.ndarray, np.ndarray]:
    """(anomaly, class_probs) from cached features with a fixed modality mask."""
    model.eval()
    an, cp = [], []
    with torch.no_grad():
        for i in range(0, len(feats.scenarios), batch):
            idx = np.arange(i, min(i + batch, len(feats.scenarios)))
            v, mel, _ = _batch(feats, idx)
            m = torch.tensor([mask], dtype=torch.float32).repeat(len(idx), 1)
            if isinstance(model, FusionNet):
                out = model.forward_features(v, mel, m, explain=False, pictures=_pictures(feats, idx))
            else:
                out = model.forward_features(v, mel, m, explain=False)
            an.append(out[0].numpy())
            cp.append(out[1].numpy())
    return np.concatenate(an), np.concatenate(cp)


def loss_fn(
    out: tuple[torch.Tensor, ...], y: torch.Tensor, aux_weight: float, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """BCE on anomaly + classes for the fused head, plus unimodal auxiliary heads.

    ``weight`` (one per window, optional) scales each window's terms; the mean is still over
    the batch, so a weight above 1 makes that window count more than once.
    """
    target = torch.cat([(1.0 - y[:, :1]), y], dim=1)

    def bce(logits: torch.Tensor) -> torch.Tensor:
        per_window = F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(dim=1)
        return (per_window if weight is None else per_window * weight).mean()

    return bce(out[3]) + aux_weight * (bce(out[4]) + bce(out[5]))


def everyday_targets(scenarios: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Which everyday sounds each window holds, where that is known: (targets [N,K], known [N]).

    Known for the corpus's ordinary windows (``real_negative:door+siren`` holds a door and a
    siren, ``real_ambience`` none); not for incident windows (the mixer does not record the
    everyday sound a quarter of them also hold) nor for synthetic windows.
    """
    targets = np.zeros((len(scenarios), len(NEGATIVE_CLASSES)), np.float32)
    known = np.zeros(len(scenarios), bool)
    for i, s in enumerate(scenarios):
        if s == "real_ambience":
            known[i] = True
        elif s.startswith(NEGATIVE_SCENARIO):
            known[i] = True
            for kind in s[len(NEGATIVE_SCENARIO) :].split("+"):
                targets[i, NEGATIVE_CLASSES.index(kind)] = 1.0
    return targets, known


def everyday_loss(logits: torch.Tensor, targets: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Mean BCE of the everyday-sound head over the windows where the answer is known."""
    if not bool(known.any()):
        return logits.sum() * 0.0
    return F.binary_cross_entropy_with_logits(logits[known], targets[known])


def window_weights(scenarios: Sequence[str], labels: np.ndarray, hard_negative_weight: float) -> np.ndarray:
    """Per-window loss weights: ``hard_negative_weight`` for ordinary windows holding an everyday
    event (scenario ``real_negative:...``), 1 for every other window."""
    everyday = np.array([s.startswith(NEGATIVE_SCENARIO) for s in scenarios], dtype=bool)
    hard = (labels[:, 0] > 0.5) & everyday
    return np.where(hard, np.float32(hard_negative_weight), np.float32(1.0)).astype(np.float32)


def train(cfg: TrainConfig, resume: bool = False, log: Any = print) -> dict[str, Any]:
    """Train, checkpoint every epoch, evaluate on held-out seeds; returns the metrics dict."""
    from tqdm import tqdm

    if not 0.0 <= cfg.ema_decay < 1.0:
        raise ValueError(f"ema_decay must be in [0, 1): {cfg.ema_decay}")
    if cfg.hard_negative_weight <= 0.0:
        raise ValueError(f"hard_negative_weight must be > 0: {cfg.hard_negative_weight}")
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out)
    if cfg.everyday_weight < 0.0:
        raise ValueError(f"everyday_weight must be >= 0: {cfg.everyday_weight}")
    model = FusionNet(
        picture_encoder=cfg.picture_encoder,
        relative_mel=cfg.relative_mel,
        everyday_kinds=len(NEGATIVE_CLASSES) if cfg.everyday_weight > 0 else 0,
    )
    if model.picture is not None:
        model.picture.trunk.load_pretrained()
        log(f"picture encoder: {PICTURE_ATTRIBUTION}")
    from_file = bool(cfg.init_from) and Path(str(cfg.init_from)).suffix == ".onnx" and not resume
    if cfg.init_from and not resume:
        if from_file:
            load_into(model, member_state(Path(cfg.init_from), cfg.init_member))
            log(f"starting from network {cfg.init_member} of {cfg.init_from}")
        else:
            load_init(model, _finished_weights(Path(cfg.init_from)))
            log(f"starting from {cfg.init_from}")
    t_start = time.time()
    sets = load_features(cfg, model, log)
    tr = sets["train"]
    if from_file:
        # the file lacks training-mode BatchNorm statistics and the training-only heads
        rows = np.sort(np.random.default_rng(cfg.seed).permutation(len(tr.scenarios))[:RESTORE_WINDOWS])
        restore_for_training(
            model,
            tr.video[rows],
            tr.mel[rows],
            tr.labels[rows],
            None if tr.teacher is None else tr.teacher[rows],
            log=log,
        )
    n = len(tr.scenarios)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.15
    )
    history: dict[str, list[float]] = {"train_loss": [], "heldout_ap": [], "step_loss": []}
    start_epoch = 0
    ckpt_path = out / "checkpoint.pt"
    ck: dict[str, Any] = {}
    if resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        history = ck["history"]
        start_epoch = ck["epoch"]
        log(f"resumed from {ckpt_path} at epoch {start_epoch}")
    # the weights that are evaluated and saved: the moving average, or the model itself
    ema = (
        torch.optim.swa_utils.AveragedModel(
            model,
            multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(cfg.ema_decay),  # type: ignore[no-untyped-call]
            use_buffers=True,
        )
        if cfg.ema_decay > 0
        else None
    )
    if ema is not None and "ema" in ck:
        ema.load_state_dict(ck["ema"])
    augment = MelAugment(
        enabled=cfg.mel_augment, background_share=cfg.mel_background_share, tilt_db=cfg.mel_tilt_db
    )
    ordinary_rows = np.flatnonzero(tr.labels[:, 0] > 0.5)  # backgrounds come from these
    weights = (  # None: every window counts once, the plain mean
        torch.from_numpy(window_weights(tr.scenarios, tr.labels, cfg.hard_negative_weight))
        if cfg.hard_negative_weight != 1.0
        else None
    )
    everyday, everyday_known = everyday_targets(tr.scenarios)
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        erng = np.random.default_rng([cfg.seed, epoch])
        arng = np.random.default_rng([cfg.seed, epoch, 1])  # augmentation: its own stream
        perm = erng.permutation(n)
        losses = []
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="step")
        for s in bar:
            idx = np.sort(perm[s * cfg.batch_size : (s + 1) * cfg.batch_size])
            v, mel, y = _batch(tr, idx)
            r = erng.random(len(idx))
            mask = np.ones((len(idx), 2), np.float32)
            mask[r < cfg.modality_dropout, 0] = 0.0
            mask[(r >= cfg.modality_dropout) & (r < 2 * cfg.modality_dropout), 1] = 0.0
            mel_np, mixed = augment_mel(mel.numpy(), tr.mel, ordinary_rows, arng, augment)
            out_t = model.forward_features(
                v,
                torch.from_numpy(mel_np),
                torch.from_numpy(mask),
                explain=False,
                pictures=_pictures(tr, idx),
            )
            loss = loss_fn(out_t, y, cfg.aux_weight, None if weights is None else weights[idx])
            if tr.teacher is not None and cfg.distill_weight > 0:
                target = torch.from_numpy(tr.teacher[idx])
                # the teacher heard the recording without the added background: no target there
                heard = mask[:, 0] * (~mixed)
                loss = loss + cfg.distill_weight * distill_loss(out_t[6], target, torch.from_numpy(heard))
            if cfg.everyday_weight > 0:
                # with the audio masked there is nothing to tell: those rows do not count
                known = torch.from_numpy(everyday_known[idx] & (mask[:, 0] > 0.5))
                loss = loss + cfg.everyday_weight * everyday_loss(
                    out_t[7], torch.from_numpy(everyday[idx]), known
                )
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
            opt.step()
            sched.step()
            if ema is not None:
                ema.update_parameters(model)
            losses.append(loss.item())
            history["step_loss"].append(losses[-1])
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        judged = _averaged(ema) if ema is not None else model
        an, _ = predict_features(judged, sets["heldout"], (1.0, 1.0))
        from models.metrics import average_precision

        ap = average_precision(1.0 - sets["heldout"].labels[:, 0], an)
        history["train_loss"].append(float(np.mean(losses)))
        history["heldout_ap"].append(float(ap))
        line = f"epoch {epoch + 1}: train loss {np.mean(losses):.4f}, held-out anomaly AP {ap:.4f}"
        if "real_val" in sets:
            an_v, _ = predict_features(judged, sets["real_val"], (1.0, 1.0))
            ap_v = average_precision(1.0 - sets["real_val"].labels[:, 0], an_v)
            history.setdefault("real_val_ap", []).append(float(ap_v))
            line += f", real-sound val AP {ap_v:.4f}"
        log(line)
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save(
            {
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "sched": sched.state_dict(),
                "epoch": epoch + 1,
                "history": history,
                "config": asdict(cfg),
                **({"ema": ema.state_dict()} if ema is not None else {}),
            },
            tmp,
        )
        os.replace(tmp, ckpt_path)
    if ema is not None:
        model = _averaged(ema)
    metrics = final_report(model, sets, cfg, history, time.time() - t_start)
    torch.save({"model": model.state_dict(), "config": asdict(cfg)}, out / "model.pt")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    plot(history, model, sets, out)
    log(f"wrote {out / 'model.pt'}, {out / 'metrics.json'}, plots")
    return metrics


def load_init(model: FusionNet, state: dict[str, Any]) -> None:
    """Load a finished run's weights to start from.

    A network that gains a part starts computing what the run did: the picture encoder keeps its
    own weights (pretrained trunk, zero projection); the relative-mel input channel gets zero
    weights in the first convolution and the start's input normalisation for the plain channel.
    """
    state = dict(state)
    own = model.state_dict()
    first_conv = "audio.cnn.0.0.weight"
    if own[first_conv].shape[1] == 2 and state[first_conv].shape[1] == 1:
        state[first_conv] = torch.cat([state[first_conv], torch.zeros_like(state[first_conv])], dim=1)
        for k in ("weight", "bias", "running_mean", "running_var"):
            name = f"audio.norm.{k}"
            state[name] = torch.cat([state[name], own[name][1:]])
    # parts the start may lack: they keep their own initial weights
    own_new = {k for k in own if k.startswith(("picture.", "everyday.")) and k not in state}
    if own_new:
        missing, unexpected = model.load_state_dict(state, strict=False)
        if not set(missing) <= own_new or unexpected:
            raise ValueError(
                f"the start's weights do not fit: missing {missing[:3]}, unexpected {unexpected[:3]}"
            )
        return
    model.load_state_dict(state)


def _finished_weights(path: Path) -> dict[str, Any]:
    """A finished run's weights: ``path`` is its ``model.pt`` or its run directory."""
    path = path / "model.pt" if path.is_dir() else path
    if not path.exists():
        raise FileNotFoundError(f"{path}: no finished run's model.pt to start from")
    state: dict[str, Any] = torch.load(path, weights_only=False)["model"]
    return state


def _averaged(ema: torch.optim.swa_utils.AveragedModel) -> FusionNet:
    """The moving average as a plain :class:`FusionNet` (what is evaluated, saved and exported)."""
    net = ema.module
    assert isinstance(net, FusionNet)
    return net


def final_report(
    model: FusionNet,
    sets: dict[str, Features],
    cfg: TrainConfig,
    history: dict[str, list[float]],
    seconds: float,
) -> dict[str, Any]:
    """Held-out and ambiguous-set ablation plus a training-data summary."""
    rep = heldout_report(model, sets)
    counts: dict[str, int] = {}
    for s in sets["train"].scenarios:
        counts[s] = counts.get(s, 0) + 1
    rep["training"] = {
        "data": "synthetic (models.synth)"
        + (" + real-sound corpus (models/corpus, train-split packages)" if cfg.corpus_dir else "")
        + (f" + real clips from {cfg.real_dir}" if cfg.real_dir else ""),
        "train_windows": len(sets["train"].scenarios),
        "train_seed": cfg.seed,
        "heldout_seed": cfg.heldout_seed,
        "ambiguous_seed": cfg.ambiguous_seed,
        "scenario_counts": counts,
        "epochs": cfg.epochs,
        "batch_size": cfg.batch_size,
        "parameters": count_parameters(model),
        "teacher": ATTRIBUTION if cfg.distill_weight > 0 else None,
        "wall_seconds": round(seconds, 1),
        "final_train_loss": history["train_loss"][-1] if history["train_loss"] else None,
        "classes": list(CLASSES),
    }
    return rep


def heldout_report(model: FusionNet | FusionEnsemble, sets: dict[str, Features]) -> dict[str, Any]:
    """Synthetic held-out and ambiguous-set ablation, and the real val / test splits where present."""
    ho, amb = sets["heldout"], sets["ambiguous"]
    ho_preds = {m: predict_features(model, ho, mk) for m, mk in MODES.items()}
    amb_preds = {m: predict_features(model, amb, mk) for m, mk in MODES.items()}
    rep = report(ho.labels, ho.scenarios, ho_preds, amb.labels, amb_preds)
    for name in ("real_val", "real_test"):
        if name in sets:
            f = sets[name]
            preds = {m: predict_features(model, f, mk) for m, mk in MODES.items()}
            rep[name] = real_report(f.labels, f.scenarios, preds)
    return rep


def cached_evaluation_sets(cfg: TrainConfig) -> dict[str, Features]:
    """The held-out sets a finished run cached (``heldout``, ``ambiguous``, ``real_val``, ``real_test``).

    Raises FileNotFoundError naming the first one missing (its run directory was cleaned).
    """
    out = Path(cfg.out)
    stems = {
        "heldout": _stem("heldout", cfg.heldout_seed, cfg.heldout_windows),
        "ambiguous": _stem("ambiguous", cfg.ambiguous_seed, cfg.ambiguous_windows),
    }
    if cfg.corpus_dir:
        for name, seed, n in (
            ("real_val", cfg.real_val_seed, cfg.real_val_windows),
            ("real_test", cfg.real_test_seed, cfg.real_test_windows),
        ):
            if n > 0:
                stems[name] = _stem(name, seed, n)
    sets: dict[str, Features] = {}
    for name, stem in stems.items():
        path = _cache_path(out, stem, need_teacher=False)
        if not path.exists():
            raise FileNotFoundError(f"{path}: the run's cached {name} windows are gone")
        sets[name] = _cached(path, None)
    return sets


def plot(history: dict[str, list[float]], model: FusionNet, sets: dict[str, Features], out: Path) -> None:
    """loss.png (loss per step/epoch, held-out AP) and pr_curves.png (anomaly PR per mode, per class)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from models.metrics import pr_curve

    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].plot(history["step_loss"], alpha=0.4, label="step")
    if history["train_loss"]:
        per = len(history["step_loss"]) / len(history["train_loss"])
        ax[0].plot(
            [per * (i + 1) for i in range(len(history["train_loss"]))],
            history["train_loss"],
            "o-",
            label="epoch mean",
        )
    ax[0].set(title="training loss", xlabel="step")
    ax[0].legend()
    ax[1].plot(range(1, len(history["heldout_ap"]) + 1), history["heldout_ap"], "o-")
    ax[1].set(title="held-out anomaly AP", xlabel="epoch")
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=90)
    plt.close(fig)
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.5))
    for k, name in enumerate(("heldout", "ambiguous")):
        f = sets[name]
        for mode, mk in MODES.items():
            an, _ = predict_features(model, f, mk)
            r, p = pr_curve(1.0 - f.labels[:, 0], an)
            ax[k].plot(r, p, label=mode)
        ax[k].set(title=f"anomaly PR ({name})", xlabel="recall", ylabel="precision", ylim=(0, 1.02))
        ax[k].legend()
    _, cp = predict_features(model, sets["heldout"], (1.0, 1.0))
    for i, c in enumerate(CLASSES):
        if c != "normal":
            r, p = pr_curve(sets["heldout"].labels[:, i], cp[:, i])
            ax[2].plot(r, p, label=c)
    ax[2].set(title="per-class PR (held-out, both)", xlabel="recall", ylim=(0, 1.02))
    ax[2].legend()
    fig.tight_layout()
    fig.savefig(out / "pr_curves.png", dpi=90)
    plt.close(fig)
