"""Where the fused CosamLayer's forward+backward spends its time on the CPU,
and the floor under it.

    python benchmarks/profile_layer.py [--shapes COSAM_4 ...] [--markdown FILE] [--smoke]

At each of the layer benchmark's shapes (cases.FULL_LAYER_CASES: B = 8 clips
of N = 4 frames at COSAM_2, 3, 4 and 5 with last stride 1; --smoke: a tiny
one), in training mode:

Where the time goes. torch.profiler records a few steps of the fused layer
forward+backward after warm-up steps, each on fresh inputs, as the layer
benchmark runs them (cases.run_layer). Each op's self CPU time goes to one
row: a cosam op (with the ATen calls it makes, not the cosam ops it calls:
cosam::channel_attention's row is its Python parts, the MLP and the clip
mean); a module of the reduction (conv, BN, ReLU) or of the summary head
after ncc_summary (BN, ReLU, conv), forward or backward; a cosam op's
autograd node outside the cosam ops it calls (for channel_attention the MLP's
backward by hand and the rank-one terms of dx and of the mask's gradient);
the autograd engine's sums where two gradients of one tensor meet, with
AccumulateGrad; the engine's own time outside any op; other ops (sigmoid,
views); and the time of the step outside any op (Python). A forward op
belongs to a module whose parameters or buffers it takes (a ReLU to the BN
it follows), a backward node to the forward op that recorded it (by its
sequence number).

The floor. The reduction cannot be avoided; of the rest, what no
formulation avoids is the NCC algebra's GEMMs (roofline.ncc_summary_work on
the reduced map, D = layer.reduced_channels, K = 64) and 7 passes over the
C-channel map: forward 3 (read x for the masked mean; read x and write the
output), backward 4 (read the output's gradient and x and write dx; read x
once more for the mask's gradient). The floor of a step is the reduction's
measured time + those FLOPs at the square-GEMM rate + those bytes at the
copy bandwidth, both measured here by roofline.py's probes. The summary
head and the channel MLP work on maps of 64 channels or on vectors and are
left out. Beside it, the floor with what the layer must run, as profiled:
the NCC GEMMs at the rate ATen reaches on their shapes (their profiled
time, in place of the square-GEMM rate), plus the summary head and the sum
of x's two gradients (from the reduction and from the channel attention).
And the layer and its reduction timed without the profiler, in turn within
each round (cases.run_in_turn, as the layer benchmark does).

Prints markdown (the load average at the start first) to stdout and, with
--markdown, to FILE.
"""
import argparse
import collections
import dataclasses
import os
import resource
import shlex
import statistics
import sys
import time
from typing import Optional

import cpuinfo
import torch
from torch._C._profiler import _EventType
from torch.profiler import ProfilerActivity, profile, record_function

from cosam_reid.memory import allocator_description, keep_freed_memory

import cases
import roofline

DEVICE, DTYPE = "cpu", "float32"
ELEMENT_SIZE = getattr(torch, DTYPE).itemsize
#: Passes over the C-channel map that no formulation avoids (listed in the docstring).
FORWARD_MAP_PASSES, BACKWARD_MAP_PASSES = 3, 4
#: The parts timed without the profiler for the floor's comparison.
TIMED_PARTS = ("layer_fused", "dim_reduction")
STEP_SCOPE = "profile_layer step"
ENGINE_SCOPE = "autograd::engine::evaluate_function: "
ACCUMULATE_NODE = "torch::autograd::AccumulateGrad"
RELU_OPS = ("aten::relu", "aten::relu_")
#: The layer's modules outside the cosam ops, by the attribute holding them.
MODULE_PARTS = {"dim_reduction": "reduction", "spatial_mask_summary": "summary head"}
MODULE_KINDS = {"Conv2d": "conv", "BatchNorm2d": "BN"}
GRADIENT_SUMS = "autograd: sums of gradients that meet, AccumulateGrad"
#: The rows of ncc_summary's forward and backward, and the GEMM calls in them.
NCC_ROWS = ("cosam::ncc_summary", "cosam::ncc_summary_backward")
GEMM_CALLS = ("aten::bmm", "aten::baddbmm_", "aten::baddbmm", "aten::mm", "aten::addmm")
GRADIENT_SUM_CALL = "aten::add_"
ENGINE = "autograd engine, outside any op"
OUTSIDE = "outside any op (Python)"
OTHER = "other ops"


