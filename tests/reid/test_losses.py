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


# The margin and the smoothing must be the ones given: the tests above use the
# defaults (margin 0.3, epsilon 0.1), which a loss ignoring its settings would
# also produce.

# Points on a line, ids 0, 0, 1, 1: (hardest positive, hardest negative) per anchor.
LINE = torch.tensor([[0.0], [1.0], [1.5], [4.0]])
LINE_TARGETS = torch.tensor([0, 0, 1, 1])
LINE_PAIRS = [(1.0, 1.5), (1.0, 0.5), (2.5, 0.5), (2.5, 3.0)]


def hinge_by_hand(margin):
    return sum(max(0.0, positive - negative + margin) for positive, negative in LINE_PAIRS) / len(LINE_PAIRS)


@pytest.mark.parametrize("margin", [0.0, 0.3, 1.0, 2.5])
def test_batch_hard_triplet_uses_its_margin(margin):
    loss = BatchHardTripletLoss(margin)(LINE, LINE_TARGETS)
    assert loss.item() == pytest.approx(hinge_by_hand(margin), rel=1e-6)


def smoothed_cross_entropy_by_hand(logits, targets, epsilon):
    total = 0.0
    for row, target in zip(logits.tolist(), targets.tolist()):
        log_normaliser = math.log(sum(math.exp(value) for value in row))
        for index, value in enumerate(row):
            weight = epsilon / len(row) + (1 - epsilon) * (index == target)
            total -= weight * (value - log_normaliser)
    return total / len(logits)


@pytest.mark.parametrize("epsilon", [0.0, 0.1, 0.5, 0.9])
def test_label_smoothing_uses_its_epsilon(epsilon):
    logits = torch.tensor([[0.0, math.log(2.0), math.log(5.0)], [math.log(3.0), 0.0, 0.0], [1.0, -2.0, 0.5]])
    targets = torch.tensor([2, 0, 1])
    loss = LabelSmoothingCrossEntropy(epsilon)(logits, targets)
    assert loss.item() == pytest.approx(smoothed_cross_entropy_by_hand(logits, targets, epsilon), rel=1e-6)


def test_reid_loss_passes_its_margin_and_smoothing_on():
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0], [0.0, 0.0], [math.log(3.0), 0.0]])
    terms = ReIDLoss(label_smoothing=0.6, triplet_margin=1.0)(ReIDOutput(LINE, logits), LINE_TARGETS)
    assert terms.triplet.item() == pytest.approx(hinge_by_hand(1.0), rel=1e-6)
    assert terms.cross_entropy.item() == pytest.approx(
        smoothed_cross_entropy_by_hand(logits, LINE_TARGETS, 0.6), rel=1e-6)
    defaults = ReIDLoss()(ReIDOutput(LINE, logits), LINE_TARGETS)
    assert terms.triplet.item() != pytest.approx(defaults.triplet.item())
    assert terms.cross_entropy.item() != pytest.approx(defaults.cross_entropy.item())
