"""The CUDA kernels of the cosam ops: against the CPU kernels and the reference
oracle in every dtype, autograd, torch.compile with CUDA graphs, streams,
autocast, several devices, the maps of a real network. Skipped as a whole
where no GPU is present, unless COSAM_REQUIRE_CUDA=1 (scripts/gpu_verify.sh
sets it): then a missing GPU fails every test."""
import copy
import functools
import os

import pytest
import torch
from testing import (
    DTYPES, OP_SHAPES, assert_close, assert_close_to_position_scale, autocast_cases, frames, shape_id,
    summary_params,
)

from cosam_ext import CosamLayer, ops, reference

REQUIRE_CUDA = os.environ.get("COSAM_REQUIRE_CUDA") == "1"
pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available() and not REQUIRE_CUDA,
    reason="needs a CUDA GPU (torch.cuda.is_available() is False)",
)

EPS = ops.DEFAULT_EPS
HALF_DTYPES = (torch.float16, torch.bfloat16)


NON_CONTIGUOUS = {
    "strided": lambda x: torch.stack([x, torch.randn_like(x)], dim=-1)[..., 0],
    "transposed": lambda x: x.transpose(2, 3).contiguous().transpose(2, 3),
    "channels_last": lambda x: x.contiguous(memory_format=torch.channels_last),
}


@pytest.fixture(autouse=True)
def _cuda_present():
    if not torch.cuda.is_available():
        pytest.fail("COSAM_REQUIRE_CUDA=1, but torch.cuda.is_available() is False: no GPU is visible")


@pytest.fixture(autouse=True)
def _full_precision_matmuls():
    """IEEE float32 and full-precision half accumulation in cuBLAS and cuDNN,
    as on the CPU, for the duration of each test. By default cuDNN convs run
    float32 in TF32 on Ampere and newer (the reference's summary conv: about
    5e-4 relative error against a float32 rtol of 1e-4), and cuBLAS may
    reduce float16 and bfloat16 products in reduced precision, which the
    half-precision bounds (calibrated on CPU GEMMs) do not allow for."""
    flags = [
        (torch.backends.cuda.matmul, "allow_tf32"),
        (torch.backends.cudnn, "allow_tf32"),
        (torch.backends.cuda.matmul, "allow_fp16_reduced_precision_reduction"),
        (torch.backends.cuda.matmul, "allow_bf16_reduced_precision_reduction"),
    ]
    saved = [getattr(owner, name) for owner, name in flags]
    for owner, name in flags:
        setattr(owner, name, False)
    yield
    for (owner, name), value in zip(flags, saved):
        setattr(owner, name, value)


def make_inputs(shape, dtype=torch.float64, device="cuda"):
    """x, weight, bias, grad of the summary, grad of the volume, num_frames.
    Drawn from a fixed seed in float64 on the CPU: the same values for every
    call with the same shape, on every device and in every dtype."""
    return (*(t.to(device, dtype, copy=True) for t in drawn_inputs(shape)), shape[1])


@functools.lru_cache(maxsize=1)
def drawn_inputs(shape):
    # Kept for the next call: at COSAM_2's maps the volume's gradient alone
    # is 400M values, drawn once for the three runs that compare it.
    clips, num_frames, channels, height, width, out_channels = shape
    generator = torch.Generator().manual_seed(0)
    x = frames(clips, num_frames, channels, height, width, generator=generator)
    weight, bias = summary_params(num_frames, height, width, out_channels, generator=generator)
    grad_summary = torch.randn(x.shape[0], out_channels, height, width, dtype=torch.float64, generator=generator)
    grad_volume = torch.randn(x.shape[0], weight.shape[1], height, width, dtype=torch.float64, generator=generator)
    return x, weight, bias, grad_summary, grad_volume


def summary_saved(x, weight, num_frames):
    """What ncc_summary's forward hands to its backward: (v,)."""
    return torch.ops.cosam.ncc_summary(x, weight, None, num_frames, EPS)[1:]


