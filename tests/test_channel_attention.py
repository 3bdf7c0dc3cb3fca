"""cosam::channel_attention (the channel branch of the layer and its output in
one op) against the reference, autograd, layouts and input checks, on the CPU."""
import pytest
import torch
from testing import DTYPES, assert_close

from cosam_ext import ops, reference

# (B, N, C, D, H, W): H != W, P = 1, N = 1 and 8, C = 1, D = 1.
SHAPES = [(2, 4, 16, 8, 4, 3), (1, 2, 7, 3, 1, 1), (2, 8, 5, 4, 3, 2), (3, 1, 1, 1, 5, 7), (1, 3, 33, 16, 11, 6)]


def shape_id(shape):
    return "B{}N{}C{}D{}H{}W{}".format(*shape)


def make_inputs(shape, dtype=torch.float64, with_mask=True):
    """[x, spatial_mask or None, weight1, bias1, weight2, bias2], num_frames."""
    clips, num_frames, channels, reduced, height, width = shape
    x = torch.randn(clips * num_frames, channels, height, width, dtype=dtype)
    spatial_mask = torch.rand(clips * num_frames, 1, height, width, dtype=dtype) if with_mask else None
    mlp = [
        torch.randn(reduced, channels, dtype=dtype) / channels**0.5,
        torch.randn(reduced, dtype=dtype),
        torch.randn(channels, reduced, dtype=dtype) / reduced**0.5,
        torch.randn(channels, dtype=dtype),
    ]
    return [x, spatial_mask, *mlp], num_frames


def outputs_and_gradients(fn, inputs, num_frames, grad_out, grad_mask):
    """Both outputs, and the gradients of every input from a loss on both."""
    inputs = [None if t is None else t.detach().clone().requires_grad_(True) for t in inputs]
    out, channel_mask = fn(*inputs, num_frames)
    torch.autograd.backward([out, channel_mask], [grad_out, grad_mask])
    return [out, channel_mask] + [t.grad for t in inputs if t is not None]


