"""cosam::ncc_cost_volume: the materialised NCC cost volume (kernels in
csrc/<backend>/ncc_cost_volume.*), and its backward."""
import torch

from .checks import check_frames, volume_channels
from .ncc import DEFAULT_EPS, normalise, other_frames
from .tracing import exporting_to_onnx, fx_leaf

__all__ = ["ncc_cost_volume", "composition"]

OP = "cosam::ncc_cost_volume"


@fx_leaf
def ncc_cost_volume(x, num_frames, eps=DEFAULT_EPS):
    """The materialised NCC cost volume of clip-major reduced features.

    x: (B*N, D, H, W), frame n of clip b at row b*N + n.
    Returns (B*N, (N-1)*H*W, H, W): channel s*H*W + q of frame n holds the
    correlation of each position of frame n with position q of the frame in
    slot s (the other frames in ascending order, skipping n).
    """
    if exporting_to_onnx():
        return composition(x, num_frames, eps)
    return torch.ops.cosam.ncc_cost_volume(x, num_frames, eps)


def composition(x, num_frames, eps):
    """The op in standard ops, for export: per frame one product of its
    normalised map with those of the other frames, in slot order. Slices, not
    an index tensor: a decomposition may not create tensor constants."""
    total, channels, height, width = x.shape
    z = normalise(x.reshape(-1, num_frames, channels, height * width), 2, eps)  # (B, N, D, P)
    rows = []
    for n, others in enumerate(other_frames(num_frames)):
        other_maps = torch.cat([z[:, m] for m in others], dim=2)  # (B, D, (N-1)*P)
        rows.append(torch.matmul(z[:, n].transpose(1, 2), other_maps))  # (B, P, (N-1)*P)
    correlation = torch.stack(rows, dim=1) / channels
    return correlation.transpose(2, 3).reshape(total, -1, height, width)


@torch.library.register_fake(OP)
def _fake(x, num_frames, eps):
    check_frames(x, num_frames, eps, OP)
    return x.new_empty((x.shape[0], volume_channels(x, num_frames), *x.shape[2:]))


@torch.library.register_fake("cosam::ncc_cost_volume_backward")
def _backward_fake(grad, x, num_frames, eps):
    check_frames(x, num_frames, eps, "cosam::ncc_cost_volume_backward")
    return x.new_empty(x.shape)


def _setup_context(ctx, inputs, output):
    x, num_frames, eps = inputs
    # The backward recomputes the normalisation: one pass over x instead of a saved copy.
    ctx.save_for_backward(x)
    ctx.num_frames, ctx.eps = num_frames, eps


def _backward(ctx, grad):
    (x,) = ctx.saved_tensors
    return torch.ops.cosam.ncc_cost_volume_backward(grad, x, ctx.num_frames, ctx.eps), None, None


torch.library.register_autograd(OP, _backward, setup_context=_setup_context)
