"""The whole CosamLayer forward+backward (fused and reference) against its
unavoidable part, the 1x1 reduction conv + BN + ReLU, on the same input."""
import pytest

import cases
from conftest import LAYER_TARGET_SECONDS, case_info


@pytest.fixture
def layer_case(smoke):
    return cases.layer_case(smoke)


def test_layer(measure, benchmark, device, layer_case, layer_part):
    module = cases.make_layer_module(layer_case, layer_part, device)
    benchmark.group = f"{device} layer forward_backward {layer_case.id}"
    measure(
        make_inputs=lambda: cases.make_layer_inputs(layer_case, layer_part, device),
        call=lambda inputs: cases.run_layer(module, inputs),
        device=device,
        memory_spec={"kind": "layer", "case": case_info(layer_case)["case"], "part": layer_part},
        target_seconds=LAYER_TARGET_SECONDS,
        part=layer_part, **case_info(layer_case),
    )