def outputs_and_grads(fn, inputs, grad):
    """[fn(*inputs), d<fn, grad>/d input for each input]. The inputs keep
    their strides (no clone, which would make a strided input contiguous)."""
    inputs = [t.detach().requires_grad_(True) for t in inputs]
    out = fn(*inputs)
    out.backward(grad)
    return [out.detach(), *(t.grad for t in inputs)]


def both_ops(impl, shape, dtype, device="cuda"):
    """outputs_and_grads of ncc_summary and of ncc_cost_volume from `impl` (ops or reference)."""
    x, weight, bias, grad_summary, grad_volume, num_frames = make_inputs(shape, dtype, device)
    summary = outputs_and_grads(
        lambda *t: impl.ncc_summary(*t, num_frames, EPS), [x, weight, bias], grad_summary
    )
    volume = outputs_and_grads(lambda x: impl.ncc_cost_volume(x, num_frames, EPS), [x], grad_volume)
    return summary + volume


def relative_error(actual, truth):
    return ((actual.double() - truth).norm() / truth.norm()).item()


def error_allowance(baseline, exact, dtype, factor):
    """factor x the baseline's relative error against the exact result,
    floored at the rounding of the exact result to dtype, which no
    implementation beats."""
    return factor * max(relative_error(baseline, exact), relative_error(exact.to(dtype), exact))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", OP_SHAPES, ids=shape_id)
def test_matches_cpu_and_reference(shape, dtype):
    on_cuda = both_ops(ops, shape, dtype)
    on_cpu = both_ops(ops, shape, dtype, device="cpu")
    expected = both_ops(reference, shape, dtype, device="cpu")
    for actual, cpu, want in zip(on_cuda, on_cpu, expected):
        assert actual.is_cuda and actual.dtype == dtype
        assert_close(actual.cpu(), want)
        assert_close(actual.cpu(), cpu)


@pytest.mark.parametrize("dtype", HALF_DTYPES)
@pytest.mark.parametrize("shape", [(2, 4, 64, 8, 5, 16), (1, 3, 40, 7, 3, 8)], ids=shape_id)
def test_half_precision_error_within_twice_the_references(shape, dtype):
    # Both measured against the reference in float64 (not the fused op, whose
    # own bug would then widen its allowance); the reference's error is
    # floored at the rounding of the exact result to `dtype`, which no
    # implementation beats.
    truth = both_ops(reference, shape, torch.float64)
    ours = both_ops(ops, shape, dtype)
    theirs = both_ops(reference, shape, dtype)
    names = ["summary", "summary grad x", "grad weight", "grad bias", "volume", "volume grad x"]
    for name, exact, actual, baseline in zip(names, truth, ours, theirs):
        assert actual.dtype == dtype and torch.isfinite(actual).all(), name
        allowed = error_allowance(baseline, exact, dtype, 2)
        assert relative_error(actual, exact) <= allowed, f"{name}: {relative_error(actual, exact)} > {allowed}"


@pytest.mark.parametrize("shape", [(2, 3, 5, 2, 3, 4), (1, 2, 3, 1, 1, 1), (1, 2, 4, 6, 7, 2)], ids=shape_id)
def test_gradcheck(shape):
    x, weight, bias, _, _, num_frames = make_inputs(shape)
    x, weight, bias = (t.requires_grad_(True) for t in (x, weight, bias))
    assert torch.autograd.gradcheck(lambda x: ops.ncc_cost_volume(x, num_frames, EPS), (x,))
    assert torch.autograd.gradcheck(lambda *t: ops.ncc_summary(*t, num_frames, EPS), (x, weight, bias))
    weight_4d = weight.detach()[:, :, None, None].requires_grad_(True)
    assert torch.autograd.gradcheck(lambda *t: ops.ncc_summary(*t, num_frames, EPS), (x, weight_4d, None))


