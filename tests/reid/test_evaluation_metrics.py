"""Ranking metrics against rankings worked out by hand, and against a plain
per-query implementation on random problems."""
import math

import numpy as np
import pytest
import torch

from cosam_reid.evaluation import Protocol, average_results, evaluate, metrics_from_distances, pairwise_distances


def one_query(distances, gallery_pids, gallery_camids, pid=1, camid=0, **options):
    return metrics_from_distances([distances], [pid], gallery_pids, [camid], gallery_camids, **options)


# Query pid 1 camera 0. Sorted: pid 2, pid 1 (cam 1), pid 1 (cam 0: excluded),
# pid 3, pid 1 (cam 2). Kept positions: 1 neg, 2 match, 3 neg, 4 match.
BASIC = dict(distances=[0.1, 0.2, 0.3, 0.4, 0.5], gallery_pids=[2, 1, 1, 3, 1], gallery_camids=[1, 1, 0, 1, 2])


def test_non_interpolated_ap_cmc_and_inp_by_hand():
    result = one_query(**BASIC)
    assert result.mAP == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert result.cmc == {1: 0.0, 5: 1.0, 10: 1.0, 20: 1.0}
    assert result.mINP == pytest.approx(2 / 4)
    assert (result.num_queries, result.num_skipped) == (1, 0)


def test_trapezoid_ap_by_hand():
    # Match at 2: (precision before 0/1 + precision 1/2) / 2; at 4: (1/3 + 2/4) / 2.
    result = one_query(**BASIC, average_precision="trapezoid")
    assert result.mAP == pytest.approx(((0 + 1 / 2) / 2 + (1 / 3 + 2 / 4) / 2) / 2)


def test_trapezoid_counts_precision_one_before_a_first_place_match():
    result = one_query([0.1, 0.2, 0.3], [1, 2, 1], [1, 1, 1], average_precision="trapezoid")
    assert result.mAP == pytest.approx(((1 + 1) / 2 + (1 / 2 + 2 / 3) / 2) / 2)


def test_ties_keep_gallery_order():
    first = one_query([0.2, 0.2], [1, 2], [1, 1])
    second = one_query([0.2, 0.2], [2, 1], [1, 1])
    assert first.cmc[1] == 1.0 and first.mAP == 1.0
    assert second.cmc[1] == 0.0 and second.mAP == pytest.approx(1 / 2)


def test_junk_takes_no_position_and_distractors_are_negatives():
    # pid -1 nearest: ignored; pid 0 next: a negative that pushes the match to 2.
    result = one_query([0.0, 0.1, 0.2], [-1, 0, 1], [1, 1, 1])
    assert result.mAP == pytest.approx(1 / 2)
    assert result.cmc[1] == 0.0 and result.cmc[5] == 1.0
    assert result.mINP == pytest.approx(1 / 2)


def test_same_camera_match_is_excluded_not_counted_as_negative():
    result = one_query([0.1, 0.2], [1, 1], [0, 3])
    assert result.mAP == 1.0 and result.cmc[1] == 1.0


def test_queries_without_a_true_match_are_skipped_and_counted():
    result = metrics_from_distances(
        [[0.1, 0.2], [0.1, 0.2], [0.3, 0.1]], [1, 7, 1], [1, 2], [0, 0, 1], [1, 1])
    # Query 2 (pid 7) has no match; query 3 (pid 1, cam 1) only a same-camera one.
    assert (result.num_queries, result.num_skipped, result.num_evaluated) == (3, 2, 1)
    assert result.mAP == 1.0
    assert "1 of 3" in str(result) and "2 skipped" in str(result)


def test_no_evaluable_query_is_an_error():
    with pytest.raises(ValueError, match="no query has a true match"):
        one_query([0.1], [5], [1])


# Four queries and three gallery tracklets on a line (1-d features), so the
# squared Euclidean distances are exact squares. q1 sits at equal distance
# from q0 (its match) and q2 in the official gallery: the tie is decided by
# gallery order, q0 first.
GALLERY = dict(features=[[1.0], [3.0], [12.0]], pids=[1, 3, 0], camids=[1, 1, 0])
QUERIES = dict(features=[[0.0], [10.0], [20.0], [25.0]], pids=[1, 1, 2, 2], camids=[0, 1, 0, 1])


def evaluate_line(**protocol):
    return evaluate(QUERIES["features"], GALLERY["features"], QUERIES["pids"], GALLERY["pids"],
                    QUERIES["camids"], GALLERY["camids"], protocol=Protocol(**protocol))


def test_torchreid_gallery_mode_by_hand():
    result = evaluate_line(gallery_mode="torchreid")
    # Only q0 has a match (g0, nearest); q1's only pid-1 entry is same-camera.
    assert (result.num_queries, result.num_skipped) == (4, 3)
    assert result.mAP == 1.0 and result.cmc[1] == 1.0 and result.mINP == 1.0


def test_official_gallery_mode_by_hand():
    result = evaluate_line(gallery_mode="official")
    # q0: matches g0 at 1 and q1 at 3 (g1 between). q1: g2, g1, then q0 at 3
    # (tied with q2, earlier in the gallery). q2 and q3 find each other first.
    assert result.num_skipped == 0
    assert result.mAP == pytest.approx(((1 + 2 / 3) / 2 + 1 / 3 + 1 + 1) / 4)
    assert result.cmc == {1: 0.75, 5: 1.0, 10: 1.0, 20: 1.0}
    assert result.mINP == pytest.approx((2 / 3 + 1 / 3 + 1 + 1) / 4)
    trapezoid = evaluate_line(gallery_mode="official", average_precision="trapezoid")
    q0 = (1 + (1 / 2 + 2 / 3) / 2) / 2
    q1 = (0 + 1 / 3) / 2
    assert trapezoid.mAP == pytest.approx((q0 + q1 + 1 + 1) / 4)


