"""Profiler kernel times of the cosam ops beside the performance model's
predictions (docs/gpu-performance-model.md, benchmarks/gpu_model.py).

    python3 benchmarks/kernel_times.py --device cuda --json kernel-times.json
    python3 benchmarks/kernel_times.py --device cpu --smoke --json kernel-times.json   # the CPU rehearsal

For each shape of the model (gpu_model.SHAPES), each dtype the benchmarks
run on the device (cases.DTYPES) and each op the model covers
(torch.ops.cosam.ncc_summary, masked_mean and apply_attention, forward and
backward), it runs WARMUP iterations, profiles ITERATIONS more with
torch.profiler and sums, per iteration, each kernel's device time and
launches (on the CPU: each op's self CPU time and calls), grouped the way
gpu_model.predicted_by_kernel groups its predictions: a cosam kernel by its
name, cuBLAS's kernels as one GEMM entry, ATen's copies, fills and sums as
another. It prints a table per op and rewrites the JSON after each, so a
killed run keeps what it measured, and exits non-zero if any op failed.

--smoke shrinks the shapes (B = 2, C = 32, D = 16, 8x4 maps, N kept) so
that the CPU ops run in seconds: the same calls, profiling, grouping,
predictions, JSON and table as on the GPU.

On an H200 the run is expected to take 15-25 s: torch and CUDA start in
about 5-10 s; each of the 18 ops (3 shapes x 2 dtypes x 3 ops) is one
profiler session (about 0.1-0.5 s of set-up and parsing, the first a few
seconds more for CUPTI) around 8 iterations of at most a few milliseconds
of kernels.
"""
import argparse
import dataclasses
import json
import platform
import re
import sys
import time
import traceback

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

import cases
import gpu_model
from cosam_ext.ops import DEFAULT_EPS

WARMUP, ITERATIONS = 3, 5
#: Device kernels of cuBLAS (and, in the CPU view, ATen's matrix products).
GEMM_NAME = re.compile(r"gem[mv]|nvjet|xmma|cutlass|splitk|^aten::(mm|bmm|addmm_?|baddbmm)$", re.IGNORECASE)


def shapes(smoke):
    if not smoke:
        return gpu_model.SHAPES
    return [dataclasses.replace(s, name=f"{s.name} (smoke: B2 C32 D16 8x4)", clips=2, channels=32, reduced=16,
                                height=8, width=4) for s in gpu_model.SHAPES]


def runs(device, smoke):
    """(shape, dtype, op) in the order measured: the model's tables' order."""
    return [(shape, dtype, op) for dtype in cases.DTYPES[device] for shape in shapes(smoke)
            for op in gpu_model.OP_PASSES]


def make_inputs(shape, dtype, op, device):
    """The op's differentiable inputs, its other arguments and the gradient of its output."""
    options = {"device": device, "dtype": getattr(torch, dtype)}
    F, C, H, W = shape.maps, shape.channels, shape.height, shape.width
    if op == "ncc_summary":
        case = cases.OpCase(shape.name, shape.clips, shape.frames, shape.reduced, H, W)
        inputs = cases.make_op_inputs(case, op, "forward_backward", device, dtype)
        return (inputs["x"], inputs["weight"], inputs["bias"]), (shape.frames, DEFAULT_EPS), inputs["grad_out"]
    x = torch.randn(F, C, H, W, **options).requires_grad_()
    mask = torch.rand(F, 1, H, W, **options).requires_grad_()
    if op == "masked_mean":
        return (x, mask), (), torch.randn(F, C, **options)
    channel_mask = torch.rand(shape.clips, C, **options).requires_grad_()
    return (x, mask, channel_mask), (shape.frames,), torch.randn_like(x)


def step(op, differentiable, others, grad):
    """One forward and backward of the op (the gradients returned, not accumulated)."""
    out = getattr(torch.ops.cosam, op)(*differentiable, *others)
    if op == "ncc_summary":
        out = out[0]  # (logits, slot sums)
    torch.autograd.grad(out, differentiable, grad)