@pytest.mark.parametrize("dtype", (*DTYPES, torch.float16))
def test_opcheck(dtype):
    x, weight, bias, grad, grad_volume, num_frames = make_inputs((2, 3, 6, 5, 7, 4), dtype)
    x, weight, bias = (t.requires_grad_(True) for t in (x, weight, bias))
    torch.library.opcheck(torch.ops.cosam.ncc_cost_volume.default, (x, num_frames, EPS))
    torch.library.opcheck(torch.ops.cosam.ncc_summary.default, (x, weight, bias, num_frames, EPS))
    torch.library.opcheck(torch.ops.cosam.ncc_summary.default, (x, weight, None, num_frames, EPS))
    torch.library.opcheck(
        torch.ops.cosam.ncc_summary_backward.default,
        (grad, x.detach(), *summary_saved(x.detach(), weight.detach(), num_frames), weight.detach(), num_frames, EPS),
    )
    torch.library.opcheck(
        torch.ops.cosam.ncc_cost_volume_backward.default, (grad_volume, x.detach(), num_frames, EPS)
    )


def layer_outputs_and_grads(layer, x, grad, autocast=None):
    """Output of the layer, run under torch.autocast("cuda", autocast) unless
    None, and the gradients of its input and weights (the biases of convs
    followed by BN have a zero gradient in train mode)."""
    x = x.detach().clone().requires_grad_(True)
    layer.zero_grad(set_to_none=True)
    with torch.autocast("cuda", dtype=autocast, enabled=autocast is not None):
        out = layer(x)
    out.backward(grad.to(out.dtype))
    weights = [p.grad for name, p in layer.named_parameters() if name.endswith("weight")]
    return [out.detach().clone(), x.grad, *weights]


def test_compile_reduce_overhead_layer():
    # CUDA graphs capture on a side stream: a kernel launched on any stream
    # but the current one breaks the capture.
    from torch._dynamo.utils import counters
    from torch._inductor import cudagraph_trees

    torch._dynamo.reset()
    counters.clear()
    layer = CosamLayer(48, 4, (6, 5), reduced_channels=20).cuda().eval()
    as_reference = copy.deepcopy(layer)
    as_reference.implementation = "reference"
    compiled = torch.compile(layer, fullgraph=True, mode="reduce-overhead")
    for _ in range(3):  # warm-up, recording, replay
        x = torch.randn(8, 48, 6, 5, device="cuda")
        grad = torch.randn_like(x)
        torch.compiler.cudagraph_mark_step_begin()
        actual = layer_outputs_and_grads(compiled, x, grad)
        for got, eager, want in zip(
            actual, layer_outputs_and_grads(layer, x, grad), layer_outputs_and_grads(as_reference, x, grad)
        ):
            assert_close(got, eager)
            assert_close(got, want)
    # Inductor falls back to running without graphs (and says so only in a
    # counter) where something in the graph cannot be captured.
    assert counters["inductor"]["cudagraph_skips"] == 0, dict(counters["inductor"])
    manager = cudagraph_trees.get_manager(torch.cuda.current_device(), create_if_none_exists=False)
    assert manager is not None and any(manager.roots.values()), "no CUDA graph was recorded"


