#!/usr/bin/env bash
# Builds the cosam_ext wheel against the torch of $PYTHON (default python3):
#
#   bash scripts/build_wheel.sh [DIST]       # make wheel; DIST defaults to dist/
#
# The wheel is named for what it was built for: cosam_ext-0.1.0+pt213cpu-...
# with a CPU torch, +pt214cu130 with the CUDA 13.0 build of torch 2.14 and a
# CUDA toolkit (CUDA_HOME). setup.py's switches pass through: FORCE_CUDA=1
# (CUDA kernels with no GPU visible), FORCE_ONLY_CPU=1, TORCH_CUDA_ARCH_LIST
# (default: the architectures the installed torch was built for), MAX_JOBS.
#
# It builds from a copy of the files git knows (committed or not; ignored
# ones left out), so nothing stale from the source tree's build/ or in-place
# library reaches the wheel and the source tree is not written to. pip runs
# with --no-build-isolation: an isolated build would install a torch of its
# own choosing to compile against, and the wheel would not load beside yours.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
DIST=$(mkdir -p "${1:-$ROOT/dist}" && cd "${1:-$ROOT/dist}" && pwd)
SOURCE=$(mktemp -d)
STAMP=$(mktemp)  # wheels newer than this are this build's
trap 'rm -rf "$SOURCE" "$STAMP"' EXIT

git -C "$ROOT" ls-files -z --cached --others --exclude-standard \
  | (cd "$ROOT" && tar --null --ignore-failed-read -T - -cf -) | tar -xf - -C "$SOURCE"
"$PYTHON" -m pip wheel --no-build-isolation --no-deps -w "$DIST" "$SOURCE"
echo "build_wheel: built against $("$PYTHON" -c 'import torch; print("torch", torch.__version__)'):"
find "$DIST" -maxdepth 1 -name 'cosam_ext-*.whl' -newer "$STAMP" -exec ls -l {} +
