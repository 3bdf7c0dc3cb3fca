"""CosamLayer: the authors' parameter names, fused vs reference implementation
(both ncc_summary orders, a non-default eps), input layouts, masks, hooks on
and replacement of submodules, torch.compile, argument checks, determinism."""
import copy

import pytest
import torch
from torch import nn
from torch.nn.modules import module as _modules

from cosam_ext import CosamLayer, CosamOutput, ops, reference
from testing import randomise_batch_norms

#: (rtol, atol); atol is relative to the largest magnitude of the expected tensor (at least 1),
#: as BN in train mode over few values amplifies float32 rounding in the gradients.
TOLERANCES = {torch.float32: (1e-4, 1e-5), torch.float64: (1e-9, 1e-10)}

# (B, N, C, H, W, D): H != W, N = 2, odd D, a 1x1 map. The 1x1 map has N = 8: with
# N = 4 the summary conv sees only 3 inputs, and in train mode its BN can divide by
# a near-zero std, amplifying float32 rounding (both implementations) past 1e-5.
SHAPES = [(2, 3, 32, 3, 2, 16), (1, 2, 40, 4, 3, 17), (2, 8, 48, 1, 1, 24)]
SMALL = SHAPES[0]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def close(actual, expected):
    rtol, atol = TOLERANCES[expected.dtype]
    atol *= max(1.0, expected.abs().max().item())
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol)


def make_layer(shape=SMALL, dtype=torch.float64, **kwargs):
    """A layer with random BN affine parameters and running statistics."""
    _, frames, channels, height, width, reduced = shape
    layer = CosamLayer(channels, frames, (height, width), reduced_channels=reduced, **kwargs).to(dtype)
    return randomise_batch_norms(layer)


def make_input(shape=SMALL, dtype=torch.float64):
    clips, frames, channels, height, width, _ = shape
    return torch.randn(clips * frames, channels, height, width, dtype=dtype)


def forward_backward(layer, x, grad_weight):
    """Output, masks and the gradients of the input and of every parameter."""
    layer.zero_grad(set_to_none=True)
    x = x.detach().clone().requires_grad_(True)
    result = layer(x, return_masks=True)
    (result.output * grad_weight).sum().backward()
    grads = {"input": x.grad, **{name: p.grad for name, p in layer.named_parameters()}}
    assert all(grad is not None for grad in grads.values())
    return result, grads


def authors_shapes(channels, frames, height, width):
    """Parameter and buffer shapes of the authors' module (attention "both", their head)."""
    reduced = 256 if channels > 256 else 64
    bn = lambda prefix, n: {  # noqa: E731
        f"{prefix}.weight": (n,), f"{prefix}.bias": (n,), f"{prefix}.running_mean": (n,),
        f"{prefix}.running_var": (n,), f"{prefix}.num_batches_tracked": (),
    }
    return {
        "dim_reduction.0.weight": (reduced, channels, 1, 1),
        "dim_reduction.0.bias": (reduced,),
        **bn("dim_reduction.1", reduced),
        "spatial_mask_summary.0.weight": (64, (frames - 1) * height * width, 1, 1),
        "spatial_mask_summary.0.bias": (64,),
        **bn("spatial_mask_summary.1", 64),
        "spatial_mask_summary.3.weight": (1, 64, 1, 1),
        "spatial_mask_summary.3.bias": (1,),
        "channelwise_attention.0.weight": (reduced, channels),
        "channelwise_attention.0.bias": (reduced,),
        "channelwise_attention.2.weight": (channels, reduced),
        "channelwise_attention.2.bias": (channels,),
    }


@pytest.mark.parametrize("channels", [512, 256])
def test_state_dict_has_the_authors_names_and_shapes(channels):
    layer = CosamLayer(channels, 4, (2, 1))
    expected = authors_shapes(channels, 4, 2, 1)
    assert {k: tuple(v.shape) for k, v in layer.state_dict().items()} == expected
    assert layer.reduced_channels == expected["dim_reduction.0.bias"][0]


def test_loads_an_authors_state_dict():
    shape = (2, 3, 64, 3, 2, None)  # D from the authors' rule: 64
    state = {}
    for name, size in authors_shapes(64, 3, 3, 2).items():
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(7)
        elif name.endswith("running_var"):
            state[name] = torch.rand(size, dtype=torch.float64) + 0.5
        else:
            state[name] = torch.randn(size, dtype=torch.float64) * 0.3
    layer = CosamLayer(64, 3, (3, 2)).double().eval()
    layer.load_state_dict(state, strict=True)
    for name, value in layer.state_dict().items():
        assert torch.equal(value, state[name]), name
    x = make_input(shape)
    expected = reference.cosam(
        x, 3, layer.dim_reduction, layer.spatial_mask_summary, layer.channelwise_attention, layer.eps
    )
    for actual, wanted in zip(layer(x, return_masks=True), expected):
        close(actual, wanted)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("summary_head", ["authors", "paper"])