def test_runs_on_the_current_stream():
    x, weight, bias, grad, grad_volume, num_frames = make_inputs((2, 4, 40, 9, 7, 8), torch.float32)
    # x doubles as the C-channel map of the attention ops.
    _, spatial_mask, channel_mask, grad_map, _ = attention_inputs((2, 4, 40, 9, 7), torch.float32)
    mlp = channel_attention_call(ops, x, spatial_mask, channel_mask, grad_map, num_frames)[1][2:]
    grad_mean = grad_map.mean(dim=(2, 3))

    def run_all(x):
        return [
            ops.ncc_summary(x, weight, bias, num_frames, EPS),
            ops.ncc_cost_volume(x, num_frames, EPS),
            *torch.ops.cosam.ncc_summary_backward(grad, x, *summary_saved(x, weight, num_frames), weight, num_frames, EPS),
            torch.ops.cosam.ncc_cost_volume_backward(grad_volume, x, num_frames, EPS),
            ops.masked_mean(x, spatial_mask),
            *torch.ops.cosam.masked_mean_backward(grad_mean, x, spatial_mask),
            ops.apply_attention(x, spatial_mask, channel_mask, num_frames),
            *torch.ops.cosam.apply_attention_backward(grad_map, x, spatial_mask, channel_mask, num_frames),
            ops.channel_attention(x, spatial_mask, *mlp, num_frames)[0],
        ]

    expected = run_all(x)
    staged = torch.full_like(x, float("nan"))
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        # The stream is busy for a while before x is staged: a kernel launched
        # on another stream would read the NaNs.
        torch.cuda._sleep(50_000_000)
        staged.copy_(x)
        actual = run_all(staged)
    torch.cuda.current_stream().wait_stream(stream)
    for got, want in zip(actual, expected):
        assert_close(got, want)


@pytest.mark.parametrize("layout", NON_CONTIGUOUS)
def test_non_contiguous_inputs(layout):
    x, weight, bias, grad, grad_volume, num_frames = make_inputs((2, 4, 40, 5, 7, 6))
    strided = [NON_CONTIGUOUS[layout](t) for t in (x, grad, grad_volume)]
    assert not any(t.is_contiguous() for t in strided)
    weight_strided = weight.t().contiguous().t()
    for actual, expected in zip(
        outputs_and_grads(lambda *t: ops.ncc_summary(*t, num_frames, EPS), [strided[0], weight_strided, bias], strided[1]),
        outputs_and_grads(lambda *t: ops.ncc_summary(*t, num_frames, EPS), [x, weight, bias], grad),
    ):
        assert_close(actual, expected)
    for actual, expected in zip(
        outputs_and_grads(lambda x: ops.ncc_cost_volume(x, num_frames, EPS), [strided[0]], strided[2]),
        outputs_and_grads(lambda x: ops.ncc_cost_volume(x, num_frames, EPS), [x], grad_volume),
    ):
        assert_close(actual, expected)


@pytest.mark.parametrize("dtype", (torch.float32, torch.float16))
def test_deterministic(dtype):
    shape = (3, 4, 64, 9, 8, 16)
    first, second = both_ops(ops, shape, dtype), both_ops(ops, shape, dtype)
    for a, b in zip(first, second):
        assert torch.equal(a, b)


@pytest.mark.parametrize("dtype", (torch.float32, *HALF_DTYPES))
def test_constant_position_has_finite_gradient(dtype):
    # A ReLU can zero all D values at a position: std = 0 there.
    x, weight, bias, grad, grad_volume, num_frames = make_inputs((2, 3, 6, 3, 2, 4), dtype)
    x[:, :, 1, 0] = 0.0
    x[4, :, 2, 1] = 2.5
    summary = outputs_and_grads(lambda *t: ops.ncc_summary(*t, num_frames, EPS), [x, weight, bias], grad)
    volume = outputs_and_grads(lambda x: ops.ncc_cost_volume(x, num_frames, EPS), [x], grad_volume)
    assert all(torch.isfinite(t).all() for t in summary + volume)
    if dtype == torch.float32:
        output, grad_x, *grad_params = outputs_and_grads(
            lambda *t: ops.ncc_summary(*t, num_frames, EPS), [x.cpu(), weight.cpu(), bias.cpu()], grad.cpu()
        )
        assert_close(summary[0].cpu(), output)
        # At std = 0 dx is (dz - mean(dz)) / eps: rounding amplified 1e4 times,
        # relative to the position's largest element, not to each one.
        assert_close_to_position_scale(summary[1].cpu(), grad_x)
        for actual, want in zip(summary[2:], grad_params):
            assert_close(actual.cpu(), want)


