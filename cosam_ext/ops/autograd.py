"""Autograd of the ops: each backward is a compiled backward op, except the
channel attention's, whose MLP part is written here."""
import torch

from .channel_attention_op import channel_attention_forward, channel_mlp, mask_or_ones

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
    mask = mask_or_ones(x, spatial_mask)
    # Gradients of unused outputs arrive as zeros (autograd materialises them).
    grad_x, grad_mask, grad_channel = torch.ops.cosam.apply_attention_backward(
        grad_out, x, mask, channel_mask, num_frames
    )
    grad_channel = grad_channel + grad_channel_mask
    # The MLP's backward by hand (its activations are recomputed: (B*N, D) and (B*N, C)).
    hidden, per_frame = channel_mlp(pooled, weight1, bias1, weight2, bias2)
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


channel_attention_forward.register_autograd(_channel_attention_backward, setup_context=_channel_attention_setup_context)
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

