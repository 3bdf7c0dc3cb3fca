"""Training losses: label-smoothed cross-entropy on the logits and batch-hard
triplet loss on the clip features. Their defaults are the config's loss
section (configs/default.yaml)."""
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from .config import packaged_default


class LabelSmoothingCrossEntropy(nn.Module):
    """Cross-entropy against (1 - epsilon) * one_hot + epsilon / num_classes
    (Szegedy et al.), averaged over the batch."""

    def __init__(self, epsilon=packaged_default("loss.label_smoothing")):
        super().__init__()
        if not 0 <= epsilon < 1:
            raise ValueError(f"label smoothing epsilon must be in [0, 1), got {epsilon}")
        self.epsilon = epsilon

    def forward(self, logits, targets):
        log_probs = F.log_softmax(logits.float(), dim=1)
        smoothed = torch.full_like(log_probs, self.epsilon / logits.shape[1])
        smoothed.scatter_add_(1, targets[:, None], torch.full_like(log_probs[:, :1], 1 - self.epsilon))
        return -(smoothed * log_probs).sum(dim=1).mean()


class BatchHardTripletLoss(nn.Module):
    """Hermans et al.: for each anchor the farthest positive and the nearest
    negative in the batch (Euclidean), hinge max(0, d_ap - d_an + margin),
    averaged over the anchors."""

    def __init__(self, margin=packaged_default("loss.triplet_margin")):
        super().__init__()
        self.margin = margin

    def forward(self, features, targets):
        distances = batch_euclidean_distances(features.float())
        same = targets[:, None] == targets[None, :]
        if not (same.sum(dim=1) > 1).all() or same.all():
            raise ValueError(
                "batch-hard triplet loss needs every identity of the batch at least twice and at least two "
                f"identities; got labels {targets.tolist()} (use the P x K identity sampler)"
            )
        hardest_positive = distances.masked_fill(~same, float("-inf")).amax(dim=1)
        hardest_negative = distances.masked_fill(same, float("inf")).amin(dim=1)
        return F.relu(hardest_positive - hardest_negative + self.margin).mean()


def batch_euclidean_distances(features):
    """Euclidean distances between the rows; clamped before the root so that the
    gradient of a zero distance (an anchor and itself) stays finite."""
    squared = features.pow(2).sum(dim=1)
    gram = features @ features.t()
    return (squared[:, None] + squared[None, :] - 2 * gram).clamp(min=1e-12).sqrt()


class LossTerms(NamedTuple):
    total: torch.Tensor
    cross_entropy: torch.Tensor
    triplet: torch.Tensor


class ReIDLoss(nn.Module):
    """ce_weight * label-smoothed CE(logits) + triplet_weight * batch-hard triplet(features)."""

    def __init__(self, label_smoothing=packaged_default("loss.label_smoothing"),
                 triplet_margin=packaged_default("loss.triplet_margin"), ce_weight=packaged_default("loss.ce_weight"),
                 triplet_weight=packaged_default("loss.triplet_weight")):
        super().__init__()
        self.cross_entropy = LabelSmoothingCrossEntropy(label_smoothing)
        self.triplet = BatchHardTripletLoss(triplet_margin)
        self.ce_weight = ce_weight
        self.triplet_weight = triplet_weight

    def forward(self, output, targets):
        cross_entropy = self.cross_entropy(output.logits, targets)
        if self.triplet_weight:
            triplet = self.triplet(output.features, targets)
        else:
            triplet = torch.zeros((), device=cross_entropy.device)
        return LossTerms(self.ce_weight * cross_entropy + self.triplet_weight * triplet, cross_entropy, triplet)