def test_empty_batch():
    x, weight, bias, _, _, num_frames = make_inputs((0, 3, 5, 2, 2, 3))
    assert ops.ncc_summary(x, weight, bias, num_frames, EPS).shape == (0, 3, 2, 2)
    assert ops.ncc_cost_volume(x, num_frames, EPS).shape == (0, 8, 2, 2)


@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_ops_under_autocast(dtype):
    x, weight, bias, _, _, num_frames = make_inputs((2, 3, 6, 3, 2, 4), torch.float32)
    weight.requires_grad_(True)
    with torch.autocast("cuda", dtype=dtype):
        summary = ops.ncc_summary(x.to(dtype), weight, bias, num_frames, EPS)
        volume = ops.ncc_cost_volume(x, num_frames, EPS)
        volume_64 = ops.ncc_cost_volume(x.double(), num_frames, EPS)
    assert summary.dtype == volume.dtype == dtype
    assert volume_64.dtype == torch.float64  # autocast leaves float64 alone
    summary.float().sum().backward()
    assert weight.grad.dtype == torch.float32 and torch.isfinite(weight.grad).all()
    expected = ops.ncc_summary(*(t.to(dtype) for t in (x, weight.detach(), bias)), num_frames, EPS)
    assert torch.equal(summary, expected)


@pytest.mark.parametrize("dtype", HALF_DTYPES)
@pytest.mark.parametrize("case", range(len(autocast_cases("cuda", torch.float16))),
                         ids=[case[0] for case in autocast_cases("cuda", torch.float16)])
def test_output_dtypes_under_autocast(dtype, case):
    # The rules of cosam_ext/ops/autocast.py on CUDA, dtype by dtype (the CPU: tests/test_autocast.py).
    _, call, expected = autocast_cases("cuda", dtype)[case]
    with torch.autocast("cuda", dtype=dtype):
        outputs = call()
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    assert [t.dtype for t in outputs] == expected


@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_layer_under_autocast(dtype):
    # Under autocast the reduction conv returns `dtype` while the summary
    # weight is float32: the op's autocast kernel makes them meet. Errors are
    # measured against the reference implementation in float64 and bounded by
    # twice those of the reference under the same autocast, floored at the
    # rounding of the exact result to `dtype`.
    layer = CosamLayer(48, 4, (6, 5), reduced_channels=32).cuda()
    x = torch.randn(8, 48, 6, 5, device="cuda")
    grad = torch.randn_like(x)
    as_reference = copy.deepcopy(layer)
    as_reference.implementation = "reference"

    def run(layer, autocast=None):
        return layer_outputs_and_grads(copy.deepcopy(layer), x, grad, autocast)

    truth = layer_outputs_and_grads(copy.deepcopy(as_reference).double(), x.double(), grad.double())
    for exact, single, ours, theirs in zip(truth, run(layer), run(layer, dtype), run(as_reference, dtype)):
        assert torch.isfinite(ours).all()
        allowed = error_allowance(theirs, exact, dtype, 2)
        assert relative_error(ours, exact) <= allowed
        assert relative_error(ours, single) < 0.2


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("summary_head", ["authors", "paper"])
def test_layer_in_training_matches_reference(dtype, summary_head):
    # Training mode: BN on batch statistics, every gradient, the running
    # statistics after the step; fused against the reference, both on CUDA.
    layer = CosamLayer(48, 4, (6, 5), reduced_channels=20, summary_head=summary_head).cuda().to(dtype).train()
    as_reference = copy.deepcopy(layer)
    as_reference.implementation = "reference"
    x = torch.randn(8, 48, 6, 5, device="cuda", dtype=dtype)
    grad = torch.randn_like(x)
    fused, expected = layer_outputs_and_grads(layer, x, grad), layer_outputs_and_grads(as_reference, x, grad)
    for actual, want in zip(fused, expected):
        assert_close(actual, want)
    buffers = dict(layer.named_buffers())
    for name, buffer in as_reference.named_buffers():
        if buffer.is_floating_point():
            assert_close(buffers[name], buffer)
        else:  # BN's num_batches_tracked
            assert torch.equal(buffers[name], buffer), name


