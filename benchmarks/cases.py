"""What the benchmarks run: shapes, inputs and the measured calls.

Shared by the pytest benchmarks, the peak-memory probe
and report.py, so that all three agree on what a case is.
"""
import dataclasses
import functools
import importlib
import os
import statistics
import time

import torch

#: Output channels of the summary conv (the authors' K).
SUMMARY_CHANNELS = 64
#: A call that materialises the cost volume (the reference, the fused
#: ncc_cost_volume) is skipped where its estimated peak exceeds this (24 GiB machine).
VOLUME_MEMORY_LIMIT = 6 * 2**30
GiB = 2**30

OPS = ("ncc_summary", "ncc_cost_volume")
PASSES = ("forward", "forward_backward")
#: Where each implementation of the ops lives (imported on use: report.py needs no build).
IMPLEMENTATIONS = {"fused": "cosam_ext.ops", "reference": "cosam_ext.reference"}
#: What the layer benchmark times in each round: the whole layer, fused or
#: reference, and its reduction alone.
LAYER_PARTS = ("layer_fused", "dim_reduction", "layer_reference")


class _Maps:
    """What a case's maps (clips, frames, height, width) imply, whatever their channels."""

    @property
    def positions(self):
        return self.height * self.width

    def volume_bytes(self, element_size=4):
        """Size of the (B*N, (N-1)*P, H, W) cost volume the reference materialises."""
        total = self.clips * self.frames
        return total * (self.frames - 1) * self.positions**2 * element_size

    def volume_peak_estimate(self):
        """Peak of a call that materialises the volume: about 2.1 volumes measured
        for the reference (bmm result and its permuted copy), forward or
        forward+backward; 2.5 leaves a margin."""
        return 2.5 * self.volume_bytes()

    def volume_skip_reason(self):
        """Why a call that materialises the volume is not run here, or None."""
        estimate = self.volume_peak_estimate()
        if estimate > VOLUME_MEMORY_LIMIT:
            return (
                f"skipped: materialised volume, estimated peak {estimate / GiB:.1f} GiB "
                f"> {VOLUME_MEMORY_LIMIT / GiB:.0f} GiB"
            )
        return None


@dataclasses.dataclass(frozen=True)
class OpCase(_Maps):
    """The reduced features x (B*N, D, H, W) a COSAM block of ResNet50 sees at 256x128 input."""

    stage: str
    clips: int
    frames: int
    channels: int
    height: int
    width: int

    @property
    def id(self):
        return f"{self.stage}-B{self.clips}N{self.frames}-D{self.channels}-{self.height}x{self.width}"

    def skip_reason(self, op, implementation):
        """Why a call that materialises the volume is not run, or None."""
        materialises = implementation == "reference" or op == "ncc_cost_volume"
        return self.volume_skip_reason() if materialises else None


@dataclasses.dataclass(frozen=True)
class LayerCase(_Maps):
    """Un-reduced backbone features F (B*N, C, H, W) entering a CosamLayer."""

    stage: str
    clips: int
    frames: int
    in_channels: int
    height: int
    width: int

    @property
    def id(self):
        return f"{self.stage}-B{self.clips}N{self.frames}-C{self.in_channels}-{self.height}x{self.width}"

    def skip_reason(self, part):
        """Why a part of the layer benchmark is not run, or None: the reference
        layer materialises the volume, as the reference op does."""
        return self.volume_skip_reason() if part == "layer_reference" else None


# ResNet50 at 256x128 input: (C, D, H, W) after each block. The ops see only
# the reduced x, so COSAM_4 and COSAM_5 with last stride 1 are one op case.
STAGE_MAPS = {
    "COSAM_2": (64, 64, 32),
    "COSAM_3": (256, 32, 16),
    "COSAM_4/5s1": (256, 16, 8),
    "COSAM_5s2": (256, 8, 4),
}
#: (B, N) per stage: 32 frames, fewer where the reference's volume is huge,
#: plus the training batches the roofline targets name (B=32 at N=4 and N=8).
STAGE_BATCHES = {
    "COSAM_2": ((8, 4), (2, 8), (4, 8)),
    "COSAM_3": ((8, 4), (4, 8), (32, 8)),
    "COSAM_4/5s1": ((8, 4), (4, 8), (32, 4)),
    "COSAM_5s2": ((8, 4), (4, 8)),
}
FULL_OP_CASES = tuple(
    OpCase(stage, clips, frames, *STAGE_MAPS[stage])
    for stage in STAGE_MAPS
    for clips, frames in STAGE_BATCHES[stage]
)
SMOKE_OP_CASES = (
    OpCase("tiny", 2, 4, 16, 8, 4),
    OpCase("tiny", 1, 8, 16, 4, 2),
)
#: The layer where ResNet50 at 256x128 input has it (the layer benchmark's shapes), B = 8 clips of N = 4.
FULL_LAYER_CASES = (
    LayerCase("COSAM_2", 8, 4, 256, 64, 32),
    LayerCase("COSAM_3", 8, 4, 512, 32, 16),
    LayerCase("COSAM_4", 8, 4, 1024, 16, 8),
    LayerCase("COSAM_5s1", 8, 4, 2048, 16, 8),
)
SMOKE_LAYER_CASES = (LayerCase("tiny", 2, 4, 32, 8, 4),)
#: The targets for the fused layer over its reduction, paired per round.
LAYER_RATIO_TARGETS = {"COSAM_2": 1.6, "COSAM_3": 1.5, "COSAM_4": 1.4, "COSAM_5s1": 1.4}