def profiled(device, run):
    """{event name: [count, microseconds]} over ITERATIONS of run(), after WARMUP."""
    for _ in range(WARMUP):
        run()
    cases.synchronize(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(ITERATIONS):
            run()
        cases.synchronize(device)
    totals = {}
    for event in prof.events():
        if device == "cuda":
            if event.device_type != DeviceType.CUDA:
                continue
            microseconds = event.time_range.elapsed_us()
        else:
            microseconds = event.self_cpu_time_total
            if microseconds <= 0:
                continue  # bookkeeping (views, empty tensors) without time of its own
        total = totals.setdefault(event.name, [0, 0.0])
        total[0] += 1
        total[1] += microseconds
    return totals


def kernel_key(name):
    """The key gpu_model.predicted_by_kernel gives this profiler event's launch."""
    if match := re.search(r"cosam::cuda::(\w+)", name):
        return match.group(1)
    if GEMM_NAME.search(name):
        return gpu_model.GEMM_KEY
    if "at::native" in name or name.startswith("aten::"):
        return gpu_model.ATEN_KEY
    return name


def measure(shape, dtype, op, device, card):
    differentiable, others, grad = make_inputs(shape, dtype, op, device)
    measured = profiled(device, lambda: step(op, differentiable, others, grad))
    predicted = gpu_model.predicted_by_kernel(shape, dtype, op, card)
    groups = {}
    for name, (count, microseconds) in measured.items():
        group = groups.setdefault(kernel_key(name), {"launches": 0.0, "measured_us": 0.0, "names": []})
        group["launches"] += count / ITERATIONS
        group["measured_us"] += microseconds / ITERATIONS
        group["names"].append(name)
    kernels = []
    for key, group in sorted(groups.items(), key=lambda item: -item[1]["measured_us"]):
        launches, seconds = predicted.get(key, (None, None))
        kernels.append({
            "kernel": key, **group, "predicted_launches": launches,
            "predicted_us": None if seconds is None else seconds * 1e6,
            "ratio": None if seconds is None else group["measured_us"] / (seconds * 1e6),
        })
    measured_us = sum(k["measured_us"] for k in kernels)
    predicted_us = sum(seconds for _, seconds in predicted.values()) * 1e6
    return {
        "launches": sum(k["launches"] for k in kernels),
        "predicted_launches": sum(count for count, _ in predicted.values()),
        "measured_us": measured_us,
        "predicted_us": predicted_us,
        "ratio": measured_us / predicted_us,
        "kernels": kernels,
        "not_measured": [{"kernel": key, "predicted_launches": count, "predicted_us": seconds * 1e6}
                         for key, (count, seconds) in predicted.items() if key not in groups],
    }


def number(value, digits=1):
    return "-" if value is None else f"{value:.{digits}f}"


def table(result, card):
    lines = [
        f"### {result['shape']}, {result['dtype']}, {result['op']} (forward+backward): "
        f"{number(result['launches'])} launches ({result['predicted_launches']} predicted), "
        f"{number(result['measured_us'])} us ({number(result['predicted_us'])} us predicted on {card})",
        "",
        "| kernel | launches (predicted) | measured us | predicted us | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for k in result["kernels"]:
        lines.append(f"| {k['kernel']} | {number(k['launches'])} ({k['predicted_launches'] or '-'}) | "
                     f"{number(k['measured_us'])} | {number(k['predicted_us'])} | {number(k['ratio'], 2)} |")
    for k in result["not_measured"]:
        lines.append(f"| {k['kernel']} (not seen) | 0 ({k['predicted_launches']}) | 0 | {number(k['predicted_us'])} | - |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], required=True)
    parser.add_argument("--smoke", action="store_true", help="tiny shapes (the CPU rehearsal)")
    parser.add_argument("--json", required=True, metavar="PATH", help="where the results go (rewritten after each op)")
    args = parser.parse_args()

    start = time.perf_counter()
    on_cuda = args.device == "cuda" and torch.cuda.is_available()
    device_name = torch.cuda.get_device_name() if on_cuda else platform.processor() or platform.machine()
    card = "H100 SXM" if "H100" in device_name else "H200 SXM"
    report = {
        "device": args.device, "device_name": device_name, "torch": torch.__version__, "smoke": args.smoke,
        "warmup": WARMUP, "iterations": ITERATIONS, "predicted_for": card,
        "unit": "per iteration (forward+backward): launches and microseconds",
        "time": "device time of each kernel" if args.device == "cuda" else "self CPU time of each op",
        "results": [],
    }
    failed = 0
    for shape, dtype, op in runs(args.device, args.smoke):
        result = {"shape": shape.name, "dtype": dtype, "op": op}
        try:
            if args.device == "cuda" and not on_cuda:
                raise RuntimeError("--device cuda, but torch sees no CUDA device")
            result.update(measure(shape, dtype, op, args.device, card))
            print(table(result, card) + "\n", flush=True)
        except Exception as error:  # recorded, and the next op still runs
            failed += 1
            result["error"] = f"{type(error).__name__}: {error}"
            print(f"### {shape.name}, {dtype}, {op}: FAILED", flush=True)
            traceback.print_exc()
        report["results"].append(result)
        report["seconds"] = round(time.perf_counter() - start, 1)
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    print(f"kernel_times: {len(report['results']) - failed} of {len(report['results'])} ops measured "
          f"in {report['seconds']} s, results in {args.json}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
