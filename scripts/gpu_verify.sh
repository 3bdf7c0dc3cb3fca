#!/usr/bin/env bash
# The GPU verification of the CUDA kernels in one call, for a machine with a
# GPU and no network (the device tool), in about 10 minutes on 16 cores:
#   1. builds the extension from source against the machine's torch (sm_90);
#   2. runs the CUDA tests (tests/test_cuda.py);
#   3. runs a small CosamLayer forward and backward under compute-sanitizer's
#      memcheck, racecheck and synccheck, where the tool is installed;
#   4. trains the demo's model on the synthetic set on the GPU with AMP for
#      a few dozen steps through the real engine, then evaluates it;
#   5. runs the CUDA benchmarks (float32 and bfloat16, with the GEMM-rate and
#      bandwidth probes).
# Logs and the benchmark JSON go to $OUT (default gpu-verify/). Turn the
# JSON into tables here with benchmarks/report.py, and hold them against
# the predictions of benchmarks/gpu_model.py (docs/gpu-performance-model.md).
#
# The tests need hypothesis, which such a machine may lack: download its
# wheels for that machine's Python (3.12 on the device tool's) first and carry
# the folder along:
#
#   python3 -m pip download -d .gpu-wheels --only-binary=:all: --python-version 3.12 hypothesis
#   bash scripts/gpu_verify.sh          # there; TORCH_CUDA_ARCH_LIST defaults to 9.0 (H100, H200)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-verify}
mkdir -p "$OUT"

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
if [ -d .gpu-wheels ]; then
  python3 -m pip install -q --no-index --find-links .gpu-wheels hypothesis > "$OUT/pip.log" 2>&1
fi
echo "gpu_verify: building ($(date -u +%H:%M:%S))"
if ! TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} MAX_JOBS=${MAX_JOBS:-$(nproc)} \
    python3 setup.py build_ext --inplace > "$OUT/build.log" 2>&1; then
  tail -40 "$OUT/build.log"
  exit 1
fi
python3 -m cosam_ext.info > "$OUT/info.txt" 2>&1

echo "gpu_verify: CUDA tests ($(date -u +%H:%M:%S))"
python3 -m pytest tests/test_cuda.py -q -rs -p no:cacheprovider > "$OUT/test_cuda.log" 2>&1
tests=$?
tail -3 "$OUT/test_cuda.log"

echo "gpu_verify: compute-sanitizer ($(date -u +%H:%M:%S))"
sanitizer=0
if command -v compute-sanitizer > /dev/null; then
  cat > "$OUT/sanitized_layer.py" <<'PY'
import torch
from cosam_ext import CosamLayer

layer = CosamLayer(64, 4, (6, 5), reduced_channels=32).cuda().train()
x = torch.randn(8, 64, 6, 5, device="cuda", requires_grad=True)
layer(x).square().sum().backward()
with torch.autocast("cuda", dtype=torch.bfloat16):
    layer(x).float().square().sum().backward()
torch.cuda.synchronize()
print("sanitized layer: ok")
PY
  for tool in memcheck racecheck synccheck; do
    compute-sanitizer --tool "$tool" --error-exitcode 1 python3 "$OUT/sanitized_layer.py" \
      > "$OUT/sanitizer-$tool.log" 2>&1 || sanitizer=1
    echo "  $tool: $(tail -1 "$OUT/sanitizer-$tool.log")"
  done
else
  echo "  compute-sanitizer not installed: skipped" | tee "$OUT/sanitizer.log"
fi

echo "gpu_verify: AMP training on the GPU ($(date -u +%H:%M:%S))"
# The demo's model and synthetic set, on CUDA with mixed precision: 4 epochs
# of 6 batches, then the trained model's evaluation.
# Data and checkpoint stay out of $OUT: only the log comes back.
SCRATCH=$(mktemp -d)
python3 -m cosam_reid.cli demo --root "$SCRATCH/data" --output "$SCRATCH/amp-run" \
  train.device=cuda train.amp=true train.epochs=4 > "$OUT/amp-training.log" 2>&1
training=$?
tail -5 "$OUT/amp-training.log"

echo "gpu_verify: CUDA benchmarks ($(date -u +%H:%M:%S))"
python3 -m pytest benchmarks -q -p no:cacheprovider -k "cuda and not test_model" \
  --benchmark-json="$OUT/results-cuda.json" > "$OUT/benchmarks.log" 2>&1
benchmarks=$?
tail -3 "$OUT/benchmarks.log"
echo "gpu_verify: done ($(date -u +%H:%M:%S)); tests rc=$tests, sanitizer rc=$sanitizer," \
  "training rc=$training, benchmarks rc=$benchmarks"
exit $(( tests || sanitizer || training || benchmarks ))
