#!/usr/bin/env bash
# Compile-and-link check of the CUDA backend, for machines without a GPU.
#
# Builds the whole extension (CPU and CUDA sources) against the CUDA 13.0
# build of torch, kept in its own venv outside the source tree, into a
# temporary directory: the source tree's cosam_ext/_C.abi3.so belongs to the
# CPU torch and is left alone. Then loads the result in that venv and checks
# that the CUDA kernels and the autocast rules are registered and the CPU ops run.
# ptxas reports each kernel's registers, spills and static shared memory
# (-Xptxas -v, in the log); a spill, or more static shared memory than a
# block may have (48 KiB), fails the check. Any compile, link or load error
# makes it exit non-zero.
#
#   COSAM_CUDA_VENV       the venv (default ~/.cache/cosam_ext/venv-cu130)
#   TORCH_CUDA_ARCH_LIST  architectures to compile (default 9.0: one is
#                         enough to catch errors, and each costs build time)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${COSAM_CUDA_VENV:-$HOME/.cache/cosam_ext/venv-cu130}
BUILD=$(mktemp -d)
trap 'rm -rf "$BUILD"' EXIT

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
# torch 2.14.1 is the CUDA 13.0 build (about 5.5 GB; a no-op once installed).
"$VENV/bin/python" -m pip install -q torch==2.14.1 numpy ninja setuptools wheel

# The toolkit under /usr/local/cuda has the compiler and runtime headers only;
# cuBLAS and cuSPARSE headers come from the nvidia packages torch pulls in.
INCLUDE=$("$VENV/bin/python" "$ROOT/scripts/gpu_verify_steps.py" nvidia-include-path)
echo "check_cuda_build: building with TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}"
(
  cd "$ROOT"
  FORCE_CUDA=1 \
  CUDA_HOME=${CUDA_HOME:-/usr/local/cuda} \
  CPATH="$INCLUDE${CPATH:+:$CPATH}" \
  TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} \
  MAX_JOBS=${MAX_JOBS:-2} \
  NVCC_APPEND_FLAGS="-Xptxas -v${NVCC_APPEND_FLAGS:+ $NVCC_APPEND_FLAGS}" \
    "$VENV/bin/python" setup.py -q build_ext --build-lib "$BUILD/lib" --build-temp "$BUILD/temp"
) 2>&1 | tee "$BUILD/build.log"

# ptxas prints, per kernel, "Compiling entry function '<mangled>'" and then
# "Used N registers, ... S bytes smem" and "B bytes stack frame, T bytes
# spill stores, L bytes spill loads".
echo "check_cuda_build: ptxas resources per kernel (sm_90):"
"$VENV/bin/python" - "$BUILD/build.log" <<'PY'
import re
import subprocess
import sys

SHARED_LIMIT = 48 * 1024  # static shared memory per block
kernels, kernel = {}, None
for line in open(sys.argv[1], errors="replace"):
    if m := re.search(r"Compiling entry function '(\w+)'", line):
        kernel = kernels.setdefault(m.group(1), {})
    elif kernel is not None and (m := re.search(r"Used (\d+) registers", line)):
        kernel["registers"] = int(m.group(1))
        smem = re.search(r"(\d+) bytes smem", line)
        kernel["smem"] = int(smem.group(1)) if smem else 0
    elif kernel is not None and (m := re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)):
        kernel["spills"] = int(m.group(1)) + int(m.group(2))
if not kernels:
    sys.exit("check_cuda_build: no ptxas report in the build log (-Xptxas -v not applied?)")
names = subprocess.run(["c++filt"], input="\n".join(kernels), capture_output=True, text=True).stdout.split("\n")
failed = False
for (mangled, info), name in zip(kernels.items(), names):
    name = re.sub(r"\(.*", "", name)
    print(f"  {info.get('registers', '?'):>4} registers {info.get('smem', 0):>6} B smem "
          f"{info.get('spills', 0):>4} B spilled  {name}")
    if info.get("spills", 0) > 0 or info.get("smem", 0) > SHARED_LIMIT:
        print(f"check_cuda_build: {name}: spills registers or exceeds {SHARED_LIMIT} B of static shared memory")
        failed = True
sys.exit(1 if failed else 0)
PY

# The built library beside a copy of the Python package, imported from there
# (not from the source tree).
(cd "$ROOT" && find cosam_ext -name '*.py' -exec cp --parents {} "$BUILD/lib/" \;)
cd "$BUILD/lib"
PYTHONPATH=$BUILD/lib "$VENV/bin/python" "$ROOT/scripts/gpu_verify_steps.py" kernels-registered --device cuda
"$VENV/bin/python" - <<'PY'
import os

import torch

import cosam_ext
from cosam_ext import ops, reference

assert cosam_ext.__file__.startswith(os.getcwd()), cosam_ext.__file__

x = torch.randn(6, 5, 3, 2, dtype=torch.float64, requires_grad=True)
weight = torch.randn(4, 2 * 6, dtype=torch.float64, requires_grad=True)
bias = torch.randn(4, dtype=torch.float64)
torch.testing.assert_close(ops.ncc_summary(x, weight, bias, 3), reference.ncc_summary(x, weight, bias, 3))
torch.testing.assert_close(ops.ncc_cost_volume(x, 3), reference.ncc_cost_volume(x, 3))
assert torch.autograd.gradcheck(lambda x, weight: ops.ncc_summary(x, weight, bias, 3), (x, weight))
print(f"check_cuda_build: ok (torch {torch.__version__}, CUDA {torch.version.cuda}: "
      "CUDA kernels and autocast rules registered, CPU ops match the reference)")
PY