@dataclasses.dataclass(frozen=True)
class Settings:
    warmup_steps: int
    profiled_steps: int
    timed_rounds: int
    rate_calls: int


FULL = Settings(warmup_steps=2, profiled_steps=5, timed_rounds=10, rate_calls=10)
SMOKE = Settings(warmup_steps=1, profiled_steps=2, timed_rounds=2, rate_calls=2)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    stages = [case.stage for case in cases.FULL_LAYER_CASES]
    parser.add_argument("--shapes", nargs="+", choices=stages, default=stages, metavar="STAGE",
                        help=f"the shapes to profile, of {', '.join(stages)} (default: all)")
    parser.add_argument("--markdown", metavar="FILE", help="also write the tables to FILE")
    parser.add_argument("--smoke", action="store_true",
                        help="a tiny shape (in place of --shapes) and few steps: checks the tool")
    parser.add_argument("--keep-freed-memory", action="store_true",
                        help="keep freed memory for reuse, as the cosam-reid command does "
                             "(cosam_reid.memory.keep_freed_memory; default: glibc's malloc as it is)")
    return parser.parse_args(argv)


# --- where the time goes -------------------------------------------------------


def module_labels(layer):
    """{storage address: (part, kind)} for the parameters and buffers of the
    reduction's and the summary head's convs and BNs. (A cosam op that takes
    one, as ncc_summary takes the first summary conv's weight, keeps its own row.)"""
    labels = {}
    for attribute, part in MODULE_PARTS.items():
        for module in getattr(layer, attribute):
            kind = MODULE_KINDS.get(type(module).__name__)
            if kind:
                for tensor in [*module.parameters(recurse=False), *module.buffers(recurse=False)]:
                    labels[tensor.untyped_storage().data_ptr()] = (part, kind)
    return labels


def _storages(inputs):
    for value in inputs:
        if isinstance(value, list):
            yield from _storages(value)
        elif isinstance(value, torch._C._profiler._TensorMetadata):
            yield value.storage_data_ptr


def forward_label(op, labels, previous):
    """What a top-level forward op belongs to: a cosam op (its name), a module
    ((part, kind)), or None."""
    if op.name.startswith("cosam::"):
        return op.name
    for storage in _storages(op.extra_fields.inputs):
        if storage in labels:
            return labels[storage]
    if op.name in RELU_OPS and isinstance(previous, tuple) and previous[1] == "BN":
        return (previous[0], "ReLU")
    return None


def row_name(label, direction):
    if label is None:
        return OTHER
    if isinstance(label, str):  # a cosam op (backward: its autograd node), outside the cosam ops it calls
        return f"{label} {direction}, outside cosam ops"
    return f"{label[0]} {label[1]} {direction}"


def self_ns(event):
    return event.duration_time_ns - sum(child.duration_time_ns for child in event.children)


def charge(event, row, totals):
    """Adds the self time of event and its subtree to row, a cosam op's subtree to the op."""
    if event.name.startswith("cosam::"):
        row = event.name
    totals[row][event.name] += self_ns(event)
    for child in event.children:
        charge(child, row, totals)


def attribute(steps, labels):
    """{row: {op name: self ns}} over the profiled steps."""
    totals = collections.defaultdict(collections.Counter)
    for step in steps:
        totals[OUTSIDE][""] += self_ns(step)
        by_sequence, previous = {}, None
        for op in step.children:
            if not op.name.startswith(ENGINE_SCOPE):
                label = forward_label(op, labels, previous)
                previous = label or previous
                by_sequence[op.extra_fields.sequence_number] = label
                charge(op, row_name(label, "forward"), totals)
                continue
            totals[ENGINE][""] += self_ns(op)
            node = op.name[len(ENGINE_SCOPE):]
            for child in op.children:
                if child.name == node and node != ACCUMULATE_NODE:
                    charge(child, row_name(by_sequence.get(child.extra_fields.sequence_number), "backward"), totals)
                else:
                    charge(child, GRADIENT_SUMS, totals)
    return totals


