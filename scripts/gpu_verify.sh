#!/usr/bin/env bash
# The GPU verification of the CUDA kernels, shaped for a borrowed GPU machine
# (the project's: one H200, 16 cores, its own Python and torch, no network,
# at most 10 minutes a command and 8 files back from $OUT), in two calls:
#
#   bash scripts/gpu_verify.sh core    # the one that matters: <= 7 minutes
#   bash scripts/gpu_verify.sh extra   # optional: AMP training, benchmarks
#
# core:  device   a GPU is visible (fails loudly if not)
#        build    the extension from source against the machine's torch:
#                 FORCE_CUDA=1, sm_90 only, -lineinfo
#        tests    tests/test_cuda.py; any skip but test_second_device's fails
#        sanitizer  every CUDA kernel in float32 and bfloat16 (a P > 256 map,
#                 a grid of more than 65,535 blocks, a grid-stride loop that
#                 wraps) under compute-sanitizer memcheck, racecheck,
#                 synccheck and initcheck, in parallel, limited to the cosam
#                 kernels, without the caching allocator; each log must hold
#                 the workload's own "ok" line and "0 errors"
#        kernel-times  profiler kernel times at the modelled cases of
#                 docs/gpu-performance-model.md, beside the predictions
# extra: device, build (a no-op on a machine still warm from core), the demo
#        trained on CUDA with AMP (the loss falls, GradScaler skips no step),
#        the CUDA benchmarks module by module, the JSON rewritten after each.
#
# Every step runs under `timeout` with its limit from LIMIT below; a call's
# limits add up to at most its budget, checked before anything runs, so a
# call ends inside the device's per-command limit with its logs written. The
# exit status is non-zero if any step failed or timed out. $OUT (default
# gpu-verify/) gets at most 8 files: summary.txt (each step's status and
# time), one log per step, and the JSON; the script fails if more would be
# there.
#
# --dry-run rehearses a call on a machine without a GPU (CI does, through
# `make gpu-verify-dry-run`): the same steps, entry points, imports, paths and
# $OUT handling, with the CUDA parts replaced by the smallest CPU stand-in
# (a CPU build; test_cuda.py collected, and required to fail when told a GPU
# is required; the sanitizer workload run without the tool; kernel times of
# the CPU ops on tiny shapes; the demo for an epoch on the CPU; every
# benchmark once on tiny shapes), in an interpreter that sees the host's
# packages but no installed cosam_ext or cosam_reid, as on the GPU machine.
# Limits are multiplied by DRY_RUN_SLOWER there: these are 2-core numbers.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

usage() {
  echo "usage: bash scripts/gpu_verify.sh [--dry-run] core|extra" >&2
  exit 2
}
DRY_RUN=0
CALL=
for arg in "$@"; do
  case $arg in
    --dry-run) DRY_RUN=1 ;;
    core | extra) CALL=$arg ;;
    *) usage ;;
  esac
done
[ -n "$CALL" ] || usage

# Seconds per step on the GPU machine. Expected times (16 cores, H200, on
# paper): device 5, build 45-80 (6 .cu and 9 .cpp files, one architecture:
# the slowest, ncc_summary.cu, compiles in 34 s on one core here),
# tests 60-90 (90 cases; torch.compile's first compile and the float64 CPU
# reference at COSAM_2's maps most of it),
# sanitizer 40-80 (four tools side by side, each a torch start under the tool
# and about 1 ms of kernels), kernel-times 15-25, amp-demo 60-120 (the
# synthetic set written on one core, then one epoch and two evaluations),
# benchmarks 90-180 (about 180 benchmarks of at most 20 rounds).
declare -A LIMIT=(
  [device]=15 [build]=110 [tests]=130 [sanitizer]=110 [kernel-times]=45
  [amp-demo]=180 [benchmarks]=230
)
declare -A STEPS=([core]="device build tests sanitizer kernel-times" [extra]="device build amp-demo benchmarks")
# The device tool allows 600 s a command; core must end within 7 minutes,
# with a few seconds for writing the summary.
declare -A BUDGET=([core]=410 [extra]=540)
DRY_RUN_SLOWER=5