def test_second_device():
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two GPUs")
    # The current device stays cuda:0: without a device guard the kernels
    # would run there, on memory of cuda:1.
    assert torch.cuda.current_device() == 0
    shape = (2, 3, 40, 5, 7, 4)
    on_second = both_ops(ops, shape, torch.float32, device="cuda:1")
    on_cpu = both_ops(ops, shape, torch.float32, device="cpu")
    for actual, expected in zip(on_second, on_cpu):
        assert actual.device == torch.device("cuda:1")
        assert_close(actual.cpu(), expected)


def test_device_mismatch_is_named():
    x, weight, bias, grad, _, num_frames = make_inputs((2, 3, 6, 3, 2, 4), torch.float32)
    saved = summary_saved(x, weight, num_frames)
    cases = [
        (lambda: ops.ncc_summary(x, weight.cpu(), bias, num_frames), "weight is on cpu"),
        (lambda: ops.ncc_summary(x, weight, bias.cpu(), num_frames), "bias is on cpu"),
        (lambda: ops.ncc_summary(x.cpu(), weight, bias, num_frames), "weight is on cuda"),
        (lambda: torch.ops.cosam.ncc_summary_backward(grad.cpu(), x, *saved, weight, num_frames, EPS), "grad is on cpu"),
        (lambda: torch.ops.cosam.ncc_summary_backward(grad, x, saved[0].cpu(), weight, num_frames, EPS), "v is on cpu"),
    ]
    for call, message in cases:
        with pytest.raises(RuntimeError, match=message):
            call()


# --- apply_attention and masked_mean ----------------------------------------
# (B, N, C, H, W): P = 1, N = 1, C = 1, and rows longer than one block of threads.
ATTENTION_SHAPES = [(2, 4, 16, 4, 3), (1, 2, 7, 1, 1), (3, 1, 1, 5, 7), (1, 3, 33, 23, 17)]


def attention_inputs(shape, dtype=torch.float64, device="cuda"):
    """x, spatial_mask, channel_mask, grad, num_frames from a fixed seed in
    float64 on the CPU, then moved."""
    clips, num_frames, channels, height, width = shape
    generator = torch.Generator().manual_seed(0)
    tensors = (
        torch.randn(clips * num_frames, channels, height, width, dtype=torch.float64, generator=generator),
        torch.rand(clips * num_frames, 1, height, width, dtype=torch.float64, generator=generator),
        torch.rand(clips, channels, dtype=torch.float64, generator=generator),
        torch.randn(clips * num_frames, channels, height, width, dtype=torch.float64, generator=generator),
    )
    return (*(t.to(device, dtype) for t in tensors), num_frames)


def apply_attention_call(impl, x, spatial_mask, channel_mask, grad, num_frames):
    """(fn, inputs, grad) of apply_attention from `impl` (ops or reference)."""
    return lambda *t: impl.apply_attention(*t, num_frames), [x, spatial_mask, channel_mask], grad


def masked_mean_call(impl, x, spatial_mask, channel_mask, grad, num_frames):
    """(fn, inputs, grad) of masked_mean; its grad is the (B*N, C) mean of the map's."""
    return impl.masked_mean, [x, spatial_mask], grad.mean(dim=(2, 3))


def channel_attention_call(impl, x, spatial_mask, channel_mask, grad, num_frames):
    """(fn, inputs, grad) of channel_attention's output, with MLP weights (D = 8)
    drawn like the other inputs."""
    channels, generator = x.shape[1], torch.Generator().manual_seed(1)
    mlp = [
        torch.randn(*shape, dtype=torch.float64, generator=generator).to(x.device, x.dtype)
        for shape in ((8, channels), (8,), (channels, 8), (channels,))
    ]
    return lambda *t: impl.channel_attention(*t, num_frames)[0], [x, spatial_mask, *mlp], grad


