"""The Python steps of scripts/gpu_verify.sh, one subcommand each.

    python3 scripts/gpu_verify_steps.py device [--dry-run]
    python3 scripts/gpu_verify_steps.py nvidia-include-path
    python3 scripts/gpu_verify_steps.py kernels-registered --device cuda
    python3 scripts/gpu_verify_steps.py sanitizer-workload --device cuda [--check-coverage]
    python3 scripts/gpu_verify_steps.py check-amp-run RUN_DIR [--dry-run]
    python3 scripts/gpu_verify_steps.py merge-benchmarks OUT_JSON PART_JSON
    python3 scripts/gpu_verify_steps.py check-out OUT_DIR

Each prints what it found and exits non-zero when the check fails.
Imports torch and cosam_ext only (cosam_reid's run folder is read as files).
"""
import argparse
import csv
import json
import math
import os
import re
import sys

#: What the device tool brings back from $OUT (its documented limits).
MAX_FILES, MAX_FILE_BYTES, MAX_TOTAL_BYTES, MAX_FOLDERS_DOWN = 8, 16 << 20, 64 << 20, 2
FILE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")

#: Every CUDA kernel of csrc/cuda/kernels/. The sanitizer workload must launch
#: each one, in float32 and in bfloat16.
KERNELS = (
    "normalize_kernel", "normalize_backward_kernel",
    "slot_sums_kernel", "slot_sums_backward_kernel",
    "masked_mean_kernel", "masked_mean_backward_kernel",
    "apply_attention_kernel", "apply_attention_backward_rows_kernel",
    "apply_attention_backward_positions_kernel",
)
#: The compiled ops (csrc/ops.cpp). On the CPU (the rehearsal) the sanitizer
#: workload is checked op by op.
CPU_OPS = (
    "cosam::ncc_summary", "cosam::ncc_summary_backward", "cosam::ncc_cost_volume",
    "cosam::ncc_cost_volume_backward", "cosam::masked_mean", "cosam::masked_mean_backward",
    "cosam::apply_attention", "cosam::apply_attention_backward", "cosam::apply_attention_channel_grad",
)

#: torch.amp.GradScaler's default init_scale, which the trainer keeps.
INITIAL_SCALE = 2.0**16

# Launch limits of csrc/cuda/kernels/launch_shape.cuh: kThreads threads per
# block, at most kMaxBlocks blocks in a grid-stride launch.
THREADS, MAX_BLOCKS = 256, 65536

#: (name, B, N, C, H, W) of the workload's maps. D (the reduced channels of
#: the NCC ops) is min(C, 32).
WORKLOAD = (
    # P = 320: longer than one 256-thread row block, several 32-position tiles.
    ("long rows", 2, 4, 64, 20, 16),
    # 8 x 8320 = 66,560 (frame, channel) rows: masked_mean_kernel and
    # apply_attention_backward_rows_kernel launch grids of more than 65,535 blocks.
    ("wide grid", 2, 4, 8320, 2, 2),
    # 4 x 1024 x 4160 = 17,039,360 elements, more than 65,536 blocks x 256
    # threads: apply_attention_kernel's grid-stride loop wraps.
    ("grid-stride wrap", 1, 4, 1024, 64, 65),
)


def device_step(args):
    import torch

    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, Python {sys.version.split()[0]}")
    if args.dry_run:
        print("rehearsal on the CPU: no GPU is looked for")
        return 0
    if not torch.cuda.is_available():
        print("FAILED: torch.cuda.is_available() is False: no GPU is visible to this torch")
        return 1
    properties = torch.cuda.get_device_properties(0)
    print(f"GPU 0 of {torch.cuda.device_count()}: {properties.name}, compute capability "
          f"{properties.major}.{properties.minor}, {properties.multi_processor_count} SMs, "
          f"{properties.total_memory / 2**30:.0f} GiB")
    return 0


def nvidia_include_path_step(args):
    """The include folders of the nvidia wheels (site-packages/nvidia/...)
    that hold the cuBLAS or cuSPARSE headers, joined for CPATH."""
    import glob
    import site

    folders = {
        os.path.dirname(header)
        for root in site.getsitepackages()
        for name in ("cublas_v2.h", "cusparse.h")
        for header in glob.glob(os.path.join(root, "nvidia", "**", "include", name), recursive=True)
    }
    print(":".join(sorted(folders)))
    return 0


def kernels_registered_step(args):
    """Every compiled cosam op has its CPU kernel and, for --device cuda, its
    CUDA kernel: a build that quietly left the CUDA sources out fails here.
    And every forward op has its autocast rules on both devices (registered
    from Python, cosam_ext/ops/autocast.py). Needs no GPU."""
    import torch

    import cosam_ext  # noqa: F401  (registers the ops)

    wanted = [(op, "CPU") for op in CPU_OPS]
    if args.device == "cuda":
        wanted += [(op, "CUDA") for op in CPU_OPS]
    wanted += [(f"cosam::{op}", key) for op in cosam_ext.ops.autocast.AUTOCAST_RULES
               for key in ("AutocastCPU", "AutocastCUDA")]
    missing = [f"{op} ({key})" for op, key in wanted if not torch._C._dispatch_has_kernel_for_dispatch_key(op, key)]
    if missing:
        print(f"FAILED: no kernel for {', '.join(missing)}")
        return 1
    print(f"kernels registered: ok ({len(wanted)} op and dispatch-key pairs)")
    return 0