OUT=${OUT:-gpu-verify}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
SUMMARY=$OUT/summary.txt
DRY_FLAG=
DEVICE=cuda
if (( DRY_RUN )); then
  DRY_FLAG=--dry-run
  DEVICE=cpu
fi
# Nothing of the project is installed on the GPU machine: each step puts the
# op library (the repository root, built in place) and, where it needs it,
# the re-ID stack (python/) on the path itself.
OPS_PATH=$ROOT
REID_PATH=$ROOT:$ROOT/python
export ROOT OUT SCRATCH DRY_RUN DRY_FLAG DEVICE OPS_PATH REID_PATH PYTHONUNBUFFERED=1

log() {
  echo "gpu_verify: $*" | tee -a "$SUMMARY"
}

# An interpreter like the GPU machine's: the host's packages (torch, pytest,
# ...) but not the .pth files that an editable install of this project adds.
# At a fixed place (the build folder), so that a second build reuses the
# first one's objects: the interpreter's path is on the compile lines.
isolate_python() {
  local venv=$ROOT/build/gpu-verify-python site
  rm -rf "$venv"
  python3 -m venv --without-pip "$venv" || return 1
  site=$("$venv/bin/python3" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  python3 -c 'import site; print("\n".join(site.getsitepackages()))' > "$site/host-site-packages.pth"
  export PATH=$venv/bin:$PATH
  if (cd / && python3 -c 'import cosam_ext' 2> /dev/null) || (cd / && python3 -c 'import cosam_reid' 2> /dev/null); then
    log "the rehearsal's interpreter still imports an installed cosam_ext or cosam_reid"
    return 1
  fi
}

# --- the steps: each a function, run by `step` below --------------------------

step_device() {
  if (( ! DRY_RUN )); then
    nvidia-smi || return 1
  fi
  PYTHONPATH=$OPS_PATH python3 scripts/gpu_verify_steps.py device $DRY_FLAG
}

step_build() {
  if (( DRY_RUN )); then
    FORCE_ONLY_CPU=1 python3 setup.py build_ext --inplace || return 1
  else
    # The cuBLAS and cuSPARSE headers, where the toolkit lacks them, come from
    # the nvidia wheels that torch depends on.
    local include
    include=$(python3 scripts/gpu_verify_steps.py nvidia-include-path) || return 1
    CPATH=$include${CPATH:+:$CPATH} FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=9.0 \
      NVCC_APPEND_FLAGS="-lineinfo${NVCC_APPEND_FLAGS:+ $NVCC_APPEND_FLAGS}" MAX_JOBS=$(nproc) \
      python3 setup.py build_ext --inplace || return 1
  fi
  PYTHONPATH=$OPS_PATH python3 -m cosam_ext.info &&
    PYTHONPATH=$OPS_PATH python3 scripts/gpu_verify_steps.py kernels-registered --device "$DEVICE"
}

step_tests() {
  local args=(tests/test_cuda.py -q -rs -p no:cacheprovider)
  if (( DRY_RUN )); then
    # What makes the real run fail without a GPU, instead of skipping.
    if COSAM_REQUIRE_CUDA=1 PYTHONPATH=$OPS_PATH python3 -m pytest "${args[@]}" -x; then
      echo "FAILED: with COSAM_REQUIRE_CUDA=1 and no GPU, tests/test_cuda.py passed"
      return 1
    fi
    echo "(as required: with COSAM_REQUIRE_CUDA=1 and no GPU, tests/test_cuda.py fails)"
    PYTHONPATH=$OPS_PATH python3 -m pytest "${args[@]}"
    return
  fi
  COSAM_REQUIRE_CUDA=1 PYTHONPATH=$OPS_PATH python3 -m pytest "${args[@]}" | tee "$SCRATCH/tests.out"
  local rc=${PIPESTATUS[0]}
  # One GPU cannot run test_second_device; any other skip is a failure.
  if grep '^SKIPPED' "$SCRATCH/tests.out" | grep -v 'needs two GPUs'; then
    echo "FAILED: tests above were skipped"
    return 1
  fi
  return "$rc"
}

sanitized_run() {
  local tool=$1 prefix=()
  if [ "$tool" != none ]; then
    prefix=(compute-sanitizer --tool "$tool" --kernel-name kns=cosam --error-exitcode 1 --print-limit 20)
  fi
  PYTORCH_NO_CUDA_MEMORY_CACHING=1 PYTHONPATH=$OPS_PATH \
    "${prefix[@]}" python3 scripts/gpu_verify_steps.py sanitizer-workload --device "$DEVICE" \
    > "$SCRATCH/sanitizer-$tool.log" 2>&1
}

step_sanitizer() {
  local tools=(memcheck racecheck synccheck initcheck) tool failed=0
  PYTHONPATH=$OPS_PATH python3 scripts/gpu_verify_steps.py sanitizer-workload --device "$DEVICE" --check-coverage ||
    failed=1
  if (( DRY_RUN )); then
    tools=(none)  # the workload as the tools would run it, without them
  elif ! command -v compute-sanitizer > /dev/null; then
    echo "FAILED: compute-sanitizer is not on the PATH"
    return 1
  fi
  local -A pids
  for tool in "${tools[@]}"; do
    sanitized_run "$tool" &
    pids[$tool]=$!
  done
  for tool in "${tools[@]}"; do
    wait "${pids[$tool]}"
    local rc=$? log=$SCRATCH/sanitizer-$tool.log
    echo "=== $tool (rc=$rc)"
    cat "$log"
    # A log without the workload's own last line ended early: an import
    # error or a crash under the tool, whatever the tool's summary says.
    if ! grep -q '^sanitizer workload: ok' "$log"; then
      echo "FAILED: $tool: the workload did not finish"
      failed=1
    elif (( rc )); then
      echo "FAILED: $tool: rc=$rc"
      failed=1
    # memcheck, synccheck and initcheck end with "ERROR SUMMARY: 0 errors",
    # racecheck with "RACECHECK SUMMARY: 0 hazards displayed (...)".
    elif [ "$tool" != none ] && ! grep -Eq '(ERROR SUMMARY: 0 errors|RACECHECK SUMMARY: 0 hazards)' "$log"; then
      echo "FAILED: $tool: no clean summary line"
      failed=1
    fi
  done
  return "$failed"
}

step_kernel_times() {
  local args=(--device "$DEVICE")
  (( DRY_RUN )) && args+=(--smoke)
  PYTHONPATH=$OPS_PATH python3 benchmarks/kernel_times.py "${args[@]}" --json "$OUT/kernel-times.json"
}

step_amp_demo() {
  local overrides=(train.device=cuda train.amp=true train.epochs=1)
  if (( DRY_RUN )); then
    overrides=(train.device=cpu train.amp=true train.epochs=2
      'data.dataset_options={num_identities: 16, tracklet_length: [8, 10]}')
  fi
  # Data and checkpoint stay out of $OUT: only the log comes back.
  PYTHONPATH=$REID_PATH python3 -m cosam_reid.cli demo --root "$SCRATCH/data" --output "$SCRATCH/amp-run" \
    "${overrides[@]}" &&
    PYTHONPATH=$OPS_PATH python3 scripts/gpu_verify_steps.py check-amp-run "$SCRATCH/amp-run" $DRY_FLAG
}

step_benchmarks() {
  local select=(-k cuda) module part failed=0 results=$OUT/results-$DEVICE.json
  (( DRY_RUN )) && select=(--smoke)
  rm -f "$results"
  # Module by module, the most wanted first, each merged into the JSON at
  # once: a kill loses one module's timings, not all of them.
  local first=(test_ops test_layer test_roofline test_model) rest
  rest=$(cd benchmarks && ls test_*.py | sed 's/\.py$//' | grep -vxF "$(printf '%s\n' "${first[@]}")")
  for module in "${first[@]}" $rest; do
    part=$SCRATCH/$module.json
    PYTHONPATH=$REID_PATH python3 -m pytest "benchmarks/$module.py" -q -p no:cacheprovider "${select[@]}" \
      --benchmark-json="$part"
    case $? in
      0) ;;
      5) echo "benchmarks/$module.py: nothing selected"; continue ;;
      *) failed=1 ;;
    esac
    if [ -f "$part" ]; then
      PYTHONPATH=$OPS_PATH python3 scripts/gpu_verify_steps.py merge-benchmarks "$results" "$part" || failed=1
    fi
  done
  return "$failed"
}

