"""cosam::apply_attention (the layer's masks applied to its input) against
the reference, autograd, layouts and input checks, on the CPU."""
import pytest
import torch
from testing import DTYPES, assert_close

from cosam_ext import ops, reference

# (B, N, C, H, W): H != W, P = 1, N = 1 and 8, C = 1, B = 1.
SHAPES = [(2, 4, 16, 4, 3), (1, 2, 7, 1, 1), (2, 8, 5, 3, 2), (3, 1, 1, 5, 7), (1, 3, 33, 11, 6)]


def shape_id(shape):
    return "B{}N{}C{}H{}W{}".format(*shape)


def make_inputs(shape, dtype=torch.float64, requires_grad=False):
    clips, num_frames, channels, height, width = shape
    x = torch.randn(clips * num_frames, channels, height, width, dtype=dtype)
    spatial_mask = torch.rand(clips * num_frames, 1, height, width, dtype=dtype)
    channel_mask = torch.rand(clips, channels, dtype=dtype)
    return [t.requires_grad_(requires_grad) for t in (x, spatial_mask, channel_mask)], num_frames


def gradients(fn, inputs, num_frames, grad_out):
    inputs = [t.detach().clone().requires_grad_(True) for t in inputs]
    fn(*inputs, num_frames).backward(grad_out)
    return [t.grad for t in inputs]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_matches_reference(shape, dtype):
    inputs, num_frames = make_inputs(shape, dtype)
    actual = ops.apply_attention(*inputs, num_frames)
    assert actual.shape == inputs[0].shape
    assert_close(actual, reference.apply_attention(*inputs, num_frames))
    grad_out = torch.randn_like(actual)
    for ours, theirs in zip(
        gradients(ops.apply_attention, inputs, num_frames, grad_out),
        gradients(reference.apply_attention, inputs, num_frames, grad_out),
    ):
        assert_close(ours, theirs)