def profile_steps(layer, case, settings):
    """The profiler's events of the profiled steps, one tree per step."""
    batches = [
        cases.make_layer_inputs(case, "layer_fused", DEVICE)
        for _ in range(settings.warmup_steps + settings.profiled_steps)
    ]
    for inputs in batches[: settings.warmup_steps]:
        cases.run_layer(layer, inputs)
    # record_shapes: the ops' inputs, by which forward ops are told apart.
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as profiler:
        for inputs in batches[settings.warmup_steps:]:
            with record_function(STEP_SCOPE):
                cases.run_layer(layer, inputs)
    roots = profiler.profiler.kineto_results.experimental_event_tree()
    return [root for root in roots if root.tag == _EventType.TorchOp and root.name == STEP_SCOPE]


def where_rows(layer, case, settings):
    """[(ms per step, row, {op name: ms per step})], largest first, and the
    profiled step's mean time in ms."""
    steps = profile_steps(layer, case, settings)
    totals = attribute(steps, module_labels(layer))
    per_step = 1e6 * len(steps)
    rows = [
        (sum(names.values()) / per_step, row, {name: ns / per_step for name, ns in names.items()})
        for row, names in totals.items()
    ]
    return sorted(rows, key=lambda item: -item[0]), sum(step.duration_time_ns for step in steps) / per_step


def where_table(rows, step_ms, settings):
    reduction = sum(ms for ms, row, _ in rows if row.startswith(MODULE_PARTS["dim_reduction"] + " "))
    lines = [
        f"Self CPU time per step of the fused layer forward+backward: {settings.profiled_steps} steps under "
        f"torch.profiler after {settings.warmup_steps} warm-up steps; a profiled step took {step_ms:.3g} ms, "
        "which the rows add up to.",
        "",
        "| where | ms per step | share | largest calls in it (ms per step) |",
        "|---|---|---|---|",
    ]
    for ms, row, names in rows:
        largest = sorted(((value, name) for name, value in names.items() if name), reverse=True)[:3]
        calls = ", ".join(f"{name} {value:.3g}" for value, name in largest)
        lines.append(f"| {row} | {ms:.3g} | {ms / step_ms:.1%} | {calls} |")
    return lines + [
        f"| **the reduction (conv, BN, ReLU), forward+backward** | **{reduction:.3g}** "
        f"| **{reduction / step_ms:.1%}** | |",
        f"| **the rest of the layer** | **{step_ms - reduction:.3g}** | **{1 - reduction / step_ms:.1%}** | |",
        "",
    ]


# --- the floor -------------------------------------------------------------------


def median_seconds(call, calls):
    call()  # warm-up
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def measure_rates(smoke, settings):
    """{rate: work per second} of roofline.py's probes: FLOP/s of the square
    GEMM, bytes read and written per second by the copy."""
    rates = {}
    for rate in roofline.RATES:
        inputs = roofline.make_rate_inputs(rate, DEVICE, DTYPE, smoke)
        work = roofline.rate_work(rate, DEVICE, smoke)
        seconds = median_seconds(lambda: roofline.run_rate(rate, inputs), settings.rate_calls)
        rates[rate] = (work.flops if rate == "gemm" else work.bytes) / seconds
    return rates


def minor_faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def timed_in_turn(case, settings):
    """({part: [seconds per round]}, [minor page faults per round]) of the
    layer and its reduction, without the profiler."""
    calls, make_inputs = cases.layer_calls(case, TIMED_PARTS, DEVICE)
    seconds = {part: [] for part in TIMED_PARTS}
    faults = []
    for _ in range(settings.warmup_steps + settings.timed_rounds):
        inputs = make_inputs()
        before = minor_faults()
        cases.run_in_turn(calls, inputs, seconds, DEVICE)
        faults.append(minor_faults() - before)
    return {part: times[settings.warmup_steps:] for part, times in seconds.items()}, faults[settings.warmup_steps:]


@dataclasses.dataclass(frozen=True)
class MustRun:
    """Seconds per profiled step of parts the floor leaves out or counts at
    a rate they do not reach, but which the layer must run."""
    #: ncc_summary's GEMMs as ATen runs them, at the rate it reaches on their
    #: shapes; None where ncc_summary takes the materialised order, whose GEMMs
    #: run inside ncc_cost_volume and the summary conv.
    gemm_seconds: Optional[float]
    #: The authors' summary head after ncc_summary (BN, ReLU, conv over K channels).
    head_seconds: float
    #: The sum of x's two gradients (from the reduction and from the channel
    #: attention), which autograd adds.
    gradient_sum_seconds: float


