"""ncc_summary and ncc_cost_volume, forward and forward+backward, fused
(cosam_ext.ops) vs reference (cosam_ext.reference): time and peak memory."""
import dataclasses

import pytest

import cases
from conftest import case_info


def test_op(measure, benchmark, device, dtype, op_case, op, pass_, implementation):
    if reason := op_case.skip_reason(op, implementation):
        pytest.skip(reason)
    benchmark.group = f"{cases.device_dtype_id(device, dtype)} {op} {pass_} {op_case.id}"
    # The order cosam_ext.ncc_summary takes on these inputs (report.py's roofline models the fused one).
    order = {"contraction": cases.contraction_order(op_case, device)} if op == "ncc_summary" else {}
    measure(
        make_inputs=lambda: cases.make_op_inputs(op_case, op, pass_, device, dtype),
        call=lambda inputs: cases.run_op(op, implementation, op_case, inputs),
        device=device,
        memory_spec={
            "kind": "op", "case": dataclasses.asdict(op_case),
            "op": op, "pass": pass_, "implementation": implementation, "dtype": dtype,
        },
        op=op, pass_=pass_, implementation=implementation, dtype=dtype, **order, **case_info(op_case),
    )
