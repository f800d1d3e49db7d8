#!/usr/bin/env bash
# One-command GPU benchmark of the fusion service on a CUDA machine (not run in CI; no GPU needed to read it).
# Usage: bash bench/gpu_fusion.sh [MODEL.onnx]
# Prints the GPU, then, for CUDA and TensorRT: windows/s of the whole fusion service (in-memory bus:
# decode, windows, batching, inference, produce) and of bare ONNX Runtime on the same batches, with
# p99 batch latency, at max batch 1/8/32/64 (64 cameras so batches can fill). CPU for reference.
# Needs: .venv with onnxruntime-gpu (make install). Env: CAMERAS, SECONDS_MEDIA, REPEATS, CODEC.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
MODEL=${1:-models/default/vigil-av-fusion.onnx}
CAMERAS=${CAMERAS:-64}
SECONDS_MEDIA=${SECONDS_MEDIA:-12}
REPEATS=${REPEATS:-3}
CODEC=${CODEC:-jpeg}
BATCHES=${BATCHES:-1,8,32,64}
common=(--model "$MODEL" --cameras "$CAMERAS" --seconds "$SECONDS_MEDIA" --repeats "$REPEATS" --codec "$CODEC")
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PY" -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())"
echo "== CUDA"
"$PY" -m bench.bench_fusion "${common[@]}" --batches "$BATCHES" \
  --providers CUDAExecutionProvider,CPUExecutionProvider
echo "== TensorRT (first calls build engines; falls back to CUDA for unsupported nodes)"
"$PY" -m bench.bench_fusion "${common[@]}" --batches "$BATCHES" \
  --providers TensorrtExecutionProvider,CUDAExecutionProvider,CPUExecutionProvider \
  || echo "TensorRT provider failed to run (see above)"
echo "== CPU (reference, $(nproc) cores)"
"$PY" -m bench.bench_fusion "${common[@]}" --batches 16 --providers CPUExecutionProvider
