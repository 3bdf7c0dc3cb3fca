"""cosam::channel_attention, the one op defined in Python, over the compiled
masked_mean and apply_attention: the layer's channel branch (the masked mean,
the authors' MLP, the clip mean of its masks) and its application, with a
backward that writes the gradient of x once."""
from typing import Optional

import torch
import torch.nn.functional as F

from .apply_attention import composition as _apply_attention_composition
from .masked_mean import composition as _masked_mean_composition
from .checks import check_channel_attention
from .tracing import exporting_to_onnx, fx_leaf

__all__ = ["channel_attention", "composition", "mask_or_ones"]

OP = "cosam::channel_attention"


@fx_leaf
def channel_attention(x, spatial_mask, weight1, bias1, weight2, bias2, num_frames):
    """The layer's channel attention over the spatially masked maps, and the
    result, as one op (torch.ops.cosam.channel_attention):

        pooled       = masked_mean(x, spatial_mask)              (B*N, C)
        channel_mask = clip mean of sigmoid(W2 tanh(W1 pooled + b1) + b2)
        out          = apply_attention(x, spatial_mask, channel_mask)

    spatial_mask None means no spatial attention (a mask of ones). Its
    backward writes dx once, with the pooled statistic's share and out's
    together (apply_attention_backward with grad_pooled), where separate ops
    would each make a map of x's size.
    The pooled statistic and the MLP run in the weights' dtype, out in x's:
    they differ under autocast only (x half, the weights float32).

    x: (B*N, C, H, W); spatial_mask: (B*N, 1, H, W) or None; weight1 (D, C),
    bias1 (D,), weight2 (C, D), bias2 (C,): the authors' two Linear layers.
    Returns (out shaped like x, channel_mask (B, C) in the weights' dtype).
    """
    op = composition if exporting_to_onnx() else torch.ops.cosam.channel_attention
    out, channel_mask = op(x, spatial_mask, weight1, bias1, weight2, bias2, num_frames)[:2]
    return out, channel_mask


def mask_or_ones(x, spatial_mask):
    """spatial_mask, or a mask of ones where there is no spatial attention."""
    if spatial_mask is not None:
        return spatial_mask
    return x.new_ones((x.shape[0], 1, *x.shape[2:]))


def _channel_mlp(pooled, weight1, bias1, weight2, bias2):
    """The authors' Linear -> Tanh -> Linear -> Sigmoid; returns (hidden, per-frame mask)."""
    hidden = torch.tanh(F.linear(pooled, weight1, bias1))
    return hidden, torch.sigmoid(F.linear(hidden, weight2, bias2))


def _attend(masked_mean, apply_attention, x, spatial_mask, weight1, bias1, weight2, bias2, num_frames):
    """(out, channel_mask, pooled, hidden, per_frame), built on the given
    masked_mean and apply_attention: the compiled ops, or their compositions."""
    mask = mask_or_ones(x, spatial_mask)
    pooled = masked_mean(x, mask).to(weight1.dtype)
    hidden, per_frame = _channel_mlp(pooled, weight1, bias1, weight2, bias2)
    channel_mask = per_frame.view(-1, num_frames, x.shape[1]).mean(dim=1)
    out = apply_attention(x, mask, channel_mask.to(x.dtype), num_frames)
    return out, channel_mask, pooled, hidden, per_frame


def composition(x, spatial_mask, weight1, bias1, weight2, bias2, num_frames):
    """The op in standard ops, for export: (out, channel_mask, pooled, hidden, per_frame)."""
    return _attend(
        _masked_mean_composition, _apply_attention_composition,
        x, spatial_mask, weight1, bias1, weight2, bias2, num_frames,
    )


@torch.library.custom_op(OP, mutates_args=())
def _channel_attention_op(
    x: torch.Tensor,
    spatial_mask: Optional[torch.Tensor],
    weight1: torch.Tensor,
    bias1: torch.Tensor,
    weight2: torch.Tensor,
    bias2: torch.Tensor,
    num_frames: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    # Returns the pooled statistic and the MLP's activations too ((B*N, C)
    # and (B*N, D)), so that the backward need not pool or run the MLP again.
    check_channel_attention(x, spatial_mask, weight1, bias1, weight2, bias2, num_frames, OP)
    return _attend(
        torch.ops.cosam.masked_mean, torch.ops.cosam.apply_attention,
        x, spatial_mask, weight1, bias1, weight2, bias2, num_frames,
    )


@_channel_attention_op.register_fake
def _fake(x, spatial_mask, weight1, bias1, weight2, bias2, num_frames):
    check_channel_attention(x, spatial_mask, weight1, bias1, weight2, bias2, num_frames, OP)
    return (
        x.new_empty(x.shape),
        weight1.new_empty((x.shape[0] // num_frames, x.shape[1])),
        weight1.new_empty(x.shape[:2]),
        weight1.new_empty((x.shape[0], weight1.shape[0])),
        weight1.new_empty(x.shape[:2]),
    )


def _setup_context(ctx, inputs, output):
    x, spatial_mask, weight1, bias1, weight2, bias2, num_frames = inputs
    _, channel_mask, pooled, hidden, per_frame = output
    # The activations are saved for the backward, not results to differentiate.
    ctx.mark_non_differentiable(hidden, per_frame)
    ctx.save_for_backward(x, spatial_mask, weight1, weight2, channel_mask, pooled, hidden, per_frame)
    ctx.num_frames = num_frames


def _backward(ctx, grad_out, grad_channel_mask, grad_pooled, _grad_hidden, _grad_per_frame):
    x, spatial_mask, weight1, weight2, channel_mask, pooled, hidden, per_frame = ctx.saved_tensors
    num_frames = ctx.num_frames
    mask = mask_or_ones(x, spatial_mask)
    # Two passes over grad_out and x: the channel mask's gradient first, then,
    # once the MLP's backward has turned it into the pooled statistic's
    # gradient, dx and the spatial mask's gradient with both shares, each
    # written once. Gradients of unused outputs arrive as zeros (autograd
    # materialises them).
    grad_channel = torch.ops.cosam.apply_attention_channel_grad(grad_out, x, mask, num_frames)
    grad_channel = grad_channel.to(channel_mask.dtype) + grad_channel_mask
    # The MLP's backward by hand, from the activations the forward saved.
    grad_per_frame = (grad_channel / num_frames).repeat_interleave(num_frames, dim=0)
    grad_logits2 = grad_per_frame * per_frame * (1 - per_frame)
    grad_hidden = grad_logits2 @ weight2
    grad_logits1 = grad_hidden * (1 - hidden * hidden)
    grad_pooled_total = grad_logits1 @ weight1 + grad_pooled
    grad_x, grad_mask, _ = torch.ops.cosam.apply_attention_backward(
        grad_out, x, mask, channel_mask.to(x.dtype), num_frames, grad_pooled_total.to(x.dtype)
    )
    if spatial_mask is None:
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


_channel_attention_op.register_autograd(_backward, setup_context=_setup_context)