def compare_with_reference(inputs, num_frames):
    out, channel_mask = reference.channel_attention(*inputs, num_frames)
    grad_out, grad_mask = torch.randn_like(out), torch.randn_like(channel_mask)
    ours = outputs_and_gradients(ops.channel_attention, inputs, num_frames, grad_out, grad_mask)
    theirs = outputs_and_gradients(reference.channel_attention, inputs, num_frames, grad_out, grad_mask)
    assert ours[0].shape == inputs[0].shape and ours[1].shape == (inputs[0].shape[0] // num_frames, inputs[0].shape[1])
    for actual, expected in zip(ours, theirs):
        assert_close(actual, expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_matches_reference(shape, dtype):
    compare_with_reference(*make_inputs(shape, dtype))


@pytest.mark.parametrize("shape", SHAPES[:3], ids=shape_id)
def test_without_spatial_mask_matches_reference(shape):
    inputs, num_frames = make_inputs(shape, with_mask=False)
    compare_with_reference(inputs, num_frames)


def test_channel_mask_alone_carries_gradient():
    # A loss on the channel mask only: out's gradient arrives as zeros.
    inputs, num_frames = make_inputs((2, 3, 6, 4, 2, 3))
    leaves = [t.clone().requires_grad_(True) for t in inputs]
    ops.channel_attention(*leaves, num_frames)[1].square().sum().backward()
    expected = [t.clone().requires_grad_(True) for t in inputs]
    reference.channel_attention(*expected, num_frames)[1].square().sum().backward()
    for ours, theirs in zip(leaves, expected):
        assert_close(ours.grad, theirs.grad)
    assert leaves[0].grad.abs().sum() > 0


@pytest.mark.parametrize("with_mask", [True, False], ids=["mask", "no_mask"])
@pytest.mark.parametrize("shape", [(2, 3, 4, 3, 2, 3), (1, 2, 1, 1, 1, 1)], ids=shape_id)
def test_gradcheck(shape, with_mask):
    inputs, num_frames = make_inputs(shape, with_mask=with_mask)
    leaves = [t.requires_grad_(True) for t in inputs if t is not None]

    def call(x, *rest):
        mask, mlp = (rest[0], rest[1:]) if with_mask else (None, rest)
        return ops.channel_attention(x, mask, *mlp, num_frames)

    assert torch.autograd.gradcheck(call, leaves)


@pytest.mark.parametrize("with_mask", [True, False], ids=["mask", "no_mask"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_opcheck(dtype, with_mask):
    inputs, num_frames = make_inputs((2, 3, 5, 4, 2, 3), dtype, with_mask)
    inputs = [None if t is None else t.requires_grad_(True) for t in inputs]
    torch.library.opcheck(torch.ops.cosam.channel_attention.default, (*inputs, num_frames))


def test_non_contiguous_inputs():
    inputs, num_frames = make_inputs((2, 3, 6, 4, 4, 5))
    x, spatial_mask, weight1, bias1, weight2, bias2 = inputs
    strided = [
        x.to(memory_format=torch.channels_last),
        spatial_mask.transpose(2, 3).contiguous().transpose(2, 3),
        weight1.t().contiguous().t(),
        bias1,
        weight2.t().contiguous().t(),
        bias2,
    ]
    assert not any(t.is_contiguous() for t in strided[:3] + strided[4:5])
    out, channel_mask = reference.channel_attention(*inputs, num_frames)
    grad_out, grad_mask = torch.randn_like(out), torch.randn_like(channel_mask)
    ours = outputs_and_gradients(
        ops.channel_attention, strided, num_frames, grad_out.to(memory_format=torch.channels_last), grad_mask
    )
    for actual, expected in zip(ours, outputs_and_gradients(reference.channel_attention, inputs, num_frames, grad_out, grad_mask)):
        assert_close(actual, expected)


def test_deterministic():
    inputs, num_frames = make_inputs((3, 4, 64, 16, 9, 8), torch.float32)
    grad_out, grad_mask = torch.randn(12, 64, 9, 8), torch.randn(3, 64)
    first = outputs_and_gradients(ops.channel_attention, inputs, num_frames, grad_out, grad_mask)
    second = outputs_and_gradients(ops.channel_attention, inputs, num_frames, grad_out, grad_mask)
    assert all(torch.equal(a, b) for a, b in zip(first, second))


def relative_error(actual, exact):
    return ((actual.double() - exact).norm() / exact.norm()).item()


def test_cpu_autocast_keeps_x_in_its_dtype():
    # Under autocast x and its mask meet in their promoted dtype, as in
    # apply_attention: bfloat16 ones give a bfloat16 output. The pooled
    # statistic and the MLP run in float32 (the weights'), and the channel
    # mask comes out so. Each gradient is in its input's dtype. Errors against
    # float64 on the same inputs: at most twice those of the authors'
    # formulation under the same autocast, or of rounding to the dtype.
    torch.manual_seed(0)
    inputs, num_frames = make_inputs((2, 3, 6, 4, 4, 5), torch.float32)
    inputs[:2] = [t.bfloat16() for t in inputs[:2]]
    grad_out, grad_mask = torch.randn(6, 6, 4, 5, dtype=torch.float64), torch.randn(2, 6, dtype=torch.float64)

    def run(fn, inputs, autocast):
        leaves = [t.detach().clone().requires_grad_(True) for t in inputs]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            out, channel_mask = fn(*leaves, num_frames)
        torch.autograd.backward([out, channel_mask], [grad_out.to(out.dtype), grad_mask.to(channel_mask.dtype)])
        return [out, channel_mask] + [t.grad for t in leaves]

    ours = run(ops.channel_attention, inputs, True)
    assert [t.dtype for t in ours] == [torch.bfloat16, torch.float32] + [t.dtype for t in inputs]
    truth = run(reference.channel_attention, [t.double() for t in inputs], False)
    theirs = run(reference.channel_attention, inputs, True)
    for index, (actual, exact, baseline) in enumerate(zip(ours, truth, theirs)):
        allowed = 2 * max(relative_error(baseline, exact), relative_error(exact.to(actual.dtype), exact))
        assert relative_error(actual, exact) <= allowed, f"result {index}: {relative_error(actual, exact)} > {allowed}"


def _inputs():
    return make_inputs((2, 3, 4, 3, 2, 3))[0]


BAD_INPUTS = [
    ("3d_x", lambda x, s, *mlp: (x[0], s, *mlp, 3), "x must be a 4-D tensor"),
    ("frames", lambda x, s, *mlp: (x, s, *mlp, 4), "not divisible by num_frames"),
    ("spatial_shape", lambda x, s, *mlp: (x, s[:, :, :1], *mlp, 3), "spatial_mask must have shape"),
    ("weight1_shape", lambda x, s, w1, *rest: (x, s, w1[:, :2], *rest, 3), r"weight1 must have shape \(3, 4\)"),
    ("bias2_shape", lambda x, s, w1, b1, w2, b2: (x, s, w1, b1, w2, b2[:1], 3), r"bias2 must have shape \(4,\)"),
    ("bias1_dtype", lambda x, s, w1, b1, *rest: (x, s, w1, b1.float(), *rest, 3),
     "bias1 dtype torch.float32 does not match weight1 dtype torch.float64"),
]


@pytest.mark.parametrize("make_args,message", [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_named(make_args, message):
    with pytest.raises(RuntimeError, match=message):
        ops.channel_attention(*make_args(*_inputs()))
