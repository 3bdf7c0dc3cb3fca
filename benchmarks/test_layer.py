"""The whole CosamLayer forward+backward in training mode, fused and
reference (`implementation="reference"`), and the part no formulation can
avoid, its 1x1 reduction conv + BN + ReLU, timed in turn within each round
at each of four shapes: the ratios layer/reduction and reference/layer
are taken per round (report.py)."""
import dataclasses

import cases
from conftest import LAYER_TARGET_SECONDS, case_info


def test_layer(measure_paired, benchmark, device, layer_case):
    skipped = {part: reason for part in cases.LAYER_PARTS if (reason := layer_case.skip_reason(part))}
    parts = [part for part in cases.LAYER_PARTS if part not in skipped]
    calls, make_inputs = cases.layer_calls(layer_case, parts, device)
    benchmark.group = f"{device} layer forward_backward {layer_case.id}"
    measure_paired(
        make_inputs=make_inputs,
        calls=calls,
        device=device,
        target_seconds=LAYER_TARGET_SECONDS,
        memory_specs={
            part: {"kind": "layer", "case": dataclasses.asdict(layer_case), "part": part} for part in parts
        },
        skipped=skipped,
        **case_info(layer_case),
    )
