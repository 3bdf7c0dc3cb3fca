"""cosam::channel_attention, the one op defined in Python: the layer's
channel branch (masked mean, the authors' MLP, the clip mean of its masks)
and its application, composed of the compiled ops."""
from typing import Optional

import torch
import torch.nn.functional as F

from .checks import check_channel_attention

__all__ = ["mask_or_ones", "channel_mlp", "channel_attention_with", "channel_attention_forward"]


def mask_or_ones(x, spatial_mask):
    """spatial_mask, or a mask of ones where there is no spatial attention."""
    if spatial_mask is not None:
        return spatial_mask
    return x.new_ones((x.shape[0], 1, *x.shape[2:]))


def channel_mlp(pooled, weight1, bias1, weight2, bias2):
    """The authors' Linear -> Tanh -> Linear -> Sigmoid; returns (hidden, per-frame mask)."""
    hidden = torch.tanh(F.linear(pooled, weight1, bias1))
    return hidden, torch.sigmoid(F.linear(hidden, weight2, bias2))


def channel_attention_with(masked_mean, apply_attention, x, spatial_mask, weight1, bias1, weight2, bias2, num_frames):
    """(out, channel_mask, pooled) of the channel attention, built on the given
    masked_mean and apply_attention (the compiled ops, or their compositions
    of standard ops for export)."""
    mask = mask_or_ones(x, spatial_mask)
    pooled = masked_mean(x, mask)
    per_frame = channel_mlp(pooled, weight1, bias1, weight2, bias2)[1]
    channel_mask = per_frame.view(-1, num_frames, x.shape[1]).mean(dim=1)
    return apply_attention(x, mask, channel_mask, num_frames), channel_mask, pooled


@torch.library.custom_op("cosam::channel_attention", mutates_args=())
def channel_attention_forward(
    x: torch.Tensor,
    spatial_mask: Optional[torch.Tensor],
    weight1: torch.Tensor,
    bias1: torch.Tensor,
    weight2: torch.Tensor,
    bias2: torch.Tensor,
    num_frames: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # Returns the pooled statistic too, so that the backward need not pool again.
    check_channel_attention(x, spatial_mask, weight1, bias1, weight2, bias2, num_frames)
    return channel_attention_with(
        torch.ops.cosam.masked_mean, torch.ops.cosam.apply_attention,
        x, spatial_mask, weight1, bias1, weight2, bias2, num_frames,
    )
