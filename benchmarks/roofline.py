"""How close the fused ncc_summary comes to the machine it runs on.

The work its algebra (csrc/ncc_algebra.h) cannot avoid: the FLOPs of its
GEMMs and the bytes it must move (read x, write the logits; in the backward
read the gradient and x, write dx). Divided by the measured time they give
the achieved GEMM rate and bandwidth, reported as fractions of what a large
square GEMM and a large copy reach on the same device and dtype (measured
by test_roofline.py in the same run).
"""
import dataclasses

import torch

import cases

#: Work of the rate probes: square GEMM side, and copied bytes.
GEMM_SIZE = {"cpu": 2048, "cuda": 8192}
COPY_BYTES = {"cpu": 256 * 2**20, "cuda": 2 * 2**30}
SMOKE_GEMM_SIZE, SMOKE_COPY_BYTES = 128, 2**20
RATES = ("gemm", "copy")


@dataclasses.dataclass(frozen=True)
class Work:
    flops: float
    bytes: float


def ncc_summary_work(case, pass_, element_size, out_channels=cases.SUMMARY_CHANNELS):
    """GEMM FLOPs (2 per multiply-add) and compulsory bytes of the fused
    ncc_summary on an OpCase. Its GEMMs, per ncc_algebra.h: the slot GEMMs
    Z_m [W_{m-1} | W_m]^T (2(N-1) products of a frame and a slot weight), and
    the own-frame GEMM V_n^T Z_n over all N; the backward reuses the
    forward's Z and V, and its dV, dW and dZ are two own-frame and two
    slot-sized GEMMs."""
    frames, positions = case.clips * case.frames, case.positions
    slot = 2 * (case.frames - 1) * case.clips * case.channels * positions * out_channels
    own = frames * out_channels * case.channels * positions
    x = frames * case.channels * positions * element_size
    logits = frames * out_channels * positions * element_size
    if pass_ == "forward":
        return Work(flops=2 * (slot + own), bytes=x + logits)
    return Work(flops=2 * (3 * slot + 3 * own), bytes=3 * x + 2 * logits)


def rate_work(rate, device, smoke):
    """Work of one call of a rate probe (not counting its dtype's size in the
    GEMM's case): the FLOPs of the GEMM, the bytes read and written by the copy."""
    if rate == "gemm":
        size = SMOKE_GEMM_SIZE if smoke else GEMM_SIZE[device]
        return Work(flops=2 * size**3, bytes=0)
    copied = SMOKE_COPY_BYTES if smoke else COPY_BYTES[device]
    return Work(flops=0, bytes=2 * copied)


def make_rate_inputs(rate, device, dtype, smoke):
    dtype = getattr(torch, dtype)
    if rate == "gemm":
        size = SMOKE_GEMM_SIZE if smoke else GEMM_SIZE[device]
        return {"a": torch.randn(size, size, device=device, dtype=dtype),
                "b": torch.randn(size, size, device=device, dtype=dtype)}
    elements = (SMOKE_COPY_BYTES if smoke else COPY_BYTES[device]) // dtype.itemsize
    # Both ends exist before the timed call: the copy measures bandwidth, not page faults.
    return {"source": torch.randn(elements, device=device, dtype=dtype),
            "target": torch.empty(elements, device=device, dtype=dtype).fill_(0)}


def run_rate(rate, inputs):
    if rate == "gemm":
        return torch.mm(inputs["a"], inputs["b"])
    return inputs["target"].copy_(inputs["source"])
