import math

import pytest
import torch

from cosam_reid.losses import BatchHardTripletLoss, LabelSmoothingCrossEntropy, ReIDLoss
from cosam_reid.models import ReIDOutput


def test_label_smoothing_cross_entropy_by_hand():
    logits = torch.tensor([[0.0, math.log(2.0), math.log(5.0)], [math.log(3.0), 0.0, 0.0]])
    targets = torch.tensor([2, 0])
    # Row 0: p = (1, 2, 5) / 8; q = (0.1/3, 0.1/3, 0.9 + 0.1/3).
    row0 = -(0.1 / 3 * (math.log(1 / 8) + math.log(2 / 8)) + (0.9 + 0.1 / 3) * math.log(5 / 8))
    # Row 1: p = (3, 1, 1) / 5.
    row1 = -((0.9 + 0.1 / 3) * math.log(3 / 5) + 2 * 0.1 / 3 * math.log(1 / 5))
    loss = LabelSmoothingCrossEntropy(0.1)(logits, targets)
    assert loss.item() == pytest.approx((row0 + row1) / 2, rel=1e-6)


def test_label_smoothing_zero_is_cross_entropy():
    logits, targets = torch.randn(5, 4), torch.tensor([0, 1, 2, 3, 0])
    expected = torch.nn.functional.cross_entropy(logits, targets)
    torch.testing.assert_close(LabelSmoothingCrossEntropy(0.0)(logits, targets), expected)


def test_batch_hard_triplet_by_hand():
    # Points on a line; ids 0, 0, 1, 1.
    features = torch.tensor([[0.0], [1.0], [1.5], [4.0]])
    targets = torch.tensor([0, 0, 1, 1])
    # anchor 0: d_ap = 1, d_an = min(1.5, 4) = 1.5 -> max(0, 1 - 1.5 + 0.3) = 0
    # anchor 1: d_ap = 1, d_an = min(0.5, 3) = 0.5 -> 0.8
    # anchor 2: d_ap = 2.5, d_an = min(1.5, 0.5) = 0.5 -> 2.3
    # anchor 3: d_ap = 2.5, d_an = min(4, 3) = 3 -> 0
    loss = BatchHardTripletLoss(0.3)(features, targets)
    assert loss.item() == pytest.approx((0 + 0.8 + 2.3 + 0) / 4, rel=1e-6)


def test_batch_hard_triplet_two_dimensional_and_gradient():
    features = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0], [0.0, 2.0]], requires_grad=True)
    targets = torch.tensor([0, 0, 1, 1])
    # anchor 0: d_ap = 5, d_an = 1 -> 4.3; anchor 1: d_ap = 5, d_an = min(sqrt(9+9), sqrt(9+4)) = sqrt(13)
    # anchor 2: d_ap = 1, d_an = min(1, sqrt(9+9)) = 1 -> 0.3; anchor 3: d_ap = 1, d_an = min(2, sqrt(13)) = 2 -> 0
    expected = (4.3 + (5 - math.sqrt(13) + 0.3) + 0.3 + 0) / 4
    loss = BatchHardTripletLoss(0.3)(features, targets)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    assert torch.isfinite(features.grad).all()


def test_triplet_without_positives_is_an_error():
    with pytest.raises(ValueError, match="at least twice"):
        BatchHardTripletLoss()(torch.randn(3, 2), torch.tensor([0, 0, 1]))


def test_reid_loss_weights_the_terms():
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0], [0.0, 0.0], [math.log(3.0), 0.0]])
    features = torch.tensor([[0.0], [1.0], [1.5], [4.0]])
    targets = torch.tensor([0, 0, 1, 1])
    # p(target) = 1/4, 1/2, 1/2, 1/4; q(target) = 0.95, q(other) = 0.05.
    ce = -(
        2 * (0.95 * math.log(1 / 4) + 0.05 * math.log(3 / 4)) + 2 * (0.95 + 0.05) * math.log(1 / 2)
    ) / 4
    terms = ReIDLoss(ce_weight=2.0, triplet_weight=0.5)(ReIDOutput(features, logits), targets)
    assert terms.cross_entropy.item() == pytest.approx(ce, rel=1e-6)
    assert terms.triplet.item() == pytest.approx(0.775, rel=1e-6)
    assert terms.total.item() == pytest.approx(2 * ce + 0.5 * 0.775, rel=1e-6)
