"""The compiled cosam ops against the reference oracle, autograd, and input checks."""
import pytest
import torch
from testing import (
    DTYPES, OP_SHAPES, assert_close, assert_close_to_position_scale, frames, shape_id, summary_params,
)

from cosam_ext import ops, reference

EPS = ops.DEFAULT_EPS


class fused:
    """The compiled ops themselves: ops.ncc_summary may take the materialised
    order at tiny maps (tested at the end of this file), these never do."""

    ncc_cost_volume = torch.ops.cosam.ncc_cost_volume

    @staticmethod
    def ncc_summary(*args):
        return torch.ops.cosam.ncc_summary(*args)[0]  # the logits; v is for the backward



def make_inputs(shape, dtype, requires_grad=False):
    clips, num_frames, channels, height, width, out_channels = shape
    x = frames(clips, num_frames, channels, height, width, dtype=dtype, requires_grad=requires_grad)
    weight, bias = summary_params(num_frames, height, width, out_channels, dtype=dtype, requires_grad=requires_grad)
    return x, weight, bias, num_frames


def run_both(op_name, x, *args):
    return getattr(fused, op_name)(x, *args), getattr(reference, op_name)(x, *args)


def summary_saved(x, weight, num_frames):
    """What ncc_summary's forward hands to its backward: (v,)."""
    return torch.ops.cosam.ncc_summary(x, weight, None, num_frames, EPS)[1:]


def grads_of(fn, inputs, grad_out):
    inputs = [t.detach().clone().requires_grad_(True) for t in inputs]
    out = fn(*inputs)
    out.backward(grad_out)
    return [t.grad for t in inputs]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", OP_SHAPES, ids=shape_id)
def test_cost_volume_matches_reference(shape, dtype):
    x, _, _, num_frames = make_inputs(shape, dtype)
    actual, expected = run_both("ncc_cost_volume", x, num_frames, EPS)
    assert actual.shape == (x.shape[0], (num_frames - 1) * x.shape[2] * x.shape[3], *x.shape[2:])
    assert_close(actual, expected)