# --- running them --------------------------------------------------------------

FAILED=()
# step NAME: runs step_NAME under `timeout` with its LIMIT, its output to
# $OUT/NAME.log; records its status and time in the summary.
step() {
  local name=$1 limit=${LIMIT[$1]:-} start=$SECONDS rc status
  if [[ ! $limit =~ ^[1-9][0-9]*$ ]] || [[ " ${STEPS[$CALL]} " != *" $name "* ]]; then
    log "$name: FAILED: no time limit in this call's budget"
    FAILED+=("$name")
    return
  fi
  (( DRY_RUN )) && limit=$(( limit * DRY_RUN_SLOWER ))
  timeout --kill-after=10 "$limit" bash -c "step_${name//-/_}" > "$OUT/$name.log" 2>&1
  rc=$?
  case $rc in
    0) status=ok ;;
    124 | 137) status="FAILED: timed out after ${limit}s" ;;
    *) status="FAILED: rc=$rc" ;;
  esac
  log "$(printf '%-13s %-32s %4d s (limit %d s)' "$name" "$status" $(( SECONDS - start )) "$limit")"
  if (( rc )); then
    FAILED+=("$name")
    tail -15 "$OUT/$name.log"
  fi
}

export -f log step_device step_build step_tests sanitized_run step_sanitizer step_kernel_times \
  step_amp_demo step_benchmarks