MASK_OPS = {
    "apply_attention": apply_attention_call,
    "masked_mean": masked_mean_call,
    "channel_attention": channel_attention_call,
}


def attention_outputs(op, impl, shape, dtype, device="cuda"):
    return outputs_and_grads(*MASK_OPS[op](impl, *attention_inputs(shape, dtype, device)))


@pytest.mark.parametrize("op", MASK_OPS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ATTENTION_SHAPES, ids=lambda s: "B{}N{}C{}H{}W{}".format(*s))
def test_mask_op_matches_cpu_and_reference(shape, dtype, op):
    cuda = attention_outputs(op, ops, shape, dtype)
    for actual, cpu, expected in zip(
        cuda, attention_outputs(op, ops, shape, dtype, "cpu"), attention_outputs(op, reference, shape, dtype, "cpu")
    ):
        assert_close(actual.cpu(), cpu)
        assert_close(actual.cpu(), expected)


@pytest.mark.parametrize("op", MASK_OPS)
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_mask_op_half_error_within_twice_the_references(dtype, op):
    shape = (2, 4, 64, 16, 8)
    truth = attention_outputs(op, reference, shape, torch.float64)
    ours, theirs = attention_outputs(op, ops, shape, dtype), attention_outputs(op, reference, shape, dtype)
    for a, b, t in zip(ours, theirs, truth):
        assert relative_error(a, t) <= 2 * relative_error(b, t) + 1e-6


def test_apply_attention_gradcheck_and_opcheck():
    x, spatial_mask, channel_mask, grad, num_frames = attention_inputs((2, 3, 4, 2, 3))
    inputs = [t.requires_grad_(True) for t in (x, spatial_mask, channel_mask)]
    assert torch.autograd.gradcheck(lambda *t: ops.apply_attention(*t, num_frames), inputs)
    torch.library.opcheck(torch.ops.cosam.apply_attention.default, (*inputs, num_frames))
    detached = [t.detach() for t in inputs]
    torch.library.opcheck(torch.ops.cosam.apply_attention_backward.default, (grad, *detached, num_frames))


def test_masked_mean_gradcheck_and_opcheck():
    x, spatial_mask, _, grad, _ = attention_inputs((2, 3, 4, 2, 3))
    inputs = [t.requires_grad_(True) for t in (x, spatial_mask)]
    assert torch.autograd.gradcheck(ops.masked_mean, inputs)
    torch.library.opcheck(torch.ops.cosam.masked_mean.default, tuple(inputs))
    detached = [t.detach() for t in inputs]
    torch.library.opcheck(torch.ops.cosam.masked_mean_backward.default, (grad.mean(dim=(2, 3)), *detached))


def test_channel_attention_gradcheck_and_opcheck():
    fn, inputs, _ = channel_attention_call(ops, *attention_inputs((2, 3, 4, 2, 3)))
    inputs = [t.requires_grad_(True) for t in inputs]
    assert torch.autograd.gradcheck(fn, inputs)
    num_frames = 3
    torch.library.opcheck(torch.ops.cosam.channel_attention.default, (*inputs, num_frames))
    torch.library.opcheck(torch.ops.cosam.channel_attention.default, (inputs[0], None, *inputs[2:], num_frames))


@pytest.mark.parametrize("op", MASK_OPS)
@pytest.mark.parametrize("dtype", (torch.float32, torch.bfloat16))
def test_mask_op_deterministic(dtype, op):
    first = attention_outputs(op, ops, (3, 4, 64, 9, 8), dtype)
    second = attention_outputs(op, ops, (3, 4, 64, 9, 8), dtype)
    assert all(torch.equal(a, b) for a, b in zip(first, second))