#: The training-step benchmark's models: ResNet50 with COSAM after these blocks.
MODEL_VARIANTS = {"plain": (), "cosam45": (4, 5), "cosam2345": (2, 3, 4, 5)}
#: The targets for a training step over the plain backbone's, paired per round.
MODEL_RATIO_TARGETS = {"cosam45": 1.03, "cosam2345": 1.12}


def is_smoke(config=None):
    """Smoke mode: `--smoke` or COSAM_BENCH_SMOKE=1."""
    if os.environ.get("COSAM_BENCH_SMOKE", "0") not in ("", "0"):
        return True
    return bool(config is not None and config.getoption("--smoke"))


def op_cases(smoke):
    return SMOKE_OP_CASES if smoke else FULL_OP_CASES


def layer_cases(smoke):
    return SMOKE_LAYER_CASES if smoke else FULL_LAYER_CASES


def devices():
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


#: The dtypes the ops are timed in on each device: the CPU kernels compute in
#: float32 (or float64); on CUDA, bfloat16 is what autocast training runs.
DTYPES = {"cpu": ("float32",), "cuda": ("float32", "bfloat16")}


def device_dtypes():
    return [(device, dtype) for device in devices() for dtype in DTYPES[device]]


def device_dtype_id(device, dtype):
    """Test id of a (device, dtype) pair: float32, the default, is left out."""
    return device if dtype == "float32" else f"{device}-{dtype}"


def synchronize(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


# --- inputs and measured calls ----------------------------------------------
# make_*_inputs draws fresh random inputs (never zeros) for one call; the
# matching run_* is the measured call. Both are plain functions so that the
# memory probe runs exactly what the timer runs.


def make_op_inputs(case, op, pass_, device, dtype="float32"):
    needs_grad = pass_ == "forward_backward"
    options = {"device": device, "dtype": getattr(torch, dtype)}
    x = torch.randn(case.clips * case.frames, case.channels, case.height, case.width, **options)
    inputs = {"x": x.requires_grad_(needs_grad)}
    if op == "ncc_summary":
        volume_channels = (case.frames - 1) * case.positions
        weight = torch.randn(SUMMARY_CHANNELS, volume_channels, **options) / volume_channels**0.5
        inputs["weight"] = weight.requires_grad_(needs_grad)
        inputs["bias"] = torch.randn(SUMMARY_CHANNELS, **options).requires_grad_(needs_grad)
        out_channels = SUMMARY_CHANNELS
    else:
        out_channels = (case.frames - 1) * case.positions
    if needs_grad:
        inputs["grad_out"] = torch.randn(x.shape[0], out_channels, case.height, case.width, **options)
    return inputs


def contraction_order(case, device):
    """'materialised' where cosam_ext.ncc_summary goes through the cost volume
    on this case (tiny maps on the CPU), else 'fused'."""
    from cosam_ext.ops import materialising_is_cheaper

    x = torch.empty(case.clips * case.frames, case.channels, case.height, case.width, device=device)
    return "materialised" if materialising_is_cheaper(x, SUMMARY_CHANNELS, case.frames) else "fused"


def run_op(op, implementation, case, inputs):
    fn = getattr(importlib.import_module(IMPLEMENTATIONS[implementation]), op)
    args = [inputs["x"]] + ([inputs["weight"], inputs["bias"]] if op == "ncc_summary" else [])
    out = fn(*args, num_frames=case.frames)
    if "grad_out" in inputs:
        out.backward(inputs["grad_out"])
    return out


def make_layer_module(case, part, device):
    from cosam_ext import CosamLayer

    layer = CosamLayer(
        case.in_channels, case.frames, (case.height, case.width),
        implementation="reference" if part == "layer_reference" else "fused",
    ).to(device)
    return layer.dim_reduction if part == "dim_reduction" else layer


def make_layer_inputs(case, part, device):
    """F and the gradient of the output: C wide for the layer, D for the reduction."""
    from cosam_ext.layer import default_reduced_channels

    total = case.clips * case.frames
    x = torch.randn(total, case.in_channels, case.height, case.width, device=device, requires_grad=True)
    out_channels = default_reduced_channels(case.in_channels) if part == "dim_reduction" else case.in_channels
    grad_out = torch.randn(total, out_channels, case.height, case.width, device=device)
    return {"x": x, "grad_out": grad_out}


def run_layer(module, inputs):
    """Forward+backward."""
    out = module(inputs["x"])
    out.backward(inputs["grad_out"])
    return out


def layer_calls(case, parts, device):
    """The paired layer benchmark's calls, {part: call(inputs)}, and a function
    that makes one round's fresh inputs, {part: inputs}."""
    calls = {part: functools.partial(run_layer, make_layer_module(case, part, device)) for part in parts}
    return calls, lambda: {part: make_layer_inputs(case, part, device) for part in parts}


def run_in_turn(calls, inputs, seconds, device):
    """One round: each call once on its inputs, its time appended to
    seconds[name]. Calls minutes apart see a machine whose speed drifts by
    more than the margins of the ratios measured, so the ratios are taken
    within a round; the order rotates from round to round, so that each call
    in turn runs first and finds the memory the others left."""
    names = list(calls)
    shift = len(seconds[names[0]]) % len(names)
    for name in names[shift:] + names[:shift]:
        start = time.perf_counter()
        calls[name](inputs[name])
        synchronize(device)
        seconds[name].append(time.perf_counter() - start)


def per_round_ratios(seconds, numerator, denominator):
    """numerator's time over denominator's in each round of run_in_turn."""
    return [a / b for a, b in zip(seconds[numerator], seconds[denominator])]


def quartiles(values):
    """(first quartile, median, third quartile); a single value stands for all three."""
    if len(values) < 2:
        return tuple(values) * 3
    return tuple(statistics.quantiles(values, n=4))