@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("conv_weight", [False, True], ids=["2d_weight", "4d_weight"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", OP_SHAPES, ids=shape_id)
def test_summary_matches_reference(shape, dtype, conv_weight, with_bias):
    x, weight, bias, num_frames = make_inputs(shape, dtype)
    if conv_weight:
        weight = weight[:, :, None, None]
    bias = bias if with_bias else None
    actual, expected = run_both("ncc_summary", x, weight, bias, num_frames, EPS)
    assert actual.shape == (x.shape[0], weight.shape[0], *x.shape[2:])
    assert_close(actual, expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", OP_SHAPES, ids=shape_id)
def test_gradients_match_reference(shape, dtype):
    x, weight, bias, num_frames = make_inputs(shape, dtype)
    grad_volume = torch.randn_like(reference.ncc_cost_volume(x, num_frames, EPS))
    for actual, expected in zip(
        grads_of(lambda x: fused.ncc_cost_volume(x, num_frames, EPS), [x], grad_volume),
        grads_of(lambda x: reference.ncc_cost_volume(x, num_frames, EPS), [x], grad_volume),
    ):
        assert_close(actual, expected)

    grad_summary = torch.randn(x.shape[0], weight.shape[0], *x.shape[2:], dtype=dtype)
    for actual, expected in zip(
        grads_of(lambda *t: fused.ncc_summary(*t, num_frames, EPS), [x, weight, bias], grad_summary),
        grads_of(lambda *t: reference.ncc_summary(*t, num_frames, EPS), [x, weight, bias], grad_summary),
    ):
        assert_close(actual, expected)


@pytest.mark.parametrize("shape", [(2, 3, 5, 2, 3, 4), (1, 2, 3, 1, 1, 1), (1, 4, 4, 1, 2, 2)], ids=shape_id)
def test_gradcheck(shape):
    x, weight, bias, num_frames = make_inputs(shape, torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: fused.ncc_cost_volume(x, num_frames, EPS), (x,))
    assert torch.autograd.gradcheck(lambda *t: fused.ncc_summary(*t, num_frames, EPS), (x, weight, bias))
    weight_4d = weight.detach()[:, :, None, None].requires_grad_(True)
    assert torch.autograd.gradcheck(lambda *t: fused.ncc_summary(*t, num_frames, EPS), (x, weight_4d, None))


@pytest.mark.parametrize("dtype", DTYPES)
def test_opcheck(dtype):
    x, weight, bias, num_frames = make_inputs((2, 3, 6, 3, 2, 4), dtype, requires_grad=True)
    torch.library.opcheck(torch.ops.cosam.ncc_cost_volume.default, (x, num_frames, EPS))
    torch.library.opcheck(torch.ops.cosam.ncc_summary.default, (x, weight, bias, num_frames, EPS))
    torch.library.opcheck(torch.ops.cosam.ncc_summary.default, (x, weight, None, num_frames, EPS))
    grad = torch.randn(x.shape[0], weight.shape[0], *x.shape[2:], dtype=dtype)
    saved = summary_saved(x.detach(), weight.detach(), num_frames)
    torch.library.opcheck(
        torch.ops.cosam.ncc_summary_backward.default, (grad, x.detach(), *saved, weight.detach(), num_frames, EPS)
    )
    grad_volume = torch.randn_like(fused.ncc_cost_volume(x.detach(), num_frames, EPS))
    torch.library.opcheck(
        torch.ops.cosam.ncc_cost_volume_backward.default, (grad_volume, x.detach(), num_frames, EPS)
    )


def test_compile_fullgraph_matches_eager():
    torch._dynamo.reset()
    x, weight, bias, num_frames = make_inputs((2, 3, 6, 3, 2, 4), torch.float32)

    def both(x, weight, bias):
        return fused.ncc_summary(x, weight, bias, num_frames, EPS).sum() + fused.ncc_cost_volume(x, num_frames, EPS).sum()

    compiled = torch.compile(both, fullgraph=True, backend="aot_eager")
    assert_close(compiled(x, weight, bias), both(x, weight, bias))


NON_CONTIGUOUS = {
    "strided": lambda x: torch.stack([x, torch.randn_like(x)], dim=-1)[..., 0],
    "transposed": lambda x: x.transpose(2, 3).contiguous().transpose(2, 3),
    "channels_last": lambda x: x.contiguous(memory_format=torch.channels_last),
}


@pytest.mark.parametrize("layout", NON_CONTIGUOUS)
def test_non_contiguous_inputs(layout):
    x, weight, bias, num_frames = make_inputs((2, 4, 8, 3, 5, 6), torch.float64)
    x_strided = NON_CONTIGUOUS[layout](x)
    assert not x_strided.is_contiguous()
    weight_strided = weight.t().contiguous().t()
    grad = torch.randn(x.shape[0], weight.shape[0], *x.shape[2:], dtype=x.dtype)
    grad_strided = NON_CONTIGUOUS[layout](grad)
    assert_close(fused.ncc_cost_volume(x_strided, num_frames, EPS), fused.ncc_cost_volume(x, num_frames, EPS))
    assert_close(
        fused.ncc_summary(x_strided, weight_strided, bias, num_frames, EPS),
        fused.ncc_summary(x, weight, bias, num_frames, EPS),
    )
    for actual, expected in zip(
        grads_of(lambda *t: fused.ncc_summary(*t, num_frames, EPS), [x_strided, weight_strided, bias], grad_strided),
        grads_of(lambda *t: fused.ncc_summary(*t, num_frames, EPS), [x, weight, bias], grad),
    ):
        assert_close(actual, expected)


def test_expanded_gradient():
    # autograd hands a stride-0 gradient to the backward of a sum.
    x, weight, bias, num_frames = make_inputs((2, 3, 5, 2, 2, 3), torch.float64, requires_grad=True)
    fused.ncc_summary(x, weight, bias, num_frames, EPS).sum().backward()
    fused.ncc_cost_volume(x, num_frames, EPS).sum().backward()
    both_sums = lambda x, weight, bias: (
        reference.ncc_summary(x, weight, bias, num_frames, EPS).sum() + reference.ncc_cost_volume(x, num_frames, EPS).sum()
    )
    expected = grads_of(both_sums, [x, weight, bias], torch.tensor(1.0, dtype=torch.float64))
    for actual, want in zip([x.grad, weight.grad, bias.grad], expected):
        assert_close(actual, want)


@pytest.mark.parametrize("dtype", DTYPES)
def test_constant_position_has_finite_gradient(dtype):
    # A ReLU can zero all D values at a position: std = 0 there.
    x, weight, bias, num_frames = make_inputs((2, 3, 6, 3, 2, 4), dtype)
    x[:, :, 1, 0] = 0.0
    x[4, :, 2, 1] = 2.5
    constant = torch.zeros_like(x, dtype=torch.bool)
    constant[:, :, 1, 0] = constant[4, :, 2, 1] = True
    for op_name, args in [("ncc_cost_volume", ()), ("ncc_summary", (weight, bias))]:
        actual, expected = run_both(op_name, x, *args, num_frames, EPS)
        assert torch.isfinite(actual).all()
        assert_close(actual, expected)
        grad = torch.randn_like(actual)
        (ours,) = grads_of(lambda x: getattr(fused, op_name)(x, *args, num_frames, EPS), [x], grad)
        (theirs,) = grads_of(lambda x: getattr(reference, op_name)(x, *args, num_frames, EPS), [x], grad)
        assert torch.isfinite(ours).all()
        # torch >= 2.x masks std's backward at std = 0 to the same one-sided
        # derivative; where an older torch gives NaN, only the rest is compared.
        finite = torch.isfinite(theirs)
        assert finite[:, :, 0, 0].all()
        # At the constant positions dx = (dz - mean(dz)) / eps: the float32
        # rounding of dz, amplified 1e4 times, is relative to the position's
        # largest element, not to each one (one that cancels to near 0 is off
        # by far more than rtol of itself, in the reference as much as here).
        assert_close_to_position_scale(ours, theirs, where=finite)
        assert_close(ours[~constant], theirs[~constant])


def per_position_error(actual, truth):
    """The largest error over positions of the (D,) vector at each one,
    relative to its float64 truth's norm."""
    return ((actual.double() - truth).norm(dim=1) / truth.norm(dim=1)).max().item()


@pytest.mark.parametrize("op_name", ["ncc_cost_volume", "ncc_summary"])
def test_near_constant_position_gradient_as_accurate_as_reference(op_name):
    # One position of every frame spread by ~eps around a mean of 3: the
    # rounding of the mean to float32 (~2e-7) is then ~1e-3 of x - mean.
    # Both float32 implementations against the float64 reference at the same
    # inputs; the fused op may be off by a few times the reference's error.
    generator = torch.Generator().manual_seed(0)
    x, weight, bias, num_frames = make_inputs((2, 3, 6, 3, 2, 4), torch.float64)
    x[:, :, 1, 0] = 3.0 + 1e-4 * torch.randn(x.shape[:2], dtype=torch.float64, generator=generator)
    x, weight, bias = x.float().double(), weight.float().double(), bias.float().double()
    args = {"ncc_cost_volume": (), "ncc_summary": (weight, bias)}[op_name]
    args32 = [t.float() for t in args]
    grad = torch.randn_like(getattr(reference, op_name)(x, *args, num_frames, EPS))
    (truth,) = grads_of(lambda x: getattr(reference, op_name)(x, *args, num_frames, EPS), [x], grad)
    (ours,) = grads_of(lambda x: getattr(fused, op_name)(x, *args32, num_frames, EPS), [x.float()], grad.float())
    (theirs,) = grads_of(lambda x: getattr(reference, op_name)(x, *args32, num_frames, EPS), [x.float()], grad.float())
    allowed = 4 * max(per_position_error(theirs, truth), per_position_error(truth.float(), truth))
    assert per_position_error(ours, truth) <= allowed


def test_constant_position_gradient_is_one_sided_derivative():
    # At std = 0 the defined gradient is the derivative along a perturbation
    # from one side: z(x0 + t v) ~ t (v - mean v) / eps.
    x, weight, bias, num_frames = make_inputs((1, 2, 4, 1, 2, 2), torch.float64)
    x[:, :, 0, 0] = 1.0
    grad_out = torch.randn(x.shape[0], weight.shape[0], 1, 2, dtype=torch.float64)
    (grad_x,) = grads_of(lambda x: fused.ncc_summary(x, weight, bias, num_frames, EPS), [x], grad_out)
    direction = torch.zeros_like(x)
    direction[:, :, 0, 0] = torch.randn(x.shape[0], x.shape[1], dtype=torch.float64)
    # One-sided differences, Richardson-extrapolated: the first-order error
    # of a plain forward difference (step / eps relative) cancels, and what
    # is left is well below the tolerance.
    step = 1e-8
    loss = lambda t: (fused.ncc_summary(x + t * direction, weight, bias, num_frames, EPS) * grad_out).sum()
    numeric = (4 * loss(step / 2) - loss(step) - 3 * loss(0.0)) / step
    assert abs(numeric - (grad_x * direction).sum()) < 1e-4 * max(1.0, abs(numeric))


def test_deterministic():
    x, weight, bias, num_frames = make_inputs((3, 4, 32, 9, 8, 16), torch.float32)
    grad = torch.randn(x.shape[0], weight.shape[0], *x.shape[2:])

    def run():
        summary = fused.ncc_summary(x, weight, bias, num_frames, EPS)
        volume = fused.ncc_cost_volume(x, num_frames, EPS)
        summary_grads = grads_of(lambda *t: fused.ncc_summary(*t, num_frames, EPS), [x, weight, bias], grad)
        (volume_grad,) = grads_of(lambda x: fused.ncc_cost_volume(x, num_frames, EPS), [x], torch.randn_like(volume, generator=torch.Generator().manual_seed(0)))
        return [summary, volume, *summary_grads, volume_grad]

    first, second = run(), run()
    for a, b in zip(first, second):
        assert torch.equal(a, b)


def test_nan_and_inf_propagate():
    x, weight, bias, num_frames = make_inputs((1, 3, 5, 2, 2, 3), torch.float64)
    x[0, 2, 1, 1] = float("nan")
    x[2, 0, 0, 0] = float("inf")
    for op_name, args in [("ncc_cost_volume", ()), ("ncc_summary", (weight, bias))]:
        actual, expected = run_both(op_name, x, *args, num_frames, EPS)
        torch.testing.assert_close(actual, expected, equal_nan=True)
        assert torch.isnan(actual).any()


def test_empty_batch():
    x, weight, bias, num_frames = make_inputs((0, 3, 5, 2, 2, 3), torch.float64)
    assert fused.ncc_summary(x, weight, bias, num_frames, EPS).shape == (0, 3, 2, 2)
    assert fused.ncc_cost_volume(x, num_frames, EPS).shape == (0, 8, 2, 2)


def _x(*shape, dtype=torch.float32):
    return torch.randn(*shape).to(dtype)


# (description, call, message fragment naming the argument)
def _summary_backward(grad, x, weight, v=None):
    """ncc_summary_backward with the slot sums of a forward at (x, weight), or v."""
    v = summary_saved(x, weight, 3)[0] if v is None else v
    return torch.ops.cosam.ncc_summary_backward(grad, x, v, weight, 3, EPS)


BAD_INPUTS = [
    ("x rank", lambda: ops.ncc_cost_volume(_x(6, 4, 3), 3), "x must be a 4-D tensor"),
    ("x rank summary", lambda: ops.ncc_summary(_x(6, 4, 3, 2, 1), _x(2, 12), None, 3), "x must be a 4-D tensor"),
    ("indivisible", lambda: ops.ncc_cost_volume(_x(7, 4, 3, 2), 3), "not divisible by num_frames"),
    ("one frame", lambda: ops.ncc_cost_volume(_x(6, 4, 3, 2), 1), "num_frames must be >= 2"),
    ("one channel", lambda: ops.ncc_cost_volume(_x(6, 1, 3, 2), 3), "at least 2 channels"),
    ("negative eps", lambda: ops.ncc_cost_volume(_x(6, 4, 3, 2), 3, -1.0), "eps must be finite"),
    ("integer x", lambda: ops.ncc_cost_volume(torch.ones(6, 4, 3, 2, dtype=torch.int64), 3), "x must be a floating-point"),
    ("float8 x", lambda: ops.ncc_cost_volume(_x(6, 4, 3, 2).to(torch.float8_e4m3fn), 3),
     "float32, float64, float16 and bfloat16; x is Float8_e4m3fn"),
    ("weight size", lambda: ops.ncc_summary(_x(6, 4, 3, 2), _x(2, 11), None, 3), r"weight.size\(1\) must be \(N-1\)\*H\*W = 12"),
    ("weight rank", lambda: ops.ncc_summary(_x(6, 4, 3, 2), _x(2, 12, 1), None, 3), "weight must have shape"),
    ("weight 3x3", lambda: ops.ncc_summary(_x(6, 4, 3, 2), _x(2, 12, 3, 3), None, 3), "weight must have shape"),
    ("weight dtype", lambda: ops.ncc_summary(_x(6, 4, 3, 2), _x(2, 12, dtype=torch.float64), None, 3), "weight dtype"),
    ("bias shape", lambda: ops.ncc_summary(_x(6, 4, 3, 2), _x(2, 12), _x(3), 3), "bias must have shape"),
    ("bias dtype", lambda: ops.ncc_summary(_x(6, 4, 3, 2), _x(2, 12), _x(2, dtype=torch.float64), 3), "bias dtype"),
    ("grad shape", lambda: _summary_backward(_x(6, 3, 3, 2), _x(6, 4, 3, 2), _x(2, 12)), "grad must have shape"),
    ("saved v shape", lambda: _summary_backward(_x(6, 2, 3, 2), _x(6, 4, 3, 2), _x(2, 12), v=_x(6, 4, 3)), r"v \(the slot sums saved by the forward\) must have shape \[6, 4, 2\]"),
    ("saved v dtype", lambda: _summary_backward(_x(6, 2, 3, 2), _x(6, 4, 3, 2), _x(2, 12), v=_x(6, 4, 2, dtype=torch.float64)), "v dtype"),
    ("volume grad shape", lambda: torch.ops.cosam.ncc_cost_volume_backward(_x(6, 11, 3, 2), _x(6, 4, 3, 2), 3, 1e-4), "grad must have shape"),
]


@pytest.mark.parametrize("call,message", [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_named(call, message):
    with pytest.raises(RuntimeError, match=message):
        call()


# --- the contraction order ops.ncc_summary chooses -----------------------------


def test_materialised_order_chosen_at_tiny_maps_on_the_cpu():
    x = torch.empty(32, 256, 8, 4)  # COSAM_5 with last stride 2
    assert ops.materialising_is_cheaper(x, 64, num_frames=4)
    assert not ops.materialising_is_cheaper(torch.empty(32, 256, 16, 8), 64, num_frames=4)
    assert not ops.materialising_is_cheaper(torch.empty(32, 64, 64, 32), 64, num_frames=4)


@pytest.mark.parametrize("dtype", DTYPES)
def test_materialised_order_matches_reference(dtype):
    x, weight, bias, num_frames = make_inputs((2, 4, 24, 2, 2, 16), dtype)
    assert ops.materialising_is_cheaper(x, weight.shape[0], num_frames)
    assert_close(ops.ncc_summary(x, weight, bias, num_frames, EPS), reference.ncc_summary(x, weight, bias, num_frames, EPS))
    grad = torch.randn(x.shape[0], weight.shape[0], *x.shape[2:], dtype=dtype)
    for ours, theirs in zip(
        grads_of(lambda *t: ops.ncc_summary(*t, num_frames, EPS), [x, weight, bias], grad),
        grads_of(lambda *t: reference.ncc_summary(*t, num_frames, EPS), [x, weight, bias], grad),
    ):
        assert_close(ours, theirs)
    inputs = [t.detach().requires_grad_(True) for t in make_inputs((1, 3, 5, 1, 2, 4), torch.float64)[:3]]
    assert ops.materialising_is_cheaper(inputs[0], 4, 3)
    assert torch.autograd.gradcheck(lambda *t: ops.ncc_summary(*t, 3, EPS), inputs)


def test_materialised_order_reports_bad_input_as_the_fused_one():
    x = torch.randn(8, 24, 2, 2)
    assert ops.materialising_is_cheaper(x, 16, 4)
    with pytest.raises(RuntimeError, match=r"weight.size\(1\) must be \(N-1\)\*H\*W = 12"):
        ops.ncc_summary(x, torch.randn(16, 11), None, 4)
    with pytest.raises(RuntimeError, match="bias dtype"):
        ops.ncc_summary(x, torch.randn(16, 12), torch.randn(16, dtype=torch.float64), 4)
