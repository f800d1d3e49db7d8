#!/usr/bin/env bash
# One-command GPU benchmark of the committed model on a machine with CUDA (and optionally TensorRT).
# Usage: bash bench/gpu_model.sh [MODEL.onnx]
# Prints the GPU, then windows/s at batch 1/8/32/128 for TensorRT (if it loads), CUDA, and CPU for
# reference, all in the same run so the numbers compare. Needs: .venv with onnxruntime-gpu.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
MODEL=${1:-models/default/vigil-av-fusion.onnx}
SECONDS_PER=${SECONDS_PER:-5}
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PY" -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())"
echo "== CPU (reference, $(nproc) threads)"
"$PY" -m bench.bench_model --model "$MODEL" --providers CPUExecutionProvider --threads "$(nproc)" \
  --batches 1,8,32 --seconds "$SECONDS_PER"
echo "== CUDA"
"$PY" -m bench.bench_model --model "$MODEL" --providers CUDAExecutionProvider,CPUExecutionProvider \
  --batches 1,8,32,128 --seconds "$SECONDS_PER"
echo "== TensorRT (falls back to CUDA for unsupported nodes; first call builds engines)"
"$PY" -m bench.bench_model --model "$MODEL" \
  --providers TensorrtExecutionProvider,CUDAExecutionProvider,CPUExecutionProvider \
  --batches 1,8,32,128 --seconds "$SECONDS_PER" || echo "TensorRT provider failed to run (see above)"
