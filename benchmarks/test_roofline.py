"""What the device itself reaches in each dtype: a large square GEMM's rate
and a large copy's bandwidth, the yardsticks of report.py's roofline table."""
import math

import torch

import cases
import roofline


def test_rate(benchmark, smoke, device, dtype, rate):
    benchmark.group = f"{cases.device_dtype_id(device, dtype)} rates"
    rounds = 1 if smoke else 10
    inputs = roofline.make_rate_inputs(rate, device, dtype, smoke)

    def target():
        roofline.run_rate(rate, inputs)
        cases.synchronize(device)

    benchmark.pedantic(target, rounds=rounds, warmup_rounds=0 if smoke else 2, iterations=1)
    work = roofline.rate_work(rate, device, smoke)
    benchmark.extra_info.update(rate=rate, device=device, dtype=dtype, flops=work.flops, bytes=work.bytes)


#: The matrix products the profiler counts FLOPs for, and the in-place ones it does not.
GEMMS = ("aten::mm", "aten::bmm", "aten::addmm", "aten::baddbmm")
IN_PLACE_GEMMS = ("aten::addmm_", "aten::baddbmm_")


def gemm_flops_run(call):
    """FLOPs of the matrix products call() runs, from the profiler: its own
    count, plus the in-place products it does not count, from their shapes.
    Elementwise ops (which the profiler also counts) are left out."""
    with torch.profiler.profile(with_flops=True, record_shapes=True) as profile:
        call()
    total = 0
    for event in profile.events():
        if event.name in IN_PLACE_GEMMS:
            left, (*_, columns) = event.input_shapes[1:3]
            total += 2 * math.prod(left) * columns
        elif event.name in GEMMS:
            total += event.flops or 0
    return total


def test_ncc_summary_work_counts_the_gemms_run(pass_):
    """roofline's FLOP model is what the fused op really multiplies."""
    case = cases.OpCase("check", 2, 4, 16, 8, 4)
    inputs = cases.make_op_inputs(case, "ncc_summary", pass_, "cpu")
    assert cases.contraction_order(case, "cpu") == "fused"
    counted = gemm_flops_run(lambda: cases.run_op("ncc_summary", "fused", case, inputs))
    assert counted == roofline.ncc_summary_work(case, pass_, element_size=4).flops