@pytest.mark.parametrize("attention", ["both", "spatial", "channel"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_fused_matches_reference(shape, attention, summary_head, training, dtype):
    layer = make_layer(shape, dtype, attention=attention, summary_head=summary_head).train(training)
    x = make_input(shape, dtype)
    grad_weight = torch.randn_like(x)
    fused, fused_grads = forward_backward(layer, x, grad_weight)
    layer.implementation = "reference"
    ref, ref_grads = forward_backward(layer, x, grad_weight)
    assert isinstance(fused, CosamOutput)
    assert (fused.spatial_mask is None) == (attention == "channel")
    assert (fused.channel_mask is None) == (attention == "spatial")
    for actual, expected in zip(fused, ref):
        assert (actual is None) == (expected is None)
        if expected is not None:
            close(actual, expected)
    assert fused_grads.keys() == ref_grads.keys()
    for name in ref_grads:
        close(fused_grads[name], ref_grads[name])


@pytest.mark.parametrize("implementation", ["fused", "reference"])
def test_five_dimensional_input(implementation):
    clips, frames, channels, height, width, _ = SMALL
    layer = make_layer(implementation=implementation).eval()
    x = make_input().view(clips, frames, channels, height, width)
    result, flat = layer(x, return_masks=True), layer(x.flatten(0, 1), return_masks=True)
    assert result.output.shape == x.shape
    assert result.spatial_mask.shape == (clips, frames, 1, height, width)
    assert result.channel_mask.shape == (clips, channels)
    close(result.output, flat.output.view(x.shape))
    close(result.spatial_mask, flat.spatial_mask.view(clips, frames, 1, height, width))
    close(result.channel_mask, flat.channel_mask)


@pytest.mark.parametrize("attention", ["both", "spatial", "channel"])
def test_masks(attention):
    clips, frames, channels, height, width, _ = SMALL
    layer = make_layer(attention=attention).eval()
    x = make_input()
    out, spatial_mask, channel_mask = layer(x, return_masks=True)
    attended = x
    if attention != "channel":
        assert spatial_mask.shape == (clips * frames, 1, height, width)
        assert spatial_mask.gt(0).all() and spatial_mask.lt(1).all()
        assert spatial_mask.std() > 1e-3
        attended = x * spatial_mask
    if attention == "spatial":
        close(out, attended)
        return
    per_frame = layer.channelwise_attention(attended.mean(dim=(2, 3)))
    close(channel_mask, per_frame.view(clips, frames, channels).mean(dim=1))
    assert (channel_mask[0] - channel_mask[1]).abs().max() > 1e-3  # one mask per clip
    common = channel_mask.repeat_interleave(frames, dim=0)[:, :, None, None]
    close(out, attended * (1 + common))


def _strided(x):
    wide = torch.randn(*x.shape[:-1], 2 * x.shape[-1], dtype=x.dtype)
    wide[..., ::2] = x
    return wide[..., ::2]


LAYOUTS = {
    "strided": _strided,
    "channels_last": lambda x: x.contiguous(memory_format=torch.channels_last),
    "transposed": lambda x: x.transpose(2, 3).contiguous().transpose(2, 3),
}


@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=LAYOUTS.keys())
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_memory_layouts(layout, training):
    layer = make_layer().train(training)
    x = make_input()
    grad_weight = torch.randn_like(x)
    y = layout(x)
    assert not y.is_contiguous() and torch.equal(y, x)
    result, grads = forward_backward(layer, y, grad_weight)
    expected, expected_grads = forward_backward(layer, x, grad_weight)
    close(result.output, expected.output)
    for name in grads:
        close(grads[name], expected_grads[name])


@pytest.mark.parametrize(
    "frozen", ["input", "reduction"], ids=["input_without_grad", "frozen_reduction"]
)
def test_gradients_where_the_reduction_needs_fewer(frozen):
    layer = make_layer().train()
    x = make_input().requires_grad_(frozen != "input")
    if frozen == "reduction":
        layer.dim_reduction.requires_grad_(False)
    grad_weight = torch.randn_like(x)
    results = {}
    for implementation in ("fused", "reference"):
        layer.implementation = implementation
        layer.zero_grad(set_to_none=True)
        x.grad = None
        (layer(x) * grad_weight).sum().backward()
        results[implementation] = {"input": x.grad, **{n: p.grad for n, p in layer.named_parameters()}}
    for name, expected in results["reference"].items():
        actual = results["fused"][name]
        assert (actual is None) == (expected is None), name
        if expected is not None:
            close(actual, expected)


# (B, N, C, H, W, D) where the authors' head (K = 64) takes each ncc_summary
# order: at 6x6 maps and D = 16 the fused one, at SMALL's 3x2 the materialised one.
ORDERS = {"fused": (2, 3, 32, 6, 6, 16), "materialised": SMALL}


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("order", ORDERS)
def test_authors_head_in_both_orders_with_a_non_default_eps(order, training):
    shape = ORDERS[order]
    clips, frames, _, height, width, reduced = shape
    reduced_maps = torch.empty(clips * frames, reduced, height, width)
    assert ops.materialising_is_cheaper(reduced_maps, 64, frames) == (order == "materialised")
    layer = make_layer(shape, eps=0.05).train(training)
    x = make_input(shape)
    grad_weight = torch.randn_like(x)
    fused, fused_grads = forward_backward(layer, x, grad_weight)
    layer.implementation = "reference"
    ref, ref_grads = forward_backward(layer, x, grad_weight)
    for actual, expected in zip(fused, ref):
        close(actual, expected)
    for name in ref_grads:
        close(fused_grads[name], ref_grads[name])
    # The eps reaches the ops: the default one gives other masks.
    layer.implementation, layer.eps = "fused", ops.DEFAULT_EPS
    assert (layer(x, return_masks=True).spatial_mask - fused.spatial_mask).abs().max() > 1e-6


#: The layer's submodules that a user may hook or replace.
SUBMODULES = ["dim_reduction", "dim_reduction.0", "dim_reduction.1", "spatial_mask_summary",
              "spatial_mask_summary.0", "spatial_mask_summary.2", "channelwise_attention",
              "channelwise_attention.0", "channelwise_attention.1", "channelwise_attention.2",
              "channelwise_attention.3"]


@pytest.mark.parametrize("implementation", ["fused", "reference"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", SUBMODULES)
def test_hooks_on_submodules_fire_and_act(name, training, implementation):
    layer = make_layer(implementation=implementation).train(training)
    x = make_input()
    grad_weight = torch.randn_like(x)
    module = layer.get_submodule(name)
    calls = []

    def pre_hook(module, inputs):
        calls.append("pre")

    def hook(module, inputs, output):
        calls.append("post")
        return output * 0.5  # a hook's result replaces the output

    handles = [module.register_forward_pre_hook(pre_hook), module.register_forward_hook(hook)]
    hooked, hooked_grads = forward_backward(layer, x, grad_weight)
    assert calls == ["pre", "post"]
    for handle in handles:
        handle.remove()
    # The same change written into the model: the hooked layer computes it.
    expected_layer = make_layer(implementation="reference").train(training)
    expected_layer.load_state_dict(layer.state_dict())
    halved = expected_layer.get_submodule(name)
    parent, _, child = name.rpartition(".")
    container = expected_layer.get_submodule(parent) if parent else expected_layer
    setattr(container, child, nn.Sequential(halved, _Scale(0.5)))
    expected, expected_grads = forward_backward(expected_layer, x, grad_weight)
    close(hooked.output, expected.output)
    for grad_name, grad in expected_grads.items():
        close(hooked_grads[grad_name.replace(f"{name}.0.", f"{name}.")], grad)


#: Every other kind of hook, each registered so that it records the modules it sees.
HOOK_KINDS = {
    "backward": lambda module, seen: module.register_full_backward_hook(lambda m, *_: seen.append(m)),
    "backward pre": lambda module, seen: module.register_full_backward_pre_hook(lambda m, *_: seen.append(m)),
    "global forward pre": lambda _, seen: _modules.register_module_forward_pre_hook(lambda m, *_: seen.append(m)),
    "global forward": lambda _, seen: _modules.register_module_forward_hook(lambda m, *_: seen.append(m)),
    "global backward pre": lambda _, seen: _modules.register_module_full_backward_pre_hook(
        lambda m, *_: seen.append(m)),
    "global backward": lambda _, seen: _modules.register_module_full_backward_hook(lambda m, *_: seen.append(m)),
}


@pytest.mark.parametrize("kind", HOOK_KINDS)
@pytest.mark.parametrize("name", ["spatial_mask_summary.0", "channelwise_attention.0", "channelwise_attention.2"])
def test_every_kind_of_hook_reaches_the_modules_whose_weights_the_fused_ops_read(name, kind):
    # A hook of any kind makes the fused layer call the module instead of
    # reading its weights, so the hook sees it.
    layer = make_layer()
    module = layer.get_submodule(name)
    seen = []
    handle = HOOK_KINDS[kind](module, seen)
    try:
        forward_backward(layer, make_input(), torch.randn_like(make_input()))
    finally:
        handle.remove()
    assert any(m is module for m in seen), f"the {kind} hook never saw {name}"


class _Scale(nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


class _MaskedConv(nn.Conv2d):
    """A pruned 1x1 conv: a subclass whose forward zeroes half the input channels' weights."""

    def forward(self, x):
        mask = torch.ones_like(self.weight)
        mask[:, ::2] = 0
        return self._conv_forward(x, self.weight * mask, self.bias)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", ["dim_reduction.0", "spatial_mask_summary.0"])
def test_replaced_conv_is_what_the_layer_computes(name, training):
    layer = make_layer().train(training)
    x = make_input()
    grad_weight = torch.randn_like(x)
    plain = forward_backward(copy.deepcopy(layer), x, grad_weight)[0].output
    conv = layer.get_submodule(name)
    pruned = _MaskedConv(conv.in_channels, conv.out_channels, 1).to(torch.float64)
    pruned.load_state_dict(conv.state_dict())
    parent, _, child = name.rpartition(".")
    setattr(layer.get_submodule(parent), child, pruned)
    fused, fused_grads = forward_backward(copy.deepcopy(layer), x, grad_weight)
    layer.implementation = "reference"
    ref, ref_grads = forward_backward(layer, x, grad_weight)
    assert (fused.output - plain).abs().max() > 1e-3  # the replacement changes the result
    close(fused.output, ref.output)
    for grad_name in ref_grads:
        close(fused_grads[grad_name], ref_grads[grad_name])


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_torch_compile_fullgraph(training):
    # Inductor (the default backend): about 30 s cold on 2 CPU cores, a few seconds with a warm cache.
    torch._dynamo.reset()
    layer = make_layer(dtype=torch.float32).train(training)
    x = make_input(dtype=torch.float32)
    grad_weight = torch.randn_like(x)
    compiled, compiled_grads = forward_backward(torch.compile(layer, fullgraph=True), x, grad_weight)
    eager, eager_grads = forward_backward(layer, x, grad_weight)
    close(compiled.output, eager.output)
    close(compiled_grads["input"], eager_grads["input"])


@pytest.mark.parametrize(
    "shape, match",
    [
        ((6, 32, 3), "3-D"),
        ((5, 32, 3, 2), "not divisible by num_frames"),
        ((6, 31, 3, 2), "in_channels"),
        ((6, 32, 2, 3), "spatial_size"),
        ((2, 4, 32, 3, 2), "num_frames=3"),
    ],
)
def test_bad_input_shape(shape, match):
    with pytest.raises(ValueError, match=match):
        make_layer()(torch.randn(shape, dtype=torch.float64))


def test_bad_input_type():
    with pytest.raises(TypeError, match="floating-point"):
        make_layer()(torch.randint(0, 5, (6, 32, 3, 2)))
    with pytest.raises(TypeError, match="tensor"):
        make_layer()(make_input().numpy())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(attention="cross"), "attention"),
        (dict(summary_head="linear"), "summary_head"),
        (dict(implementation="cuda"), "implementation"),
        (dict(num_frames=1), "num_frames"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = dict(in_channels=32, num_frames=3, spatial_size=(3, 2)) | kwargs
    with pytest.raises(ValueError, match=match):
        CosamLayer(**args)


def test_bad_implementation_set_after_construction():
    layer = make_layer()
    layer.implementation = "triton"
    with pytest.raises(ValueError, match="implementation"):
        layer(make_input())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_deterministic(dtype):
    layer = make_layer(dtype=dtype).train()
    x = make_input(dtype=dtype)
    grad_weight = torch.randn_like(x)
    first, first_grads = forward_backward(layer, x, grad_weight)
    second, second_grads = forward_backward(layer, x, grad_weight)
    for a, b in zip(first, second):
        assert torch.equal(a, b)
    for name in first_grads:
        assert torch.equal(first_grads[name], second_grads[name]), name


def test_cpu_autocast_runs_the_fused_ops_by_their_rules():
    # Under autocast the reduction conv returns bfloat16 while the summary
    # weight stays float32: the ops' autocast rules make them meet.
    layer = make_layer(dtype=torch.float32).eval()
    x = make_input(dtype=torch.float32)
    grad_weight = torch.randn_like(x)
    expected, expected_grads = forward_backward(layer, x, grad_weight)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        result, grads = forward_backward(layer, x, grad_weight)
    scale = expected.output.abs().max()
    assert (result.output.float() - expected.output).abs().max() < 0.05 * scale
    for name, grad in grads.items():
        assert torch.isfinite(grad).all(), name
        assert (grad.float() - expected_grads[name]).abs().max() < 0.1 * expected_grads[name].abs().max() + 1e-3, name
