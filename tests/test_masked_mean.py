"""cosam::masked_mean (the channel attention's pooling of the masked maps)
against the reference, autograd, layouts and input checks, on the CPU."""
import pytest
import torch
from testing import DTYPES, assert_close

from cosam_ext import ops, reference

# (F, C, H, W) with F = B*N frames: H != W, P = 1, C = 1, F = 1.
SHAPES = [(8, 16, 4, 3), (2, 7, 1, 1), (16, 5, 3, 2), (1, 1, 5, 7), (3, 33, 11, 6)]


def shape_id(shape):
    return "F{}C{}H{}W{}".format(*shape)


def make_inputs(shape, dtype=torch.float64, requires_grad=False):
    frames, channels, height, width = shape
    x = torch.randn(frames, channels, height, width, dtype=dtype)
    spatial_mask = torch.rand(frames, 1, height, width, dtype=dtype)
    return [t.requires_grad_(requires_grad) for t in (x, spatial_mask)]


def gradients(fn, inputs, grad_out):
    inputs = [t.detach().clone().requires_grad_(True) for t in inputs]
    fn(*inputs).backward(grad_out)
    return [t.grad for t in inputs]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_matches_reference(shape, dtype):
    inputs = make_inputs(shape, dtype)
    actual = ops.masked_mean(*inputs)
    assert actual.shape == shape[:2]
    assert_close(actual, reference.masked_mean(*inputs))
    grad_out = torch.randn_like(actual)
    for ours, theirs in zip(
        gradients(ops.masked_mean, inputs, grad_out), gradients(reference.masked_mean, inputs, grad_out)
    ):
        assert_close(ours, theirs)


@pytest.mark.parametrize("shape", [(6, 4, 2, 3), (2, 1, 1, 1)], ids=shape_id)
def test_gradcheck(shape):
    assert torch.autograd.gradcheck(ops.masked_mean, make_inputs(shape, requires_grad=True))


@pytest.mark.parametrize("dtype", DTYPES)
def test_opcheck(dtype):
    inputs = make_inputs((6, 5, 2, 3), dtype, requires_grad=True)
    torch.library.opcheck(torch.ops.cosam.masked_mean.default, tuple(inputs))
    grad = torch.randn(6, 5, dtype=dtype)
    torch.library.opcheck(torch.ops.cosam.masked_mean_backward.default, (grad, *(t.detach() for t in inputs)))


def test_non_contiguous_inputs():
    x, spatial_mask = make_inputs((6, 6, 4, 5))
    strided = (x.to(memory_format=torch.channels_last), spatial_mask.transpose(2, 3).contiguous().transpose(2, 3))
    assert not any(t.is_contiguous() for t in strided)
    assert_close(ops.masked_mean(*strided), ops.masked_mean(x, spatial_mask))
    grad_out = torch.randn(6, 6, dtype=x.dtype)
    for ours, theirs in zip(
        gradients(ops.masked_mean, strided, grad_out.t().contiguous().t()),
        gradients(ops.masked_mean, (x, spatial_mask), grad_out),
    ):
        assert_close(ours, theirs)


def test_deterministic():
    inputs = make_inputs((12, 64, 9, 8), torch.float32)
    grad_out = torch.randn(12, 64)
    first = gradients(ops.masked_mean, inputs, grad_out)
    second = gradients(ops.masked_mean, inputs, grad_out)
    assert all(torch.equal(a, b) for a, b in zip(first, second))


BAD_INPUTS = [
    ("3d_x", lambda x, s: (x[0], s), "x must be a 4-D tensor"),
    ("spatial_shape", lambda x, s: (x, s[:, :, :1]), "spatial_mask must have shape"),
    ("spatial_channels", lambda x, s: (x, x), "spatial_mask must have shape"),
    ("dtype", lambda x, s: (x, s.float()), "spatial_mask dtype"),
    ("integer", lambda x, s: (x.long(), s.long()), "floating-point"),
]


@pytest.mark.parametrize("make_args,message", [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_named(make_args, message):
    with pytest.raises(RuntimeError, match=message):
        ops.masked_mean(*make_args(*make_inputs((6, 4, 2, 3))))


def test_bad_grad_is_named():
    x, spatial_mask = make_inputs((6, 4, 2, 3))
    with pytest.raises(RuntimeError, match="grad must have shape"):
        torch.ops.cosam.masked_mean_backward(torch.randn(6, 5, dtype=x.dtype), x, spatial_mask)
