#!/usr/bin/env bash
# The GPU verification of the CUDA kernels in one call, for a machine with a
# GPU and no network (the device tool): builds the extension from source
# against the machine's torch, runs the CUDA tests and the CUDA benchmarks
# (float32 and bfloat16, with the GEMM-rate and bandwidth probes) and leaves
# the logs and the benchmark JSON in $OUT (default gpu-verify/). Turn the
# JSON into tables here with benchmarks/report.py.
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

echo "gpu_verify: CUDA benchmarks ($(date -u +%H:%M:%S))"
python3 -m pytest benchmarks -q -p no:cacheprovider -k "cuda and not test_model" \
  --benchmark-json="$OUT/results-cuda.json" > "$OUT/benchmarks.log" 2>&1
benchmarks=$?
tail -3 "$OUT/benchmarks.log"
echo "gpu_verify: done ($(date -u +%H:%M:%S)); tests rc=$tests, benchmarks rc=$benchmarks"
exit $(( tests || benchmarks ))
