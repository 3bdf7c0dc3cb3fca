"""cosam::apply_attention: the layer's output from its masks in one pass over
x (kernels in csrc/<backend>/apply_attention.*), and its backward."""
import torch

from .checks import check_attention, check_grad_pooled, check_masked_clips
from .tracing import exporting_to_onnx, fx_leaf

__all__ = ["apply_attention", "composition"]

OP = "cosam::apply_attention"


@fx_leaf
def apply_attention(x, spatial_mask, channel_mask, num_frames):
    """The layer's attention applied to clip-major maps, in one pass:
    x * spatial_mask * (1 + channel_mask of the clip).

    x: (B*N, C, H, W); spatial_mask: (B*N, 1, H, W); channel_mask: (B, C).
    Returns a tensor shaped like x.
    """
    if exporting_to_onnx():
        return composition(x, spatial_mask, channel_mask, num_frames)
    return torch.ops.cosam.apply_attention(x, spatial_mask, channel_mask, num_frames)


def composition(x, spatial_mask, channel_mask, num_frames):
    """The op in standard ops, for export."""
    clips = torch.mul(x, spatial_mask).unflatten(0, (-1, num_frames))  # (B, N, C, H, W)
    return (clips * (1 + channel_mask[:, None, :, None, None])).flatten(0, 1)


@torch.library.register_fake(OP)
def _fake(x, spatial_mask, channel_mask, num_frames):
    check_attention(x, spatial_mask, channel_mask, num_frames, OP)
    return x.new_empty(x.shape)


@torch.library.register_fake("cosam::apply_attention_backward")
def _backward_fake(grad, x, spatial_mask, channel_mask, num_frames, grad_pooled=None):
    op = "cosam::apply_attention_backward"
    check_attention(x, spatial_mask, channel_mask, num_frames, op)
    check_grad_pooled(grad_pooled, x, op)
    return x.new_empty(x.shape), spatial_mask.new_empty(spatial_mask.shape), channel_mask.new_empty(channel_mask.shape)


@torch.library.register_fake("cosam::apply_attention_channel_grad")
def _channel_grad_fake(grad, x, spatial_mask, num_frames):
    check_masked_clips(x, spatial_mask, num_frames, "cosam::apply_attention_channel_grad")
    return x.new_empty((x.shape[0] // num_frames, x.shape[1]))


def _setup_context(ctx, inputs, output):
    x, spatial_mask, channel_mask, num_frames = inputs
    ctx.save_for_backward(x, spatial_mask, channel_mask)
    ctx.num_frames = num_frames


def _backward(ctx, grad):
    return *torch.ops.cosam.apply_attention_backward(grad, *ctx.saved_tensors, ctx.num_frames), None


torch.library.register_autograd(OP, _backward, setup_context=_setup_context)
