"""Model benchmark: size, parameters, FLOPs per window, ONNX Runtime windows/s at several batch sizes,
for the model and the previous default model side by side in the same run.

    python -m bench.bench_model                      # CPU, 2 threads, batch 1/8/32; vs the previous default
    python -m bench.bench_model --baseline none      # this model only
    python -m bench.bench_model --providers CUDAExecutionProvider,CPUExecutionProvider --batches 1,8,32,128

FLOPs are counted on the ONNX graph itself (Conv, MatMul, Gemm; multiply-add = 2 FLOPs; per
window, batch 1), so any model file can be measured, including an earlier one. The previous
default model is read from git history: the last commit before HEAD that changed the file.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from models.previous import add_baseline_argument, resolve_baseline
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


def onnx_flops(path: Path) -> int:
    """FLOPs of one window (batch 1) on the ONNX graph itself: Conv, ConvTranspose, MatMul, Gemm.

    Shapes are taken from a real run (every operand exposed as an output), since static shape
    inference cannot follow the graph's reshapes.
    """
    import onnx
    import onnxruntime as ort

    counted = ("Conv", "ConvTranspose", "MatMul", "Gemm")
    model = onnx.load(str(path))
    weights = {i.name: tuple(i.dims) for i in model.graph.initializer}
    outputs = {o.name for o in model.graph.output}
    for node in model.graph.node:
        if node.op_type in counted:
            for name in (node.input[0], node.output[0]):
                if name not in weights and name not in outputs:
                    model.graph.output.append(onnx.ValueInfoProto(name=name))
                    outputs.add(name)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {}
    for inp in session.get_inputs():
        shape = [1 if not isinstance(d, int) else d for d in inp.shape]
        feeds[inp.name] = np.ones(shape, np.uint8 if inp.type == "tensor(uint8)" else np.float32)
    names = [o.name for o in session.get_outputs()]
    shapes: dict[str, tuple[int, ...]] = {
        n: tuple(np.asarray(v).shape) for n, v in zip(names, session.run(None, feeds), strict=True)
    }
    shapes.update(weights)
    total = 0
    for node in model.graph.node:
        if node.op_type in ("Conv", "ConvTranspose"):
            total += 2 * int(np.prod(shapes[node.output[0]])) * int(np.prod(shapes[node.input[1]][1:]))
        elif node.op_type in ("MatMul", "Gemm"):
            total += 2 * int(np.prod(shapes[node.output[0]])) * int(shapes[node.input[0]][-1])
    return total


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


def measure(
    path: Path, providers: list[str], threads: int, batches: list[int], seconds: float
) -> dict[str, object]:
    """Size, parameters, FLOPs and throughput of one model file."""
    model = FusionModel(path, providers=providers, intra_op_threads=threads)
    return {
        "model": str(path),
        "model_version": model.contract.model_version,
        "size_mb": round(path.stat().st_size / 1e6, 2),
        "providers": model.providers,
        "parameters": parameters(path),
        "flops_per_window": onnx_flops(path),
        "runs": [throughput(model, b, seconds) for b in batches],
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table (and JSON with --json)."""
    ap = argparse.ArgumentParser(prog="bench_model", description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(DEFAULT_MODEL_PATH))
    add_baseline_argument(ap)
    ap.add_argument(
        "--providers", default="CPUExecutionProvider", help="comma-separated ONNX Runtime providers"
    )
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads (CPU provider)")
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--seconds", type=float, default=3.0, help="measuring time per batch size")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    path = Path(args.model)
    providers = args.providers.split(",")
    batches = [int(b) for b in args.batches.split(",")]
    baseline = resolve_baseline(args.baseline, path)
    if baseline is None and args.baseline == "previous":
        print("no previous default model in git history: measuring this model only")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"providers {providers}, threads {args.threads}, 1-min load average {load:.2f} on {os.cpu_count()} CPUs"
    )
    results = {"model": measure(path, providers, args.threads, batches, args.seconds)}
    if baseline is not None:
        results["baseline"] = measure(baseline, providers, args.threads, batches, args.seconds)
    result = {"trainable_parameters": trainable_parameters(), "load_average_1m": round(load, 2), **results}
    learned = ", ".join(f"{name} {r['parameters']['learned']}" for name, r in results.items())  # type: ignore[index]
    print(
        f"parameters: one FusionNet (PyTorch, this code) {result['trainable_parameters'] or 'n/a'} trainable;"
        f" learned, in each file (an ensemble holds several networks): {learned}"
    )
    header = f"{'':>9} {'version':>9} {'MB':>6} {'GFLOP/win':>10}" + "".join(
        f" {'b' + str(b) + ' win/s':>11}" for b in batches
    )
    print(header)
    for name, r in results.items():
        runs = r["runs"]
        assert isinstance(runs, list)
        flops = r["flops_per_window"]
        assert isinstance(flops, int)
        print(
            f"{name:>9} {r['model_version']!s:>9} {r['size_mb']!s:>6} {flops / 1e9:>10.3f}"
            + "".join(f" {x['windows_per_s']:>11}" for x in runs)
        )
    if baseline is not None:
        m, b = results["model"], results["baseline"]
        assert isinstance(m["runs"], list) and isinstance(b["runs"], list)
        ratios = [
            x["windows_per_s"] / max(y["windows_per_s"], 1e-9)
            for x, y in zip(m["runs"], b["runs"], strict=True)
        ]
        print(
            f"{'ratio':>9} {'':>9} {'':>6} {float(m['flops_per_window']) / max(float(b['flops_per_window']), 1.0):>10.2f}"  # type: ignore[arg-type]
            + "".join(f" {r:>11.2f}" for r in ratios)
        )
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