export SUMMARY

: > "$SUMMARY"
log "$CALL call$( (( DRY_RUN )) && echo ' (dry run on the CPU)'), $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(hostname)"
planned=0
for name in ${STEPS[$CALL]}; do
  planned=$(( planned + ${LIMIT[$name]:-0} ))
done
if (( planned > BUDGET[$CALL] )); then
  log "FAILED: the $CALL call's step limits add up to ${planned} s, over its budget of ${BUDGET[$CALL]} s"
  exit 1
fi
log "step limits add up to ${planned} s of the $CALL call's ${BUDGET[$CALL]} s"
if (( DRY_RUN )); then
  isolate_python || exit 1
fi

for name in ${STEPS[$CALL]}; do
  step "$name"
  # Nothing after a failed build or a missing GPU can mean anything.
  if [[ " ${FAILED[*]} " == *" $name "* && ( $name == device || $name == build ) ]]; then
    break
  fi
done
if [ "$CALL" = core ] && grep -q 'needs two GPUs' "$OUT/tests.log" 2> /dev/null; then
  log "device guard UNVERIFIED: one GPU, so test_second_device could not run"
fi
if ! python3 scripts/gpu_verify_steps.py check-out "$OUT" > "$SCRATCH/check-out.log" 2>&1; then
  FAILED+=(files-back)
fi
while read -r line; do log "$line"; done < "$SCRATCH/check-out.log"
if (( ${#FAILED[@]} )); then
  log "FAILED: ${FAILED[*]}"
  exit 1
fi
log "all steps passed"
