"""The cosam custom ops: autograd and fake kernels, and thin Python entry
points (the package's __init__ loads the compiled library).

The schemas are in csrc/ops.cpp and the kernels in csrc/<backend>/; this file
adds what torch.library wants from Python: the backward formulas (each one a
compiled backward op) and the fake kernels that let torch.compile trace the
ops without running them. One op is defined here: channel_attention, the
layer's channel branch composed of the compiled ops and the MLP.
"""
from typing import Optional

import torch
import torch.nn.functional as F

# The package's __init__ has already checked the build against the running
# torch and loaded the library; this import only names the dependency.
from . import _C  # noqa: F401  (registers torch.ops.cosam.*)

__all__ = ["ncc_cost_volume", "ncc_summary", "masked_mean", "apply_attention", "channel_attention", "DEFAULT_EPS"]

#: The authors' epsilon, added to the standard deviation (not the variance).
DEFAULT_EPS = 1e-4


def ncc_cost_volume(x, num_frames, eps=DEFAULT_EPS):
    """The materialised NCC cost volume of clip-major reduced features.

    x: (B*N, D, H, W), frame n of clip b at row b*N + n.
    Returns (B*N, (N-1)*H*W, H, W): channel s*H*W + q of frame n holds the
    correlation of each position of frame n with position q of the frame in
    slot s (the other frames in ascending order, skipping n).
    """
    return torch.ops.cosam.ncc_cost_volume(x, num_frames, eps)


#: On the CPU, ncc_summary materialises the cost volume where that order
#: needs fewer than this fraction of the fused order's FLOPs (tiny maps).
#: Measured on a 2-core CPU, forward+backward: at FLOP ratio 0.69 (8x4 maps,
#: N = 8, D = 256, K = 64) materialising took 0.78x the fused time, at 0.40
#: (16x8, N = 4) it took 1.7x.
MATERIALISE_BELOW = 1 / 0.55


def materialising_is_cheaper(x, out_channels, num_frames):
    """Whether conv1x1 over the materialised volume beats the fused order for
    x (B*N, D, H, W) on its device: per frame, the fused order costs about
    3 K P D multiply-adds, the materialised one (N-1) P^2 (D + K)."""
    if x.device.type != "cpu" or x.dim() != 4:
        return False
    channels, positions = x.shape[1], x.shape[2] * x.shape[3]
    fused = 3 * out_channels * positions * channels
    materialised = (num_frames - 1) * positions**2 * (channels + out_channels)
    return materialised < fused * MATERIALISE_BELOW


def ncc_summary(x, weight, bias, num_frames, eps=DEFAULT_EPS):
    """conv1x1(ncc_cost_volume(x, num_frames, eps), weight, bias), computed
    without the cost volume (torch.ops.cosam.ncc_summary), or, on the CPU at
    tiny maps where that is cheaper (`materialising_is_cheaper`), through the
    compiled cost volume.

    weight: (K, (N-1)*H*W) or (K, (N-1)*H*W, 1, 1); bias: (K,) or None.
    Returns (B*N, K, H, W).
    """
    if materialising_is_cheaper(x, weight.shape[0], num_frames):
        # The compiled op on no clips runs its argument checks and nothing
        # else: bad input is reported as on the fused order.
        torch.ops.cosam.ncc_summary(x[:0], weight, bias, num_frames, eps)
        volume = torch.ops.cosam.ncc_cost_volume(x, num_frames, eps)
        return torch.nn.functional.conv2d(volume, weight.reshape(weight.shape[0], -1, 1, 1), bias)
    return torch.ops.cosam.ncc_summary(x, weight, bias, num_frames, eps)[0]


def masked_mean(x, spatial_mask):
    """The mean over positions of x * spatial_mask, without that product:
    what the channel attention pools.

    x: (B*N, C, H, W); spatial_mask: (B*N, 1, H, W). Returns (B*N, C).
    """
    return torch.ops.cosam.masked_mean(x, spatial_mask)


def apply_attention(x, spatial_mask, channel_mask, num_frames):
    """The layer's attention applied to clip-major maps, in one pass:
    x * spatial_mask * (1 + channel_mask of the clip).

    x: (B*N, C, H, W); spatial_mask: (B*N, 1, H, W); channel_mask: (B, C).
    Returns a tensor shaped like x.
    """
    return torch.ops.cosam.apply_attention(x, spatial_mask, channel_mask, num_frames)


