"""The whole CosamLayer forward+backward (fused and reference) against its
unavoidable part, the 1x1 reduction conv + BN + ReLU, on the same input; and
the fused layer and its reduction timed back to back, for their ratio."""
import time

import pytest

import cases
from conftest import LAYER_TARGET_SECONDS, case_info

#: What test_layer_ratio times in each round.
PAIRED_PARTS = ("dim_reduction", "layer_fused")


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


def test_layer_ratio(measure, benchmark, device, layer_case):
    # Separate benchmarks run minutes apart, and this machine's speed drifts
    # between them by more than the margin of the layer's target; within one
    # round both parts see the same machine. The ratio is taken per round.
    layer = cases.make_layer_module(layer_case, "layer_fused", device)
    modules = {"dim_reduction": layer.dim_reduction, "layer_fused": layer}
    seconds = {part: [] for part in PAIRED_PARTS}

    def call(inputs):
        # Which part runs first alternates: each finds the memory the other left.
        order = PAIRED_PARTS if len(seconds["layer_fused"]) % 2 == 0 else PAIRED_PARTS[::-1]
        for part in order:
            start = time.perf_counter()
            cases.run_layer(modules[part], inputs[part])
            cases.synchronize(device)
            seconds[part].append(time.perf_counter() - start)

    benchmark.group = f"{device} layer ratio {layer_case.id}"
    measure(
        make_inputs=lambda: {part: cases.make_layer_inputs(layer_case, part, device) for part in PAIRED_PARTS},
        call=call,
        device=device,
        memory_spec=None,
        target_seconds=2 * LAYER_TARGET_SECONDS,
        **case_info(layer_case),
    )
    # The last rounds are the measured ones; the calls before them warmed up.
    rounds = len(benchmark.stats.stats.data)
    benchmark.extra_info["paired_seconds"] = {part: times[-rounds:] for part, times in seconds.items()}
