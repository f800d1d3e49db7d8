"""Model benchmark: parameters, FLOPs per window, ONNX Runtime windows/s at several batch sizes.

    python -m bench.bench_model                      # CPU, 2 threads, batch 1/8/32
    python -m bench.bench_model --providers CUDAExecutionProvider,CPUExecutionProvider --batches 1,8,32,128

FLOPs are counted with torch's FlopCounterMode on the PyTorch model (multiply-add = 2 FLOPs)
when torch is installed; the count is per window (batch 1).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from models.runtime import DEFAULT_MODEL_PATH, FusionModel


def parameters(path: Path) -> dict[str, int]:
    """Parameter counts from the ONNX initializers: learned vs fixed front-end (DFT, mel) tensors."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    learned = fixed = 0
    for init in model.graph.initializer:
        n = int(np.prod(numpy_helper.to_array(init).shape))
        if init.name.startswith("logmel."):
            fixed += n
        else:
            learned += n
    return {"learned": learned, "fixed_front_end": fixed}


def trainable_parameters() -> int | None:
    """Trainable parameters of the PyTorch model (None without torch)."""
    try:
        from models.net import FusionNet, count_parameters
    except ImportError:
        return None
    return count_parameters(FusionNet())


def flops_per_window() -> int | None:
    """FLOPs of one window through the PyTorch model (None without torch)."""
    try:
        import torch
        from torch.utils.flop_counter import FlopCounterMode

        from models.net import FusionNet
    except ImportError:
        return None
    model = FusionNet().eval()
    frames = torch.zeros(1, 8, 112, 112, 3, dtype=torch.uint8)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(frames, torch.zeros(1, 32000), torch.ones(1, 2))
    return int(counter.get_total_flops())


def throughput(model: FusionModel, batch: int, seconds: float) -> dict[str, float]:
    """Windows/s and latency percentiles for ``batch`` windows per call, measured for ~``seconds``."""
    c = model.contract
    rng = np.random.default_rng(0)
    frames = rng.integers(
        0, 256, (batch, c.frames_per_window, c.frame_height, c.frame_width, 3), dtype=np.uint8
    )
    audio = (0.05 * rng.standard_normal((batch, c.samples_per_window))).astype(np.float32)
    for _ in range(3):
        model.predict(frames, audio)
    lat: list[float] = []
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end or len(lat) < 5:
        t0 = time.perf_counter()
        model.predict(frames, audio)
        lat.append(time.perf_counter() - t0)
    arr = np.asarray(lat)
    return {
        "batch": batch,
        "windows_per_s": round(batch * len(arr) / arr.sum(), 1),
        "p50_ms": round(1e3 * float(np.median(arr)), 2),
        "p95_ms": round(1e3 * float(np.percentile(arr, 95)), 2),
        "calls": len(arr),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table (and JSON with --json)."""
    ap = argparse.ArgumentParser(prog="bench_model", description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(DEFAULT_MODEL_PATH))
    ap.add_argument(
        "--providers", default="CPUExecutionProvider", help="comma-separated ONNX Runtime providers"
    )
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads (CPU provider)")
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--seconds", type=float, default=3.0, help="measuring time per batch size")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    path = Path(args.model)
    model = FusionModel(path, providers=args.providers.split(","), intra_op_threads=args.threads)
    result = {
        "model": str(path),
        "size_mb": round(path.stat().st_size / 1e6, 2),
        "providers": model.providers,
        "threads": args.threads,
        "parameters": parameters(path),
        "trainable_parameters": trainable_parameters(),
        "flops_per_window": flops_per_window(),
        "runs": [throughput(model, int(b), args.seconds) for b in args.batches.split(",")],
    }
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    result["load_average_1m"] = round(load, 2)
    print(
        f"model {result['model']} ({result['size_mb']} MB), providers {result['providers']}, "
        f"threads {args.threads}, 1-min load average {load:.2f} on {os.cpu_count()} CPUs"
    )
    p = result["parameters"]
    print(
        f"parameters: {result['trainable_parameters'] or 'n/a'} trainable (PyTorch); ONNX initializers "
        f"{p['learned']:,} learned (BatchNorm folded) + {p['fixed_front_end']:,} fixed (DFT, mel)"
    )
    fl = result["flops_per_window"]
    print(f"FLOPs per window: {fl / 1e6:.1f} M" if fl else "FLOPs per window: n/a (torch not installed)")
    print(f"{'batch':>6} {'windows/s':>10} {'p50 ms':>8} {'p95 ms':>8}")
    for r in result["runs"]:
        print(f"{r['batch']:>6} {r['windows_per_s']:>10} {r['p50_ms']:>8} {r['p95_ms']:>8}")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
