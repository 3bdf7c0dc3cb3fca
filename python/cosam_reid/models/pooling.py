"""Temporal pooling: frame maps (B, N, C, H, W) -> one clip feature (B, C)."""
import torch
from torch import nn

TEMPORAL_POOLINGS = ("avg", "attention")
#: Width of the attention network's spatial conv (Gao and Nevatia's TA uses 256).
ATTENTION_WIDTH = 256


class TemporalAverage(nn.Module):
    """TP_avg: spatial then temporal average."""

    def forward(self, maps):
        return maps.mean(dim=(1, 3, 4))


class TemporalAttention(nn.Module):
    """TA (Gao and Nevatia, 2018): a conv over the whole map gives each frame a
    descriptor, a temporal conv scores it, a softmax over the N frames weights
    the frames' average-pooled features."""

    def __init__(self, channels, map_size):
        super().__init__()
        self.spatial = nn.Conv2d(channels, ATTENTION_WIDTH, kernel_size=map_size)
        self.temporal = nn.Conv1d(ATTENTION_WIDTH, 1, kernel_size=3, padding=1)

    def forward(self, maps):
        clips, frames = maps.shape[:2]
        descriptors = self.spatial(maps.flatten(0, 1)).relu().view(clips, frames, ATTENTION_WIDTH)
        scores = self.temporal(descriptors.transpose(1, 2)).squeeze(1)  # (B, N)
        weights = torch.softmax(scores, dim=1)
        return (maps.mean(dim=(3, 4)) * weights.unsqueeze(2)).sum(dim=1)


def build_temporal_pooling(kind, channels, map_size):
    if kind == "avg":
        return TemporalAverage()
    if kind == "attention":
        return TemporalAttention(channels, map_size)
    raise ValueError(f"unknown temporal_pooling {kind!r}; choose one of {TEMPORAL_POOLINGS}")
