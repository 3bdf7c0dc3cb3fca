"""ncc_summary and ncc_cost_volume, forward and forward+backward, fused
(cosam_ext.ops) vs reference (cosam_ext.reference): time and peak memory."""
import dataclasses

import pytest

import cases
from conftest import case_info


def test_op(measure, benchmark, device, op_case, op, pass_, implementation):
    if reason := op_case.skip_reason(op, implementation):
        pytest.skip(reason)
    benchmark.group = f"{device} {op} {pass_} {op_case.id}"
    measure(
        make_inputs=lambda: cases.make_op_inputs(op_case, op, pass_, device),
        call=lambda inputs: cases.run_op(op, implementation, op_case, inputs),
        device=device,
        memory_spec={
            "kind": "op", "case": dataclasses.asdict(op_case),
            "op": op, "pass": pass_, "implementation": implementation,
        },
        op=op, pass_=pass_, implementation=implementation, **case_info(op_case),
    )