@dataclasses.dataclass(frozen=True)
class Floor:
    case: cases.LayerCase
    reduced_channels: int
    #: The order ncc_summary takes at this shape: the GEMMs counted are the fused order's.
    contraction: str
    gemm_flops: float
    map_bytes: float
    gemm_seconds: float
    copy_seconds: float
    must_run: MustRun
    #: {part: [seconds per round]}, without the profiler.
    timed: dict
    #: Minor page faults per round (the layer's step and its reduction's): pages the kernel maps afresh.
    faults: list

    @property
    def reduction_seconds(self):
        return statistics.median(self.timed["dim_reduction"])

    @property
    def seconds(self):
        return self.reduction_seconds + self.gemm_seconds + self.copy_seconds

    @property
    def must_run_seconds(self):
        """The floor with the NCC GEMMs as run (at the square-GEMM rate in the
        materialised order), the summary head and the gradient sum."""
        extra = self.must_run
        gemm = self.gemm_seconds if extra.gemm_seconds is None else extra.gemm_seconds
        return (self.reduction_seconds + gemm + self.copy_seconds
                + extra.head_seconds + extra.gradient_sum_seconds)


def must_run(rows, contraction="fused"):
    """Profiled seconds per step of what the layer must run beyond the
    floor's count: the NCC GEMMs as ATen runs them (in the fused order), the
    summary head, the sum of x's two gradients."""
    gemm = head = gradient_sum = 0.0
    for ms, row, names in rows:
        if row in NCC_ROWS:
            gemm += sum(names.get(call, 0.0) for call in GEMM_CALLS)
        elif row.startswith(MODULE_PARTS["spatial_mask_summary"] + " "):
            head += ms
        elif row == GRADIENT_SUMS:
            gradient_sum += names.get(GRADIENT_SUM_CALL, 0.0)
    return MustRun(gemm / 1e3 if contraction == "fused" else None, head / 1e3, gradient_sum / 1e3)


def floor(case, layer, rates, rows, settings):
    op_case = cases.OpCase(case.stage, case.clips, case.frames, layer.reduced_channels, case.height, case.width)
    flops = roofline.ncc_summary_work(op_case, "forward_backward", ELEMENT_SIZE).flops
    passes = FORWARD_MAP_PASSES + BACKWARD_MAP_PASSES
    map_bytes = passes * case.clips * case.frames * case.in_channels * case.positions * ELEMENT_SIZE
    contraction = cases.contraction_order(op_case, DEVICE)
    return Floor(
        case, layer.reduced_channels, contraction, flops, map_bytes,
        flops / rates["gemm"], map_bytes / rates["copy"], must_run(rows, contraction),
        *timed_in_turn(case, settings),
    )