def workload_inputs(shape, dtype, device):
    """x, spatial mask, channel mask, summary weight and bias, num_frames."""
    import torch

    _, clips, frames, channels, height, width = shape
    generator = torch.Generator().manual_seed(0)
    reduced = min(channels, 32)
    hidden = max(1, channels // 16)

    def draw(*size, uniform=False):
        values = (torch.rand if uniform else torch.randn)(*size, generator=generator)
        return values.to(device, dtype).requires_grad_(True)

    return dict(
        x=draw(clips * frames, channels, height, width),
        features=draw(clips * frames, reduced, height, width),
        spatial_mask=draw(clips * frames, 1, height, width, uniform=True),
        channel_mask=draw(clips, channels, uniform=True),
        weight=draw(8, (frames - 1) * height * width),
        bias=draw(8),
        # The channel MLP C -> hidden -> C of channel_attention.
        weight1=draw(hidden, channels),
        bias1=draw(hidden),
        weight2=draw(channels, hidden),
        bias2=draw(channels),
        num_frames=frames,
    )


def run_workload(device, dtypes):
    """Every cosam op forward and backward at every WORKLOAD shape and dtype.
    Returns the number of op calls."""
    import torch

    from cosam_ext import ops

    calls = 0
    for dtype in dtypes:
        for shape in WORKLOAD:
            t = workload_inputs(shape, dtype, device)
            outputs = [
                ops.masked_mean(t["x"], t["spatial_mask"]),
                ops.apply_attention(t["x"], t["spatial_mask"], t["channel_mask"], t["num_frames"]),
                # Its backward: apply_attention_channel_grad, then apply_attention_backward with grad_pooled.
                ops.channel_attention(
                    t["x"], t["spatial_mask"], t["weight1"], t["bias1"], t["weight2"], t["bias2"], t["num_frames"]
                )[0],
            ]
            if shape[0] != "grid-stride wrap":  # the NCC ops' volume would be 4 x 12480 x 4160 there
                outputs += [
                    ops.ncc_summary(t["features"], t["weight"], t["bias"], t["num_frames"]),
                    ops.ncc_cost_volume(t["features"], t["num_frames"]),
                ]
            torch.autograd.backward([out.float().square().mean() for out in outputs])
            for name, value in t.items():
                if getattr(value, "grad", None) is not None and not torch.isfinite(value.grad).all():
                    raise RuntimeError(f"{shape[0]}, {dtype}: the gradient of {name} is not finite")
            calls += len(outputs)
    if device == "cuda":
        torch.cuda.synchronize()
    return calls


def launched(profile, device):
    """Names of the kernels (CUDA) or cosam ops (CPU) the profile saw."""
    names = {event.name for event in profile.events()}
    wanted = KERNELS if device == "cuda" else CPU_OPS
    return {want for want in wanted for name in names if re.search(rf"\b{want}\b", name)}


def sanitizer_workload_step(args):
    import torch

    dtypes = (torch.float32, torch.bfloat16)
    if args.check_coverage:
        activities = [torch.profiler.ProfilerActivity.CPU]
        if args.device == "cuda":
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        with torch.profiler.profile(activities=activities) as profile:
            run_workload(args.device, dtypes)
        wanted = KERNELS if args.device == "cuda" else CPU_OPS
        missing = sorted(set(wanted) - launched(profile, args.device))
        if missing:
            print(f"FAILED: the workload never launched {', '.join(missing)}")
            return 1
        print(f"sanitizer workload coverage: ok ({len(wanted)} of {len(wanted)} "
              f"{'kernels' if args.device == 'cuda' else 'ops'} launched)")
        return 0
    calls = run_workload(args.device, dtypes)
    # gpu_verify.sh requires this line in every sanitizer log: a log that ends
    # early (an import error, a crash under the tool) lacks it.
    print(f"sanitizer workload: ok ({calls} op calls forward and backward, float32 and bfloat16)")
    return 0


def check_amp_run_step(args):
    """The loss falls from the first half of the steps to the second, and (on
    CUDA) the GradScaler skipped no step. It halves its scale at each step it
    skips for inf/NaN gradients and doubles it only after 2000 clean steps in
    a row, so over a short run the skips are log2(initial scale / scale)."""
    import torch

    with open(os.path.join(args.run_dir, "metrics.csv"), newline="") as file:
        # Evaluation rows (train.eval_every) have no step.
        losses = [float(row["loss"]) for row in csv.DictReader(file) if row["step"]]
    if len(losses) < 2:
        print(f"FAILED: {len(losses)} step(s) in metrics.csv; a trend needs two")
        return 1
    half = len(losses) // 2
    first, last = sum(losses[:half]) / half, sum(losses[-half:]) / half
    failed = not last < first
    print(f"mean loss: first {half} steps {first:.4f}, last {half} steps {last:.4f}: "
          f"{'FAILED: did not fall' if failed else 'falls'}")
    scaler = torch.load(os.path.join(args.run_dir, "checkpoint.pt"), map_location="cpu", weights_only=False)["scaler"]
    if not scaler:
        if not args.dry_run:
            print("FAILED: the checkpoint holds no GradScaler state: AMP was not on")
            return 1
        print("GradScaler: not used (AMP runs on CUDA only)")
    else:
        if len(losses) >= scaler["growth_interval"]:
            print(f"FAILED: {len(losses)} steps: the scale may have grown, so skips cannot be counted from it")
            return 1
        skipped = round(math.log2(INITIAL_SCALE / scaler["scale"]))
        print(f"GradScaler: scale {scaler['scale']:g} after {len(losses)} steps: "
              f"{skipped} skipped for inf/NaN gradients")
        failed |= skipped != 0
    return 1 if failed else 0


def merge_benchmarks_step(args):
    """Appends the benchmarks of PART_JSON (one pytest-benchmark run) to OUT_JSON."""
    if os.path.getsize(args.part) == 0:  # pytest-benchmark's file when no benchmark ran
        print(f"{args.part}: no benchmarks")
        return 0
    with open(args.part) as file:
        part = json.load(file)
    if os.path.exists(args.out):
        with open(args.out) as file:
            merged = json.load(file)
        merged["benchmarks"] += part["benchmarks"]
    else:
        merged = part
    with open(args.out + ".tmp", "w") as file:
        json.dump(merged, file, indent=1)
    os.replace(args.out + ".tmp", args.out)
    print(f"{args.out}: {len(merged['benchmarks'])} benchmarks")
    return 0


def check_out_step(args):
    """What the device tool would bring back of OUT_DIR: all of it, or fail."""
    problems, files, total = [], 0, 0
    for folder, subfolders, names in os.walk(args.out_dir):
        relative = os.path.relpath(folder, args.out_dir)
        depth = 0 if relative == "." else relative.count(os.sep) + 1
        for name in names:
            path = os.path.join(folder, name)
            shown = os.path.relpath(path, args.out_dir)
            files += 1
            size = os.path.getsize(path)
            total += size
            if depth > MAX_FOLDERS_DOWN:
                problems.append(f"{shown}: more than {MAX_FOLDERS_DOWN} folders down")
            if not FILE_NAME.match(name) or os.path.islink(path):
                problems.append(f"{shown}: a link or a name with other characters than letters, digits, '.', '_', '-'")
            if size > MAX_FILE_BYTES:
                problems.append(f"{shown}: {size} bytes, over {MAX_FILE_BYTES}")
    if files > MAX_FILES:
        problems.append(f"{files} files, only {MAX_FILES} come back")
    if total > MAX_TOTAL_BYTES:
        problems.append(f"{total} bytes in all, over {MAX_TOTAL_BYTES}")
    for problem in problems[:10]:
        print(f"FAILED: {problem}")
    if len(problems) > 10:
        print(f"... and {len(problems) - 10} more")
    print(f"$OUT holds {files} files, {total} bytes{'' if problems else ': all come back'}")
    return 1 if problems else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = parser.add_subparsers(dest="step", required=True)
    device = steps.add_parser("device", help="torch, and the GPU unless --dry-run")
    device.add_argument("--dry-run", action="store_true")
    device.set_defaults(run=device_step)
    include = steps.add_parser("nvidia-include-path", help="CPATH for the cuBLAS/cuSPARSE headers of the nvidia wheels")
    include.set_defaults(run=nvidia_include_path_step)
    registered = steps.add_parser("kernels-registered", help="every cosam op has a kernel for the device")
    registered.add_argument("--device", choices=("cuda", "cpu"), required=True)
    registered.set_defaults(run=kernels_registered_step)
    workload = steps.add_parser("sanitizer-workload", help="every cosam kernel, forward and backward")
    workload.add_argument("--device", choices=("cuda", "cpu"), required=True)
    workload.add_argument("--check-coverage", action="store_true",
                          help="run under the profiler and fail unless every kernel (op on the CPU) was launched")
    workload.set_defaults(run=sanitizer_workload_step)
    amp = steps.add_parser("check-amp-run", help="loss falls, GradScaler skipped no step")
    amp.add_argument("run_dir")
    amp.add_argument("--dry-run", action="store_true", help="accept a run without GradScaler state (CPU)")
    amp.set_defaults(run=check_amp_run_step)
    merge = steps.add_parser("merge-benchmarks", help="append one pytest-benchmark JSON to another")
    merge.add_argument("out")
    merge.add_argument("part")
    merge.set_defaults(run=merge_benchmarks_step)
    out = steps.add_parser("check-out", help="would every file under OUT_DIR come back")
    out.add_argument("out_dir")
    out.set_defaults(run=check_out_step)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