@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_mask_ops_autocast_promote_like_mul(dtype):
    # The AutocastCUDA rules of apply_attention and masked_mean: the inputs
    # meet in their promoted dtype, as x * mask does under autocast, not in
    # the autocast dtype. Without the rule the CUDA kernels would refuse the
    # mixed dtypes.
    x, spatial_mask, channel_mask, _, num_frames = attention_inputs((2, 3, 16, 5, 4), torch.float32)
    half_x = x.to(dtype).requires_grad_(True)
    with torch.autocast("cuda", dtype=dtype):
        attended = ops.apply_attention(half_x, spatial_mask, channel_mask, num_frames)
        mean = ops.masked_mean(half_x, spatial_mask)
        all_half = ops.apply_attention(half_x, spatial_mask.to(dtype), channel_mask.to(dtype), num_frames)
        promoted = (half_x * spatial_mask).dtype
    assert attended.dtype == mean.dtype == promoted == torch.float32
    assert all_half.dtype == dtype
    as_float = half_x.detach().float()
    assert torch.equal(attended, ops.apply_attention(as_float, spatial_mask, channel_mask, num_frames))
    assert torch.equal(mean, ops.masked_mean(as_float, spatial_mask))
    (attended.sum() + mean.sum()).backward()
    assert half_x.grad.dtype == dtype and torch.isfinite(half_x.grad).all()


# (B, N, C, D, H, W): the maps a COSAM layer sees after ResNet50's block 4
# (16x8) and block 2 (64x32) at 256x128 input, D its reduced channels.
NETWORK_SHAPES = {"COSAM_4": (32, 4, 1024, 256, 16, 8), "COSAM_2": (8, 4, 256, 64, 64, 32)}
SUMMARY_WIDTH = 64  # K, the summary conv's output channels


def assert_near_the_cpu_error(on_cuda, on_cpu, truth, names):
    """Each CUDA float32 result's relative error against the float64
    reference is within 10x the CPU float32 kernels' own, floored at the
    rounding of the exact result to float32 (about 3e-8). Sums over up to
    65,536 terms in another order (block trees, cuBLAS tiles) may err a few
    times more than the CPU's; an indexing or precision bug errs by 1e-3 and
    more."""
    for name, cuda, cpu, exact in zip(names, on_cuda, on_cpu, truth):
        assert cuda.is_cuda and cuda.dtype == torch.float32, name
        error = relative_error(cuda.cpu(), exact)
        allowed = error_allowance(cpu, exact, torch.float32, 10)
        assert error <= allowed, f"{name}: {error} > {allowed}"


@pytest.mark.parametrize("where", NETWORK_SHAPES)
def test_ncc_ops_at_network_shapes(where):
    clips, num_frames, _, reduced, height, width = NETWORK_SHAPES[where]
    shape = (clips, num_frames, reduced, height, width, SUMMARY_WIDTH)
    assert_near_the_cpu_error(
        both_ops(ops, shape, torch.float32),
        both_ops(ops, shape, torch.float32, device="cpu"),
        both_ops(reference, shape, torch.float64, device="cpu"),
        ["summary", "summary grad x", "grad weight", "grad bias", "volume", "volume grad x"],
    )


@pytest.mark.parametrize("op", MASK_OPS)
@pytest.mark.parametrize("where", NETWORK_SHAPES)
def test_mask_ops_at_network_shapes(where, op):
    clips, num_frames, channels, _, height, width = NETWORK_SHAPES[where]
    shape = (clips, num_frames, channels, height, width)
    on_cuda = attention_outputs(op, ops, shape, torch.float32)
    assert_near_the_cpu_error(
        on_cuda,
        attention_outputs(op, ops, shape, torch.float32, "cpu"),
        attention_outputs(op, reference, shape, torch.float64, "cpu"),
        [f"{op} output", *(f"{op} grad {i}" for i in range(len(on_cuda) - 1))],
    )
