"""The cosam ops composed of standard PyTorch ops, for graphs that leave
PyTorch (ONNX and other exporters): what each compiled op computes, in the
same contraction order.

ncc_summary keeps the fused order of the compiled op: normalise, one GEMM per
frame against its two summary weights, the slot sums over the other frames of
the clip, and one batched product with the normalised frame. The (N-1)*H*W
channel cost volume never exists. ncc_cost_volume materialises the volume as
the authors do (reference.ncc_cost_volume): ops.ncc_summary only calls it at
the tiny maps where that order is the cheaper one.
"""
import functools

import torch

from .. import reference
from .channel_attention_op import channel_attention_with

__all__ = ["ncc_cost_volume", "ncc_summary", "masked_mean", "apply_attention", "channel_attention"]

masked_mean = reference.masked_mean
apply_attention = reference.apply_attention
#: (out, channel_mask, pooled), as torch.ops.cosam.channel_attention.
channel_attention = functools.partial(channel_attention_with, masked_mean, apply_attention)


def ncc_cost_volume(x, num_frames, eps):
    """(B*N, (N-1)*H*W, H, W), as torch.ops.cosam.ncc_cost_volume: per frame
    one product of its normalised map with those of the other frames, in slot
    order. Slices, not an index tensor: a decomposition may not create tensor
    constants."""
    total, channels, height, width = x.shape
    z = reference.normalise(x.reshape(-1, num_frames, channels, height * width), 2, eps)  # (B, N, D, P)
    rows = []
    for n, others in enumerate(reference.other_frames(num_frames)):
        other_maps = torch.cat([z[:, m] for m in others], dim=2)  # (B, D, (N-1)*P)
        rows.append(torch.matmul(z[:, n].transpose(1, 2), other_maps))  # (B, P, (N-1)*P)
    correlation = torch.stack(rows, dim=1) / channels
    return correlation.transpose(2, 3).reshape(total, -1, height, width)


def _other_frame_sums(num_frames, dtype, device):
    """(N, 2N) matrix S with V_n = sum_m S[n, m] hi_m + S[n, N + m] lo_m: the
    frames after n contribute their hi products, those before their lo ones."""
    ones = torch.ones(num_frames, num_frames, dtype=dtype, device=device)
    return torch.cat([ones.triu(1), ones.tril(-1)], dim=1)


def ncc_summary(x, weight, bias, num_frames, eps):
    """(logits (B*N, K, H, W), slot sums v (N*B, D, K)), as torch.ops.cosam.ncc_summary.

    With Z_m the normalised frame m (D, P) and W_s the weight of slot s
    (K, P): frame m is slot m-1 of the frames after it and slot m of those
    before it, so hi_m = Z_m W_{m-1}^T and lo_m = Z_m W_m^T cover all its
    uses; V_n = sum_{m>n} hi_m + sum_{m<n} lo_m and L_n = V_n^T Z_n / D + b.
    """
    total, channels, height, width = x.shape
    positions, out_channels = height * width, weight.shape[0]
    # (N, B, D, P): frame n of every clip together.
    z = reference.normalise(x.reshape(-1, num_frames, channels, positions), 2, eps).transpose(0, 1)
    slot_weights = weight.reshape(out_channels, num_frames - 1, positions).transpose(0, 1)
    none = slot_weights.new_zeros(1, out_channels, positions)
    # Frame m's [W_{m-1} | W_m], (N, P, 2K); zeros where the slot does not exist.
    pair_weights = torch.cat(
        [torch.cat([none, slot_weights]), torch.cat([slot_weights, none])], dim=1
    ).transpose(1, 2)
    pairs = torch.matmul(z, pair_weights[:, None])  # (N, B, D, 2K)
    hi, lo = pairs.split(out_channels, dim=3)
    stacked = torch.cat([hi, lo]).flatten(1)  # (2N, B*D*K)
    sums = _other_frame_sums(num_frames, x.dtype, x.device) @ stacked
    v = sums.reshape(num_frames, -1, channels, out_channels) / channels  # (N, B, D, K)
    logits = torch.matmul(v.transpose(2, 3), z)  # (N, B, K, P)
    if bias is not None:
        logits = logits + bias[:, None]
    logits = logits.transpose(0, 1).reshape(total, out_channels, height, width)
    return logits, v.reshape(-1, channels, out_channels)
