"""The ops' autocast rules on the CPU (cosam_ext/ops/autocast.py): the dtype
of every op's outputs under torch.autocast("cpu"), and their values against
the op run on inputs cast by hand. (CUDA: tests/test_cuda.py.)"""
import pytest
import torch
from testing import autocast_cases

from cosam_ext.ops.autocast import AUTOCAST_RULES

CASES = autocast_cases("cpu", torch.bfloat16)


@pytest.mark.parametrize("call, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_output_dtypes_under_cpu_autocast(call, expected):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outputs = call()
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    assert [t.dtype for t in outputs] == expected


def test_every_op_has_a_rule_for_each_device_and_a_reason():
    assert set(AUTOCAST_RULES) == {"ncc_cost_volume", "ncc_summary", "masked_mean", "apply_attention",
                                   "channel_attention"}
    for name, (cpu, cuda, why) in AUTOCAST_RULES.items():
        assert {cpu, cuda} <= {"autocast dtype", "promoted", "float32", "promoted maps"} and why, name
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"cosam::{name}", "AutocastCPU")
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"cosam::{name}", "AutocastCUDA")


def test_the_cast_values_are_those_of_the_op_on_inputs_cast_by_hand():
    x = torch.randn(6, 6, 3, 2).bfloat16()
    mask = torch.rand(6, 1, 3, 2)
    channel_mask = torch.rand(2, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        attended = torch.ops.cosam.apply_attention(x, mask, channel_mask, 3)
    assert torch.equal(attended, torch.ops.cosam.apply_attention(x.float(), mask, channel_mask, 3))
