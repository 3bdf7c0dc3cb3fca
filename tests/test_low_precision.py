"""float16 and bfloat16 on the CPU: every op, forward and backward, and the
layer converted with .to(dtype). The bound is the CUDA tests' one: against
float64, at most twice the error of the reference oracle run in the same
dtype, or twice the rounding of the exact result to that dtype, whichever is
larger (no implementation beats the rounding)."""
import pytest
import torch

from cosam_ext import CosamLayer, ops, reference

HALF_DTYPES = (torch.float16, torch.bfloat16)
EPS = 1e-3


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def relative_error(actual, truth):
    return ((actual.double() - truth).norm() / truth.norm()).item()


def outputs_and_grads(fn, inputs, dtype):
    """fn's outputs and the gradients of its inputs for a fixed random
    cotangent, with the inputs and the cotangent cast to dtype."""
    inputs = [t.detach().to(dtype).requires_grad_(True) for t in inputs]
    outputs = fn(*inputs)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    generator = torch.Generator().manual_seed(1)
    cotangents = [torch.randn(o.shape, dtype=torch.float64, generator=generator).to(dtype) for o in outputs]
    torch.autograd.backward(outputs, cotangents)
    return [o.detach() for o in outputs] + [t.grad for t in inputs]


def assert_within_bound(ours_fn, reference_fn, inputs, dtype):
    truth = outputs_and_grads(reference_fn, inputs, torch.float64)
    ours = outputs_and_grads(ours_fn, inputs, dtype)
    theirs = outputs_and_grads(reference_fn, inputs, dtype)
    for index, (exact, actual, baseline) in enumerate(zip(truth, ours, theirs)):
        assert actual.dtype == dtype and torch.isfinite(actual).all(), index
        allowed = 2 * max(relative_error(baseline, exact), relative_error(exact.to(dtype), exact))
        assert relative_error(actual, exact) <= allowed, f"result {index}: {relative_error(actual, exact)} > {allowed}"


# (B, N, D, H, W, K): the fused order at 8x5 maps, the materialised one at 2x2.
SUMMARY_SHAPES = {"fused": (2, 4, 64, 8, 5, 16), "materialised": (2, 4, 24, 2, 2, 16)}


@pytest.mark.parametrize("dtype", HALF_DTYPES, ids=str)
@pytest.mark.parametrize("order", SUMMARY_SHAPES)
def test_ncc_summary(order, dtype):
    clips, frames, channels, height, width, out_channels = SUMMARY_SHAPES[order]
    x = torch.randn(clips * frames, channels, height, width, dtype=torch.float64)
    assert ops.materialising_is_cheaper(x, out_channels, frames) == (order == "materialised")
    weight = torch.randn(out_channels, (frames - 1) * height * width, dtype=torch.float64)
    bias = torch.randn(out_channels, dtype=torch.float64)
    assert_within_bound(
        lambda *t: ops.ncc_summary(*t, frames, EPS), lambda *t: reference.ncc_summary(*t, frames, EPS),
        [x, weight, bias], dtype,
    )


@pytest.mark.parametrize("dtype", HALF_DTYPES, ids=str)
def test_ncc_cost_volume(dtype):
    x = torch.randn(3 * 3, 40, 7, 3, dtype=torch.float64)
    assert_within_bound(
        lambda x: ops.ncc_cost_volume(x, 3, EPS), lambda x: reference.ncc_cost_volume(x, 3, EPS), [x], dtype
    )


def mask_inputs(clips=2, frames=4, channels=64, height=16, width=8):
    x = torch.randn(clips * frames, channels, height, width, dtype=torch.float64)
    spatial_mask = torch.rand(clips * frames, 1, height, width, dtype=torch.float64)
    channel_mask = torch.rand(clips, channels, dtype=torch.float64)
    return x, spatial_mask, channel_mask, frames


@pytest.mark.parametrize("dtype", HALF_DTYPES, ids=str)
def test_masked_mean(dtype):
    x, spatial_mask, _, _ = mask_inputs()
    assert_within_bound(ops.masked_mean, reference.masked_mean, [x, spatial_mask], dtype)


@pytest.mark.parametrize("dtype", HALF_DTYPES, ids=str)
def test_apply_attention(dtype):
    x, spatial_mask, channel_mask, frames = mask_inputs()
    assert_within_bound(
        lambda *t: ops.apply_attention(*t, frames), lambda *t: reference.apply_attention(*t, frames),
        [x, spatial_mask, channel_mask], dtype,
    )


@pytest.mark.parametrize("dtype", HALF_DTYPES, ids=str)
def test_channel_attention(dtype):
    x, spatial_mask, _, frames = mask_inputs()
    channels, reduced = x.shape[1], 16
    weights = [torch.randn(reduced, channels, dtype=torch.float64) * 0.2, torch.randn(reduced, dtype=torch.float64),
               torch.randn(channels, reduced, dtype=torch.float64) * 0.2, torch.randn(channels, dtype=torch.float64)]
    assert_within_bound(
        lambda *t: ops.channel_attention(*t, frames), lambda *t: reference.channel_attention(*t, frames),
        [x, spatial_mask, *weights], dtype,
    )


@pytest.mark.parametrize("dtype", HALF_DTYPES, ids=str)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_layer_converted_to_half(training, dtype):
    exact = CosamLayer(64, 4, (8, 5), reduced_channels=32).double().train(training)
    half = CosamLayer(64, 4, (8, 5), reduced_channels=32).to(dtype).train(training)
    half.load_state_dict(exact.state_dict())
    baseline = CosamLayer(64, 4, (8, 5), reduced_channels=32, implementation="reference").to(dtype).train(training)
    baseline.load_state_dict(exact.state_dict())
    x = torch.randn(2, 4, 64, 8, 5, dtype=torch.float64)
    truth = outputs_and_grads(exact, [x], torch.float64)
    for name, actual, theirs in zip(["output", "input grad"], outputs_and_grads(half, [x], dtype),
                                    outputs_and_grads(baseline, [x], dtype)):
        assert actual.dtype == dtype and torch.isfinite(actual).all(), name
        exact_value = truth[0] if name == "output" else truth[1]
        allowed = 2 * max(relative_error(theirs, exact_value), relative_error(exact_value.to(dtype), exact_value))
        assert relative_error(actual, exact_value) <= allowed, name
    assert all(p.grad.dtype == dtype and torch.isfinite(p.grad).all() for p in half.parameters())
