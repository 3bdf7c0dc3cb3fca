"""Pure-PyTorch oracle of the cosam ops and of the whole layer, in the
authors' formulation: gather the other frames of each clip, normalise both
sides, multiply with bmm, then apply the summary conv to the materialised cost
volume. Same semantics as the compiled ops, at the authors' cost in time and
memory; the tests use it as the ground truth and the benchmarks as baseline.
"""
import torch
import torch.nn.functional as F

from .ops.ncc import DEFAULT_EPS, normalise, other_frames

__all__ = [
    "DEFAULT_EPS", "other_frames", "normalise", "ncc_cost_volume", "ncc_summary", "masked_mean", "apply_attention",
    "channel_attention", "cosam",
]

def ncc_cost_volume(x, num_frames, eps=DEFAULT_EPS):
    """(B*N, D, H, W) clip-major -> (B*N, (N-1)*H*W, H, W)."""
    total, channels, height, width = x.shape
    clips = x.reshape(total // num_frames, num_frames, channels, height, width)
    others = clips[:, other_frames(num_frames)]  # (B, N, N-1, D, H, W)
    others = others.reshape(total, num_frames - 1, channels, height, width)
    others = others.permute(0, 2, 1, 3, 4).reshape(total, channels, -1)
    own = x.reshape(total, channels, -1).permute(0, 2, 1)  # (B*N, P, D)
    correlation = torch.bmm(normalise(own, 2, eps), normalise(others, 1, eps)) / channels
    return correlation.permute(0, 2, 1).reshape(total, -1, height, width)


def ncc_summary(x, weight, bias, num_frames, eps=DEFAULT_EPS):
    """conv1x1 of the materialised cost volume."""
    weight = weight.reshape(weight.shape[0], -1, 1, 1)
    return F.conv2d(ncc_cost_volume(x, num_frames, eps), weight, bias)


def masked_mean(x, spatial_mask):
    """The authors' pooling of the masked maps: (B*N, C, H, W), (B*N, 1, H, W) -> (B*N, C)."""
    return F.adaptive_avg_pool2d(torch.mul(x, spatial_mask), output_size=1).flatten(1)


def apply_attention(x, spatial_mask, channel_mask, num_frames):
    """x * spatial_mask, plus itself times the clip's channel mask, in the
    authors' steps: (B*N, C, H, W), (B*N, 1, H, W), (B, C) -> (B*N, C, H, W)."""
    out = torch.mul(x, spatial_mask)
    common = channel_mask.repeat_interleave(num_frames, dim=0)[:, :, None, None]
    return out + torch.mul(out, common)


def channel_attention(x, spatial_mask, weight1, bias1, weight2, bias2, num_frames):
    """The authors' channel attention on x * spatial_mask (x alone where the
    mask is None) and its application: (output, channel mask (B, C))."""

    def mlp(pooled):
        return torch.sigmoid(F.linear(torch.tanh(F.linear(pooled, weight1, bias1)), weight2, bias2))

    return _attend_channels(x, spatial_mask, mlp, num_frames)


def _attend_channels(x, spatial_mask, mlp, num_frames):
    """channel_attention with the MLP given as a callable (the layer's module)."""
    total, channels = x.shape[:2]
    out = x if spatial_mask is None else torch.mul(x, spatial_mask)
    pooled = F.adaptive_avg_pool2d(out, output_size=1).view(total, -1)
    per_frame = mlp(pooled).view(total // num_frames, num_frames, -1)
    channel_mask = torch.mean(per_frame, dim=1)
    common = channel_mask[:, None].expand_as(per_frame).reshape(total, channels, 1, 1)
    return out + torch.mul(out, common), channel_mask


def cosam(x, num_frames, dim_reduction, spatial_mask_summary, channelwise_attention, eps=DEFAULT_EPS):
    """The authors' COSAM forward on clip-major frames (B*N, C, H, W), each
    of the three submodules called as a module.

    dim_reduction and spatial_mask_summary are None for channel-only
    attention; channelwise_attention is None for spatial-only attention.
    Returns (output, spatial mask (B*N, 1, H, W) or None, channel mask
    (B, C) or None).
    """
    spatial_mask = None
    if spatial_mask_summary is not None:
        volume = ncc_cost_volume(dim_reduction(x), num_frames, eps)
        spatial_mask = spatial_mask_summary(volume).sigmoid()
    if channelwise_attention is None:
        return torch.mul(x, spatial_mask), spatial_mask, None
    out, channel_mask = _attend_channels(x, spatial_mask, channelwise_attention, num_frames)
    return out, spatial_mask, channel_mask
