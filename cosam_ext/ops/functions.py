"""The ops' Python entry points: thin calls of torch.ops.cosam.*, which pick
ncc_summary's contraction order and stay single nodes under torch.fx and
compositions of standard ops under the TorchScript-based ONNX exporter."""
import torch

from . import composite
from ..reference import DEFAULT_EPS
from .dispatch import materialising_is_cheaper
from .tracing import fx_leaf, in_torchscript_onnx_export

__all__ = ["DEFAULT_EPS", "ncc_cost_volume", "ncc_summary", "masked_mean", "apply_attention", "channel_attention"]

@fx_leaf
def ncc_cost_volume(x, num_frames, eps=DEFAULT_EPS):
    """The materialised NCC cost volume of clip-major reduced features.

    x: (B*N, D, H, W), frame n of clip b at row b*N + n.
    Returns (B*N, (N-1)*H*W, H, W): channel s*H*W + q of frame n holds the
    correlation of each position of frame n with position q of the frame in
    slot s (the other frames in ascending order, skipping n).
    """
    if in_torchscript_onnx_export():
        return composite.ncc_cost_volume(x, num_frames, eps)
    return torch.ops.cosam.ncc_cost_volume(x, num_frames, eps)


@fx_leaf
def ncc_summary(x, weight, bias, num_frames, eps=DEFAULT_EPS):
    """conv1x1(ncc_cost_volume(x, num_frames, eps), weight, bias), computed
    without the cost volume (torch.ops.cosam.ncc_summary), or, on the CPU at
    tiny maps where that is cheaper (`materialising_is_cheaper`), through the
    compiled cost volume.

    weight: (K, (N-1)*H*W) or (K, (N-1)*H*W, 1, 1); bias: (K,) or None.
    Returns (B*N, K, H, W).
    """
    if materialising_is_cheaper(x, weight.shape[0], num_frames):
        if not (torch.compiler.is_compiling() or torch.jit.is_tracing()):
            # The compiled op on no clips runs its argument checks and nothing
            # else: bad input is reported as on the fused order. (A traced
            # graph has no use for such a node.)
            ncc_summary_op(x[:0], weight, bias, num_frames, eps)
        volume = ncc_cost_volume(x, num_frames, eps)
        return torch.nn.functional.conv2d(volume, weight.reshape(weight.shape[0], -1, 1, 1), bias)
    return ncc_summary_op(x, weight, bias, num_frames, eps)[0]


def ncc_summary_op(x, weight, bias, num_frames, eps):
    """torch.ops.cosam.ncc_summary: (logits, slot sums)."""
    if in_torchscript_onnx_export():
        return composite.ncc_summary(x, weight, bias, num_frames, eps)
    return torch.ops.cosam.ncc_summary(x, weight, bias, num_frames, eps)


@fx_leaf
def masked_mean(x, spatial_mask):
    """The mean over positions of x * spatial_mask, without that product:
    what the channel attention pools.

    x: (B*N, C, H, W); spatial_mask: (B*N, 1, H, W). Returns (B*N, C).
    """
    if in_torchscript_onnx_export():
        return composite.masked_mean(x, spatial_mask)
    return torch.ops.cosam.masked_mean(x, spatial_mask)


@fx_leaf
def apply_attention(x, spatial_mask, channel_mask, num_frames):
    """The layer's attention applied to clip-major maps, in one pass:
    x * spatial_mask * (1 + channel_mask of the clip).

    x: (B*N, C, H, W); spatial_mask: (B*N, 1, H, W); channel_mask: (B, C).
    Returns a tensor shaped like x.
    """
    if in_torchscript_onnx_export():
        return composite.apply_attention(x, spatial_mask, channel_mask, num_frames)
    return torch.ops.cosam.apply_attention(x, spatial_mask, channel_mask, num_frames)


@fx_leaf
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
    op = composite.channel_attention if in_torchscript_onnx_export() else torch.ops.cosam.channel_attention
    out, channel_mask, _ = op(x, spatial_mask, weight1, bias1, weight2, bias2, num_frames)
    return out, channel_mask