def channel_attention(x, spatial_mask, weight1, bias1, weight2, bias2, num_frames):
    """The layer's channel attention over the spatially masked maps, and the
    result, as one op (torch.ops.cosam.channel_attention):

        pooled       = masked_mean(x, spatial_mask)              (B*N, C)
        channel_mask = clip mean of sigmoid(W2 tanh(W1 pooled + b1) + b2)
        out          = apply_attention(x, spatial_mask, channel_mask)

    spatial_mask None means no spatial attention (a mask of ones). Its
    backward writes dx once: the pooled statistic's share is added in place
    to the share of out, where separate ops would each make a map of x's size.

    x: (B*N, C, H, W); spatial_mask: (B*N, 1, H, W) or None; weight1 (D, C),
    bias1 (D,), weight2 (C, D), bias2 (C,): the authors' two Linear layers.
    Returns (out shaped like x, channel_mask (B, C)).
    """
    out, channel_mask, _ = torch.ops.cosam.channel_attention(
        x, spatial_mask, weight1, bias1, weight2, bias2, num_frames
    )
    return out, channel_mask


def _mask_or_ones(x, spatial_mask):
    if spatial_mask is not None:
        return spatial_mask
    return x.new_ones((x.shape[0], 1, *x.shape[2:]))


def _channel_mlp(pooled, weight1, bias1, weight2, bias2):
    """The authors' Linear -> Tanh -> Linear -> Sigmoid; returns (hidden, per-frame mask)."""
    hidden = torch.tanh(F.linear(pooled, weight1, bias1))
    return hidden, torch.sigmoid(F.linear(hidden, weight2, bias2))


