"""cosam::masked_mean: what the channel attention pools, without the masked
maps (kernels in csrc/<backend>/masked_mean.*), and its backward."""
import torch

from .checks import check_masked_maps
from .tracing import exporting_to_onnx, fx_leaf

__all__ = ["masked_mean", "composition"]

OP = "cosam::masked_mean"


@fx_leaf
def masked_mean(x, spatial_mask):
    """The mean over positions of x * spatial_mask, without that product:
    what the channel attention pools.

    x: (B*N, C, H, W); spatial_mask: (B*N, 1, H, W). Returns (B*N, C).
    """
    if exporting_to_onnx():
        return composition(x, spatial_mask)
    return torch.ops.cosam.masked_mean(x, spatial_mask)


def composition(x, spatial_mask):
    """The op in standard ops, for export."""
    return torch.mul(x, spatial_mask).mean(dim=(2, 3))


@torch.library.register_fake(OP)
def _fake(x, spatial_mask):
    check_masked_maps(x, spatial_mask, OP)
    return x.new_empty(x.shape[:2])


@torch.library.register_fake("cosam::masked_mean_backward")
def _backward_fake(grad, x, spatial_mask):
    check_masked_maps(x, spatial_mask, "cosam::masked_mean_backward")
    return x.new_empty(x.shape), spatial_mask.new_empty(spatial_mask.shape)


def _setup_context(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def _backward(ctx, grad):
    return torch.ops.cosam.masked_mean_backward(grad, *ctx.saved_tensors)


torch.library.register_autograd(OP, _backward, setup_context=_setup_context)