def pooled_and_attention_gradients(inputs, num_frames, grad_out, grad_pooled):
    """Reference gradients of (x, spatial_mask, channel_mask) from a loss on
    apply_attention's output (gradient grad_out) and on the pooled statistic
    mean_p(x * spatial_mask) (gradient grad_pooled)."""
    x, spatial_mask, channel_mask = [t.detach().clone().requires_grad_(True) for t in inputs]
    torch.autograd.backward(
        [reference.apply_attention(x, spatial_mask, channel_mask, num_frames), reference.masked_mean(x, spatial_mask)],
        [grad_out, grad_pooled],
    )
    return [x.grad, spatial_mask.grad, channel_mask.grad]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_backward_with_grad_pooled_matches_reference(shape, dtype):
    # The channel attention's second backward pass: the pooled statistic's
    # share folded into dx and the spatial mask's gradient; dc is apply_attention's own.
    inputs, num_frames = make_inputs(shape, dtype)
    grad_out = torch.randn_like(inputs[0])
    grad_pooled = torch.randn(inputs[0].shape[:2], dtype=dtype)
    actual = torch.ops.cosam.apply_attention_backward(grad_out, *inputs, num_frames, grad_pooled)
    for ours, theirs in zip(actual, pooled_and_attention_gradients(inputs, num_frames, grad_out, grad_pooled)):
        assert ours.shape == theirs.shape
        assert_close(ours, theirs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_channel_grad_matches_reference(shape, dtype):
    inputs, num_frames = make_inputs(shape, dtype)
    grad_out = torch.randn_like(inputs[0])
    actual = torch.ops.cosam.apply_attention_channel_grad(grad_out, inputs[0], inputs[1], num_frames)
    assert actual.shape == inputs[2].shape and actual.dtype == dtype
    assert_close(actual, gradients(reference.apply_attention, inputs, num_frames, grad_out)[2])


def test_two_passes_non_contiguous():
    inputs, num_frames = make_inputs((2, 3, 6, 4, 5))
    x, spatial_mask, channel_mask = inputs
    grad_out = torch.randn_like(x)
    grad_pooled = torch.randn(x.shape[:2], dtype=x.dtype)
    strided_grad = grad_out.transpose(2, 3).contiguous().transpose(2, 3)
    strided_pooled = grad_pooled.t().contiguous().t()
    strided_x = x.to(memory_format=torch.channels_last)
    assert not any(t.is_contiguous() for t in (strided_grad, strided_pooled, strided_x))
    expected = pooled_and_attention_gradients(inputs, num_frames, grad_out, grad_pooled)
    ours = torch.ops.cosam.apply_attention_backward(
        strided_grad, strided_x, spatial_mask, channel_mask, num_frames, strided_pooled
    )
    for actual, wanted in zip(ours, expected):
        assert_close(actual, wanted)
    assert_close(
        torch.ops.cosam.apply_attention_channel_grad(strided_grad, strided_x, spatial_mask, num_frames), expected[2]
    )


@pytest.mark.parametrize("shape", [(2, 3, 4, 2, 3), (1, 2, 1, 1, 1)], ids=shape_id)
def test_gradcheck(shape):
    inputs, num_frames = make_inputs(shape, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *t: ops.apply_attention(*t, num_frames), inputs)


@pytest.mark.parametrize("dtype", DTYPES)
def test_opcheck(dtype):
    inputs, num_frames = make_inputs((2, 3, 5, 2, 3), dtype, requires_grad=True)
    torch.library.opcheck(torch.ops.cosam.apply_attention.default, (*inputs, num_frames))
    grad = torch.randn_like(inputs[0])
    detached = [t.detach() for t in inputs]
    torch.library.opcheck(torch.ops.cosam.apply_attention_backward.default, (grad, *detached, num_frames))
    grad_pooled = torch.randn(inputs[0].shape[:2], dtype=dtype)
    torch.library.opcheck(
        torch.ops.cosam.apply_attention_backward.default, (grad, *detached, num_frames, grad_pooled)
    )
    torch.library.opcheck(
        torch.ops.cosam.apply_attention_channel_grad.default, (grad, *detached[:2], num_frames)
    )


def test_non_contiguous_inputs():
    inputs, num_frames = make_inputs((2, 3, 6, 4, 5))
    x, spatial_mask, channel_mask = inputs
    strided = (
        x.to(memory_format=torch.channels_last),
        spatial_mask.transpose(2, 3).contiguous().transpose(2, 3),
        channel_mask.t().contiguous().t(),
    )
    assert not any(t.is_contiguous() for t in strided)
    assert_close(ops.apply_attention(*strided, num_frames), ops.apply_attention(*inputs, num_frames))
    grad_out = torch.randn_like(x)
    for ours, theirs in zip(
        gradients(ops.apply_attention, strided, num_frames, grad_out.transpose(2, 3).contiguous().transpose(2, 3)),
        gradients(ops.apply_attention, inputs, num_frames, grad_out),
    ):
        assert_close(ours, theirs)


def test_deterministic():
    inputs, num_frames = make_inputs((3, 4, 64, 9, 8), torch.float32)
    grad_out = torch.randn_like(inputs[0])
    first = gradients(ops.apply_attention, inputs, num_frames, grad_out)
    second = gradients(ops.apply_attention, inputs, num_frames, grad_out)
    assert all(torch.equal(a, b) for a, b in zip(first, second))


def _inputs(shape=(2, 3, 4, 2, 3)):
    return make_inputs(shape)[0]


BAD_INPUTS = [
    ("3d_x", lambda x, s, c: (x[0], s, c, 3), "x must be a 4-D tensor"),
    ("frames", lambda x, s, c: (x, s, c, 4), "not divisible by num_frames"),
    ("spatial_shape", lambda x, s, c: (x, s[:, :, :1], c, 3), "spatial_mask must have shape"),
    ("channel_shape", lambda x, s, c: (x, s, c[:, :3], 3), "channel_mask must have shape"),
    ("dtype", lambda x, s, c: (x, s.float(), c, 3), "spatial_mask dtype"),
    ("integer", lambda x, s, c: (x.long(), s.long(), c.long(), 3), "floating-point"),
]


@pytest.mark.parametrize("make_args,message", [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_named(make_args, message):
    with pytest.raises(RuntimeError, match=message):
        ops.apply_attention(*make_args(*_inputs()))


BAD_BACKWARD_INPUTS = [
    ("grad_pooled_shape", lambda g, x, s, c, p: (g, x, s, c, 3, p[:, :3]), "grad_pooled must have shape"),
    ("grad_pooled_dtype", lambda g, x, s, c, p: (g, x, s, c, 3, p.float()), "grad_pooled dtype"),
]


@pytest.mark.parametrize(
    "make_args,message", [case[1:] for case in BAD_BACKWARD_INPUTS], ids=[case[0] for case in BAD_BACKWARD_INPUTS]
)
def test_bad_grad_pooled_is_named(make_args, message):
    x, s, c = _inputs()
    args = make_args(torch.randn_like(x), x, s, c, torch.randn(x.shape[:2], dtype=x.dtype))
    with pytest.raises(RuntimeError, match=message):
        torch.ops.cosam.apply_attention_backward(*args)


@pytest.mark.parametrize("make_args,message", [
    (lambda g, x, s: (g, x, s, 4), "not divisible by num_frames"),
    (lambda g, x, s: (g, x, s[:, :, :1], 3), "spatial_mask must have shape"),
    (lambda g, x, s: (g[:, :2], x, s, 3), "grad must have shape"),
], ids=["frames", "spatial_shape", "grad_shape"])
def test_channel_grad_bad_input_is_named(make_args, message):
    x, s, _ = _inputs()
    with pytest.raises(RuntimeError, match=message):
        torch.ops.cosam.apply_attention_channel_grad(*make_args(torch.randn_like(x), x, s))