@torch.library.custom_op("cosam::channel_attention", mutates_args=())
def _channel_attention_op(
    x: torch.Tensor,
    spatial_mask: Optional[torch.Tensor],
    weight1: torch.Tensor,
    bias1: torch.Tensor,
    weight2: torch.Tensor,
    bias2: torch.Tensor,
    num_frames: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # Returns the pooled statistic too, so that the backward need not pool again.
    _check_channel_attention(x, spatial_mask, weight1, bias1, weight2, bias2, num_frames)
    mask = _mask_or_ones(x, spatial_mask)
    pooled = torch.ops.cosam.masked_mean(x, mask)
    per_frame = _channel_mlp(pooled, weight1, bias1, weight2, bias2)[1]
    channel_mask = per_frame.view(-1, num_frames, x.shape[1]).mean(dim=1)
    out = torch.ops.cosam.apply_attention(x, mask, channel_mask, num_frames)
    return out, channel_mask, pooled


# --- fake kernels: output shapes for tracing --------------------------------


def _check_frames(x, num_frames):
    torch._check(x.dim() == 4, lambda: f"x must be 4-D (B*N, D, H, W), got {x.dim()}-D")
    torch._check(num_frames >= 2, lambda: f"num_frames must be >= 2, got {num_frames}")
    torch._check(
        x.shape[0] % num_frames == 0,
        lambda: f"x.size(0) = {x.shape[0]} is not divisible by num_frames = {num_frames}",
    )


def _volume_shape(x, num_frames):
    n_frames, _, height, width = x.shape
    return (n_frames, (num_frames - 1) * height * width, height, width)


@torch.library.register_fake("cosam::ncc_cost_volume")
def _ncc_cost_volume_fake(x, num_frames, eps):
    _check_frames(x, num_frames)
    return x.new_empty(_volume_shape(x, num_frames))


@torch.library.register_fake("cosam::ncc_cost_volume_backward")
def _ncc_cost_volume_backward_fake(grad, x, num_frames, eps):
    _check_frames(x, num_frames)
    return x.new_empty(x.shape)


@torch.library.register_fake("cosam::ncc_summary")
def _ncc_summary_fake(x, weight, bias, num_frames, eps):
    _check_frames(x, num_frames)
    torch._check(
        weight.shape[1] == _volume_shape(x, num_frames)[1],
        lambda: f"weight.size(1) must be (N-1)*H*W = {_volume_shape(x, num_frames)[1]}, "
        f"got {weight.shape[1]}",
    )
    total, channels, height, width = x.shape
    out_channels = weight.shape[0]
    return x.new_empty((total, out_channels, height, width)), x.new_empty((total, channels, out_channels))


@torch.library.register_fake("cosam::ncc_summary_backward")
def _ncc_summary_backward_fake(grad, x, v, weight, num_frames, eps):
    _check_frames(x, num_frames)
    return x.new_empty(x.shape), weight.new_empty(weight.shape), weight.new_empty(weight.shape[0])


def _check_masked_maps(x, spatial_mask):
    torch._check(x.dim() == 4, lambda: f"x must be 4-D (B*N, C, H, W), got {x.dim()}-D")
    torch._check(
        spatial_mask.shape == (x.shape[0], 1, *x.shape[2:]),
        lambda: f"spatial_mask must have shape (B*N, 1, H, W), got {tuple(spatial_mask.shape)}",
    )


@torch.library.register_fake("cosam::masked_mean")
def _masked_mean_fake(x, spatial_mask):
    _check_masked_maps(x, spatial_mask)
    return x.new_empty(x.shape[:2])


@torch.library.register_fake("cosam::masked_mean_backward")
def _masked_mean_backward_fake(grad, x, spatial_mask):
    _check_masked_maps(x, spatial_mask)
    return x.new_empty(x.shape), spatial_mask.new_empty(spatial_mask.shape)


def _check_attention(x, spatial_mask, channel_mask, num_frames):
    _check_masked_maps(x, spatial_mask)
    torch._check(
        x.shape[0] % num_frames == 0,
        lambda: f"x.size(0) = {x.shape[0]} is not divisible by num_frames = {num_frames}",
    )
    torch._check(
        channel_mask.shape == (x.shape[0] // num_frames, x.shape[1]),
        lambda: f"channel_mask must have shape (B, C), got {tuple(channel_mask.shape)}",
    )


@torch.library.register_fake("cosam::apply_attention")
def _apply_attention_fake(x, spatial_mask, channel_mask, num_frames):
    _check_attention(x, spatial_mask, channel_mask, num_frames)
    return x.new_empty(x.shape)


@torch.library.register_fake("cosam::apply_attention_backward")
def _apply_attention_backward_fake(grad, x, spatial_mask, channel_mask, num_frames):
    _check_attention(x, spatial_mask, channel_mask, num_frames)
    return x.new_empty(x.shape), spatial_mask.new_empty(spatial_mask.shape), channel_mask.new_empty(channel_mask.shape)


def _check_channel_attention(x, spatial_mask, weight1, bias1, weight2, bias2, num_frames):
    torch._check(x.dim() == 4, lambda: f"x must be 4-D (B*N, C, H, W), got {x.dim()}-D")
    if spatial_mask is not None:
        _check_masked_maps(x, spatial_mask)
    torch._check(num_frames >= 1, lambda: f"num_frames must be >= 1, got {num_frames}")
    torch._check(
        x.shape[0] % num_frames == 0,
        lambda: f"x.size(0) = {x.shape[0]} is not divisible by num_frames = {num_frames}",
    )
    channels, reduced = x.shape[1], weight1.shape[0]
    for name, tensor, shape in (
        ("weight1", weight1, (reduced, channels)),
        ("bias1", bias1, (reduced,)),
        ("weight2", weight2, (channels, reduced)),
        ("bias2", bias2, (channels,)),
    ):
        torch._check(
            tensor.shape == shape,
            lambda: f"{name} must have shape {shape} for x with C = {channels}, got {tuple(tensor.shape)}",
        )


@_channel_attention_op.register_fake
def _channel_attention_fake(x, spatial_mask, weight1, bias1, weight2, bias2, num_frames):
    _check_channel_attention(x, spatial_mask, weight1, bias1, weight2, bias2, num_frames)
    pooled = x.new_empty(x.shape[:2])
    return x.new_empty(x.shape), x.new_empty((x.shape[0] // num_frames, x.shape[1])), pooled


# --- autograd ---------------------------------------------------------------
# Beyond their inputs the forward ops keep at most ncc_summary's slot sums
# (N*B, D, K), K/P of x's size; the backward ops recompute the normalisation,
# which costs one pass over x and saves a copy of it.


def _save_frames(ctx, x, num_frames, eps, *tensors):
    ctx.save_for_backward(x, *tensors)
    ctx.num_frames = num_frames
    ctx.eps = eps


def _ncc_cost_volume_setup_context(ctx, inputs, output):
    x, num_frames, eps = inputs
    _save_frames(ctx, x, num_frames, eps)


def _ncc_cost_volume_backward(ctx, grad):
    (x,) = ctx.saved_tensors
    grad_x = torch.ops.cosam.ncc_cost_volume_backward(grad, x, ctx.num_frames, ctx.eps)
    return grad_x, None, None


def _ncc_summary_setup_context(ctx, inputs, output):
    x, weight, bias, num_frames, eps = inputs
    _, v = output
    # Only the logits are differentiable: v is the forward's slot sums, saved
    # for this backward.
    ctx.mark_non_differentiable(v)
    _save_frames(ctx, x, num_frames, eps, v, weight)
    ctx.has_bias = bias is not None


def _ncc_summary_backward(ctx, grad, grad_v):
    grad_x, grad_weight, grad_bias = torch.ops.cosam.ncc_summary_backward(
        grad, *ctx.saved_tensors, ctx.num_frames, ctx.eps
    )
    return grad_x, grad_weight, grad_bias if ctx.has_bias else None, None, None


def _apply_attention_setup_context(ctx, inputs, output):
    x, spatial_mask, channel_mask, num_frames = inputs
    ctx.save_for_backward(x, spatial_mask, channel_mask)
    ctx.num_frames = num_frames


def _apply_attention_backward(ctx, grad):
    grads = torch.ops.cosam.apply_attention_backward(grad, *ctx.saved_tensors, ctx.num_frames)
    return *grads, None


def _masked_mean_setup_context(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def _masked_mean_backward(ctx, grad):
    return torch.ops.cosam.masked_mean_backward(grad, *ctx.saved_tensors)


def _channel_attention_setup_context(ctx, inputs, output):
    x, spatial_mask, weight1, bias1, weight2, bias2, num_frames = inputs
    _, channel_mask, pooled = output
    ctx.save_for_backward(x, spatial_mask, weight1, bias1, weight2, bias2, channel_mask, pooled)
    ctx.num_frames = num_frames


def _channel_attention_backward(ctx, grad_out, grad_channel_mask, grad_pooled):
    x, spatial_mask, weight1, bias1, weight2, bias2, channel_mask, pooled = ctx.saved_tensors
    num_frames = ctx.num_frames
    mask = _mask_or_ones(x, spatial_mask)
    # Gradients of unused outputs arrive as zeros (autograd materialises them).
    grad_x, grad_mask, grad_channel = torch.ops.cosam.apply_attention_backward(
        grad_out, x, mask, channel_mask, num_frames
    )
    grad_channel = grad_channel + grad_channel_mask
    # The MLP's backward by hand (its activations are recomputed: (B*N, D) and (B*N, C)).
    hidden, per_frame = _channel_mlp(pooled, weight1, bias1, weight2, bias2)
    grad_per_frame = (grad_channel / num_frames).repeat_interleave(num_frames, dim=0)
    grad_logits2 = grad_per_frame * per_frame * (1 - per_frame)
    grad_hidden = grad_logits2 @ weight2
    grad_logits1 = grad_hidden * (1 - hidden * hidden)
    grad_pooled_total = grad_logits1 @ weight1 + grad_pooled
    # pooled = mean_p(x * mask): its share of dx is rank one per frame, added
    # in place; its share of d(mask) is a product with x per frame.
    positions = x.shape[2] * x.shape[3]
    grad_x.addcmul_(grad_pooled_total[:, :, None, None], mask, value=1 / positions)
    if spatial_mask is not None:
        per_position = torch.bmm(grad_pooled_total[:, None, :], x.reshape(*x.shape[:2], -1))
        grad_mask.add_(per_position.view_as(grad_mask), alpha=1 / positions)
    else:
        grad_mask = None
    return (
        grad_x,
        grad_mask,
        grad_logits1.t() @ pooled,
        grad_logits1.sum(0),
        grad_logits2.t() @ hidden,
        grad_logits2.sum(0),
        None,
    )


_channel_attention_op.register_autograd(_channel_attention_backward, setup_context=_channel_attention_setup_context)
torch.library.register_autograd(
    "cosam::masked_mean",
    _masked_mean_backward,
    setup_context=_masked_mean_setup_context,
)
torch.library.register_autograd(
    "cosam::apply_attention",
    _apply_attention_backward,
    setup_context=_apply_attention_setup_context,
)
torch.library.register_autograd(
    "cosam::ncc_cost_volume",
    _ncc_cost_volume_backward,
    setup_context=_ncc_cost_volume_setup_context,
)
torch.library.register_autograd(
    "cosam::ncc_summary",
    _ncc_summary_backward,
    setup_context=_ncc_summary_setup_context,
)

# Under CPU autocast the reduction conv hands over bfloat16 maps while the
# summary weight stays float32; the CPU kernels run in float32.
for _op in ("cosam::ncc_cost_volume", "cosam::ncc_summary", "cosam::masked_mean", "cosam::apply_attention"):
    torch.library.register_autocast(_op, "cpu", torch.float32)
# channel_attention meets the float32 MLP weights: on either device it runs in
# float32, the promoted dtype of its inputs under autocast (the compiled ops'
# CUDA autocast rules are in csrc/cuda/autocast.cpp).
for _device in ("cpu", "cuda"):
    torch.library.register_autocast("cosam::channel_attention", _device, torch.float32)
