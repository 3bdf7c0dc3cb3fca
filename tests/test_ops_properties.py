"""Property-based tests: both ops equal the reference over random shapes and values."""
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from testing import assert_close

from cosam_ext import ops, reference


@st.composite
def problems(draw):
    """A random problem: shapes, value scale and offset, eps, and a seed for the values."""
    clips = draw(st.integers(1, 3))
    num_frames = draw(st.integers(2, 6))
    channels = draw(st.integers(2, 40))
    height, width = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    out_channels = draw(st.integers(1, 9))
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    offset = draw(st.floats(-10, 10))
    eps = draw(st.sampled_from([1e-4, 1e-2, 0.5]))
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))

    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    x = randn(clips * num_frames, channels, height, width) * scale + offset
    weight = randn(out_channels, (num_frames - 1) * height * width)
    bias = randn(out_channels) if draw(st.booleans()) else None
    return x, weight, bias, num_frames, eps


@settings(max_examples=60, deadline=None)
@given(problems())
def test_ops_match_reference(problem):
    x, weight, bias, num_frames, eps = problem
    assert_close(ops.ncc_cost_volume(x, num_frames, eps), reference.ncc_cost_volume(x, num_frames, eps))
    assert_close(ops.ncc_summary(x, weight, bias, num_frames, eps), reference.ncc_summary(x, weight, bias, num_frames, eps))


@settings(max_examples=40, deadline=None)
@given(problems())
def test_summary_gradients_match_reference(problem):
    x, weight, bias, num_frames, eps = problem
    inputs = [t for t in (x, weight, bias) if t is not None]

    def grads(op):
        leaves = [t.clone().requires_grad_(True) for t in inputs]
        x, weight, *rest = leaves
        out = op.ncc_summary(x, weight, rest[0] if rest else None, num_frames, eps)
        grad_out = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
        return torch.autograd.grad(out, leaves, grad_out)

    for actual, expected in zip(grads(ops), grads(reference)):
        # Gradients scale with 1/(std + eps): compare relative to their size
        # (at least 1, so that a gradient that sums to 0 allows rounding).
        rtol = 1e-9
        torch.testing.assert_close(actual, expected, rtol=rtol, atol=rtol * max(1.0, expected.abs().max().item()))