def floor_table(floors, rates, smoke):
    side = roofline.SMOKE_GEMM_SIZE if smoke else roofline.GEMM_SIZE[DEVICE]
    copied = (roofline.SMOKE_COPY_BYTES if smoke else roofline.COPY_BYTES[DEVICE]) / 2**20
    lines = [
        "## The floor",
        "",
        "Per step: the reduction's measured time, plus the FLOPs of the NCC GEMMs (fused order) at the "
        f"square-GEMM rate ({rates['gemm'] / 1e9:.3g} GFLOP/s, side {side}, {DTYPE}), plus "
        f"{FORWARD_MAP_PASSES} + {BACKWARD_MAP_PASSES} passes over the C-channel map at the copy bandwidth "
        f"({rates['copy'] / 1e9:.3g} GB/s read and written, copying {copied:.4g} MiB): forward, read x for the "
        "masked mean, read x and write the output; backward, read the gradient and x and write dx, read x "
        "once more for the mask's gradient. Beside it the layer and its reduction timed without the "
        "profiler, in turn within each round: medians, and the median of the per-round ratios with its "
        "quartiles; and the minor page faults of a round (both), median.",
        "",
        "With what the layer must run: the floor with the NCC GEMMs at the rate ATen reaches on their shapes "
        "(their profiled time) in place of the square-GEMM rate, plus two parts the floor leaves out, "
        "profiled: the summary head (BN, ReLU, conv) and the sum of x's two gradients (aten::add_ where "
        "the reduction's and the channel attention's gradients of x meet). Profiled times include the "
        "profiler's own cost. In the materialised order the GEMMs run inside ncc_cost_volume and the "
        "summary conv: '-', and the square-GEMM rate's time stands in.",
        "",
        "| stage | C, D, H x W | ncc_summary order | reduction ms | NCC GFLOP | GEMM ms | map passes MB "
        "| copy ms | floor ms | floor / reduction | GEMMs as run ms | summary head ms | gradient sum ms "
        "| with them / reduction | layer ms | layer / reduction | target | page faults |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for item in floors:
        case, timed = item.case, item.timed
        ratios = cases.per_round_ratios(timed, "layer_fused", "dim_reduction")
        low, middle, high = cases.quartiles(ratios)
        lines.append(
            f"| {case.stage} | {case.in_channels}, {item.reduced_channels}, {case.height} x {case.width} "
            f"| {item.contraction} | {item.reduction_seconds * 1e3:.3g} | {item.gemm_flops / 1e9:.3g} "
            f"| {item.gemm_seconds * 1e3:.3g} | {item.map_bytes / 1e6:.4g} | {item.copy_seconds * 1e3:.3g} "
            f"| {item.seconds * 1e3:.3g} | **{item.seconds / item.reduction_seconds:.3g}** "
            f"| {'-' if item.must_run.gemm_seconds is None else f'{item.must_run.gemm_seconds * 1e3:.3g}'} "
            f"| {item.must_run.head_seconds * 1e3:.3g} "
            f"| {item.must_run.gradient_sum_seconds * 1e3:.3g} "
            f"| **{item.must_run_seconds / item.reduction_seconds:.3g}** "
            f"| {statistics.median(timed['layer_fused']) * 1e3:.3g} "
            f"| **{middle:.3g}** ({low:.3g} to {high:.3g}, n={len(ratios)}) "
            f"| {cases.LAYER_RATIO_TARGETS.get(case.stage, '-')} | {statistics.median(item.faults):.0f} |"
        )
    return lines + [""]


# --- the run ---------------------------------------------------------------------


def header(argv, load, settings, kept):
    return [
        "# Where the CosamLayer's time goes",
        "",
        f"- command: `{shlex.join(['python', 'benchmarks/profile_layer.py', *argv])}`",
        f"- load average (1, 5, 15 min) at the start: {', '.join(f'{value:.2f}' for value in load)}",
        f"- machine: {cpuinfo.get_cpu_info().get('brand_raw', '?')}, {os.cpu_count()} cores; "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)",
        f"- the fused layer forward+backward in training mode, {DTYPE}, fresh inputs each step "
        f"(cases.run_layer); {settings.timed_rounds} rounds timed without the profiler",
        f"- memory: {allocator_description(kept)}",
        "",
    ]


def main(argv):
    load = os.getloadavg()  # before the measurements add to it
    args = parse_args(argv)
    settings = SMOKE if args.smoke else FULL
    kept = args.keep_freed_memory and keep_freed_memory()
    shapes = cases.SMOKE_LAYER_CASES if args.smoke else [
        case for case in cases.FULL_LAYER_CASES if case.stage in args.shapes
    ]
    lines = []

    def emit(new_lines):
        print("\n".join(new_lines), flush=True)
        lines.extend(new_lines)

    emit(header(argv, load, settings, kept))
    rates = measure_rates(args.smoke, settings)
    floors = []
    for case in shapes:
        torch.manual_seed(0)
        layer = cases.make_layer_module(case, "layer_fused", DEVICE)
        rows, step_ms = where_rows(layer, case, settings)
        emit([
            f"## {case.stage}: B={case.clips}, N={case.frames}, C={case.in_channels}, "
            f"D={layer.reduced_channels}, {case.height} x {case.width}",
            "",
        ] + where_table(rows, step_ms, settings))
        floors.append(floor(case, layer, rates, rows, settings))
    emit(floor_table(floors, rates, args.smoke))
    if args.markdown:
        with open(args.markdown, "w") as handle:
            handle.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