def test_cosine_distance_ranks_by_angle_not_length():
    queries = [[1.0, 0.0]]
    gallery = [[10.0, 1.0], [1.0, 1.0]]
    distances = pairwise_distances(queries, gallery, "cosine")
    assert distances[0].tolist() == pytest.approx([1 - 10 / math.sqrt(101), 1 - 1 / math.sqrt(2)], abs=1e-6)
    euclidean = evaluate(queries, gallery, [1], [2, 1], [0], [1, 1], protocol=Protocol(distance="euclidean"))
    cosine = evaluate(queries, gallery, [1], [2, 1], [0], [1, 1], protocol=Protocol(distance="cosine"))
    assert euclidean.cmc[1] == 1.0  # |(1,1)-(1,0)|^2 = 1 < 82
    assert cosine.cmc[1] == 0.0


def test_squared_euclidean_distances():
    distances = pairwise_distances([[0.0, 0.0], [1.0, 2.0]], [[3.0, 4.0]])
    assert distances[:, 0].tolist() == pytest.approx([25.0, 8.0])


def per_query_reference(distances, query_pids, gallery_pids, query_camids, gallery_camids, ranks):
    """A plain loop over queries, written from the definitions."""
    aps, inps, cmc, skipped = [], [], np.zeros(len(ranks)), 0
    for q in range(len(distances)):
        order = sorted(range(len(gallery_pids)), key=lambda g: distances[q][g])  # sorted() is stable
        kept = [g for g in order
                if gallery_pids[g] != -1 and not (gallery_pids[g] == query_pids[q] and gallery_camids[g] == query_camids[q])]
        positions = [i + 1 for i, g in enumerate(kept) if gallery_pids[g] == query_pids[q]]
        if not positions:
            skipped += 1
            continue
        aps.append(np.mean([(k + 1) / p for k, p in enumerate(positions)]))
        inps.append(len(positions) / positions[-1])
        cmc += [positions[0] <= r for r in ranks]
    return np.mean(aps), cmc / len(aps), np.mean(inps), skipped


@pytest.mark.parametrize("block_size", [1, 7, 1000])
def test_random_problem_matches_the_per_query_reference(block_size):
    rng = np.random.default_rng(block_size)
    # Few distinct distance values, so ties are everywhere.
    distances = rng.integers(0, 6, size=(40, 60)).astype(np.float32)
    query_pids, query_camids = rng.integers(1, 8, 40), rng.integers(0, 3, 40)
    gallery_pids, gallery_camids = rng.integers(-1, 8, 60), rng.integers(0, 3, 60)
    ranks = (1, 2, 5, 10)
    expected_map, expected_cmc, expected_inp, expected_skipped = per_query_reference(
        distances, query_pids, gallery_pids, query_camids, gallery_camids, ranks)
    result = metrics_from_distances(distances, query_pids, gallery_pids, query_camids, gallery_camids,
                                    ranks=ranks, block_size=block_size)
    assert result.mAP == pytest.approx(expected_map)
    assert list(result.cmc.values()) == pytest.approx(list(expected_cmc))
    assert result.mINP == pytest.approx(expected_inp)
    assert result.num_skipped == expected_skipped


def test_feature_evaluation_blocks_do_not_change_the_result():
    generator = torch.Generator().manual_seed(0)
    queries, gallery = torch.randn(50, 16, generator=generator), torch.randn(80, 16, generator=generator)
    labels = dict(query_pids=torch.randint(0, 10, (50,), generator=generator),
                  gallery_pids=torch.randint(0, 10, (80,), generator=generator),
                  query_camids=torch.randint(0, 3, (50,), generator=generator),
                  gallery_camids=torch.randint(0, 3, (80,), generator=generator))
    for mode in ("torchreid", "official"):
        whole = evaluate(queries, gallery, **labels, protocol=Protocol(gallery_mode=mode), block_size=1000)
        blocked = evaluate(queries, gallery, **labels, protocol=Protocol(gallery_mode=mode), block_size=3)
        assert whole.mAP == pytest.approx(blocked.mAP) and whole.cmc == blocked.cmc


def test_result_prints_metrics_with_the_protocol():
    result = evaluate_line(gallery_mode="official", distance="euclidean", dataset="toy")
    text = str(result)
    assert "mAP" in text and "R1" in text and "R20" in text and "mINP" in text
    assert "official" in text and "squared Euclidean" in text and "dataset: toy" in text


def test_average_over_splits():
    first = one_query(**BASIC)
    second = one_query([0.1], [1], [1])
    mean = average_results([first, second])
    assert mean.mAP == pytest.approx((first.mAP + 1.0) / 2)
    assert mean.cmc[1] == pytest.approx(0.5)
    assert mean.num_splits == 2 and "mean over 2 splits" in str(mean)
    with pytest.raises(ValueError, match="different protocols"):
        average_results([first, one_query([0.1], [1], [1], average_precision="trapezoid")])


def test_unknown_protocol_choices_are_rejected():
    with pytest.raises(ValueError, match="gallery mode"):
        Protocol(gallery_mode="all")
    with pytest.raises(ValueError, match="distance"):
        Protocol(distance="manhattan")
