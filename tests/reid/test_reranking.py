"""k-reciprocal re-ranking (cosam_reid.evaluation.reranking): a case worked
out by hand, random distances against a naive implementation written here
from the paper's equations (loops over sets and dicts), lambda = 1, the
evaluation with re-ranking in both gallery modes, and the config checks."""
import math
from collections import defaultdict

import pytest
import torch

from cosam_reid.config import ConfigError, load_config
from cosam_reid.evaluation import Protocol, evaluate, metrics_from_distances, pairwise_distances
from cosam_reid.evaluation.reranking import k_reciprocal_rerank, reranked_distances


def naive_rerank(distances, num_probes, k1, k2, lambda_):
    """The published algorithm, one set at a time. distances: list of lists
    over probes + gallery (probes first). Returns num_probes rows of N."""
    count = len(distances)
    # d: every row divided by its maximum (as the authors' code).
    d = [[value / max(row) for value in row] for row in distances]
    # Items ordered by distance from p, ties by index (a stable sort).
    order = [sorted(range(count), key=lambda j, p=p: (d[p][j], j)) for p in range(count)]

    def neighbours(p, k):  # N(p, k): the k + 1 nearest, p itself included
        return set(order[p][:k + 1])

    def reciprocal(p, k):  # R(p, k) = {g in N(p, k) : p in N(g, k)}
        return {g for g in neighbours(p, k) if p in neighbours(g, k)}

    half = round(k1 / 2)
    encoding = []
    for p in range(count):
        own = reciprocal(p, k1)
        expanded = set(own)
        for q in own:
            candidate = reciprocal(q, half)
            if len(candidate & own) > 2 / 3 * len(candidate):
                expanded |= candidate
        weights = {g: math.exp(-d[p][g]) for g in expanded}
        total = sum(weights.values())
        encoding.append({g: w / total for g, w in weights.items()})
    if k2 > 1:  # local query expansion: the mean over the k2 nearest (p included)
        expanded_encoding = []
        for p in range(count):
            nearest = order[p][:k2]
            mean = defaultdict(float)
            for q in nearest:
                for g, w in encoding[q].items():
                    mean[g] += w / len(nearest)
            expanded_encoding.append(dict(mean))
        encoding = expanded_encoding
    result = []
    for p in range(num_probes):
        row = []
        for g in range(count):
            keys = set(encoding[p]) | set(encoding[g])
            low = sum(min(encoding[p].get(k, 0.0), encoding[g].get(k, 0.0)) for k in keys)
            high = sum(max(encoding[p].get(k, 0.0), encoding[g].get(k, 0.0)) for k in keys)
            row.append((1 - lambda_) * (1 - low / high) + lambda_ * d[p][g])
        result.append(row)
    return result


# Five items on a line: probes 0 (x=0) and 1 (x=22), gallery 2 (x=6),
# 3 (x=17), 4 (x=9); the distance is |x - y|.
LINE = [0.0, 22.0, 6.0, 17.0, 9.0]
LINE_DISTANCES = torch.tensor([[abs(a - b) for b in LINE] for a in LINE], dtype=torch.float64)


def test_a_case_worked_out_by_hand():
    # Rows (distances to 0..4), maxima, orders (nearest first):
    #   0: 0 22  6 17  9  max 22  order 0 2 4 3 1
    #   1: 22 0 16  5 13  max 22  order 1 3 4 2 0
    #   2: 6 16  0 11  3  max 16  order 2 4 0 3 1
    #   3: 17 5 11  0  8  max 17  order 3 1 4 2 0
    #   4: 9 13  3  8  0  max 13  order 4 2 3 0 1
    # k1 = 2: N(p, 2) = the first three: N(0) = {0,2,4}, N(1) = {1,3,4},
    # N(2) = {2,4,0}, N(3) = {3,1,4}, N(4) = {4,2,3}.
    # R(0) = {0, 2} (4 is not: 0 is not in N(4)), R(1) = {1, 3} (likewise),
    # R(2) = {0, 2, 4}, R(3) = {1, 3, 4}, R(4) = {2, 3, 4}.
    # h = round(2 / 2) = 1: N(p, 1) = the first two: {0,2}, {1,3}, {2,4},
    # {3,1}, {4,2}; R(0, 1) = {0} (0 is not in N(2, 1)), R(1, 1) = {1, 3},
    # R(2, 1) = {2, 4}, R(3, 1) = {1, 3}, R(4, 1) = {2, 4}.
    # Expansion (accept R(q, 1) when |R(q, 1) & R(p)| > 2/3 |R(q, 1)|):
    #   p = 0: q = 2 has R(2, 1) = {2, 4}, one of two in R(0): 1 > 4/3
    #          fails, so R*(0) = {0, 2}; without the rule it would be {0, 2, 4};
    #   p = 3: q = 4 ({2, 4}) fails likewise; p = 4: q = 3 ({1, 3}) fails;
    #   every accepted set is already inside R(p), so R*(p) = R(p) for all p.
    e = math.exp

    def normalised(weights):
        total = sum(weights.values())
        return {g: w / total for g, w in weights.items()}

    # V[p, g] = exp(-d(p, g) / max of row p) over R*(p), each row normalised.
    v = [normalised({0: 1.0, 2: e(-6 / 22)}),
         normalised({1: 1.0, 3: e(-5 / 22)}),
         normalised({0: e(-6 / 16), 2: 1.0, 4: e(-3 / 16)}),
         normalised({1: e(-5 / 17), 3: 1.0, 4: e(-8 / 17)}),
         normalised({2: e(-3 / 13), 3: e(-8 / 13), 4: 1.0})]
    # Every row of V sums to 1, so sum max = 2 - sum min.
    jaccard = lambda low: 1 - low / (2 - low)  # noqa: E731
    expected_jaccard = [
        # probe 0 ({0, 2}) against 0..4: itself; nothing shared with 1
        # ({1, 3}) and 3 ({1, 3, 4}); with 2 ({0, 2, 4}) columns 0 and 2; with
        # 4 ({2, 3, 4}) column 2.
        [0.0, 1.0, jaccard(min(v[0][0], v[2][0]) + min(v[0][2], v[2][2])), 1.0, jaccard(min(v[0][2], v[4][2]))],
        # probe 1 ({1, 3}): nothing shared with 0 and 2; with 3 columns 1 and
        # 3; with 4 column 3.
        [1.0, 0.0, 1.0, jaccard(min(v[1][1], v[3][1]) + min(v[1][3], v[3][3])), jaccard(min(v[1][3], v[4][3]))],
    ]
    original = [[value / max(row) for value in row] for row in LINE_DISTANCES[:2].tolist()]
    expected = torch.tensor([[0.7 * j + 0.3 * o for j, o in zip(js, os)]
                             for js, os in zip(expected_jaccard, original)], dtype=torch.float64)
    got = k_reciprocal_rerank(LINE_DISTANCES, 2, k1=2, k2=1, lambda_=0.3)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    # In numbers: v0 = {0: .5678, 2: .4322}, v2 = {0: .2731, 2: .3974, 4: .3295};
    # sum min = .2731 + .3974 = .6705, J(0, 2) = 1 - .6705 / 1.3295 = .4956.
    assert expected_jaccard[0][2] == pytest.approx(0.4956, abs=1e-4)

    # k2 = 2: V[p] becomes the mean of V over p and its nearest other item.
    # Probe 0 (nearest 2): (v0 + v2) / 2; gallery 4 (nearest 2): (v4 + v2) / 2.
    mean = lambda a, b: {k: (a.get(k, 0) + b.get(k, 0)) / 2 for k in set(a) | set(b)}  # noqa: E731
    q0, q4 = mean(v[0], v[2]), mean(v[4], v[2])
    low = sum(min(q0.get(k, 0), q4.get(k, 0)) for k in (0, 2, 3, 4))
    got = k_reciprocal_rerank(LINE_DISTANCES, 2, k1=2, k2=2, lambda_=0.0)
    assert got[0, 4].item() == pytest.approx(jaccard(low), abs=1e-12)


def random_distances(count, generator, kind):
    if kind == "features":  # squared Euclidean distances of clustered points
        centres = torch.randn(count // 4 + 1, 8, generator=generator, dtype=torch.float64)
        points = centres[torch.randint(0, len(centres), (count,), generator=generator)]
        points = points + 0.5 * torch.randn(count, 8, generator=generator, dtype=torch.float64)
        distances = torch.cdist(points, points).square()
    else:  # any non-negative matrix, zero diagonal, not symmetric
        distances = torch.rand(count, count, generator=generator, dtype=torch.float64)
    return distances.fill_diagonal_(0.0)


@pytest.mark.parametrize("seed, count, num_probes, k1, k2, lambda_, kind", [
    (0, 30, 8, 20, 6, 0.3, "features"),
    (1, 40, 10, 6, 3, 0.3, "features"),
    (2, 25, 5, 4, 1, 0.5, "matrix"),
    (3, 25, 25, 3, 2, 0.0, "features"),
    (4, 12, 4, 1, 1, 0.2, "matrix"),
    (5, 20, 6, 30, 30, 0.3, "features"),   # k1 + 1 and k2 beyond N: the neighbourhoods are everything
    (6, 60, 15, 7, 4, 0.1, "features"),
])
def test_random_distances_agree_with_the_naive_implementation(seed, count, num_probes, k1, k2, lambda_, kind):
    distances = random_distances(count, torch.Generator().manual_seed(seed), kind)
    expected = torch.tensor(naive_rerank(distances.tolist(), num_probes, k1, k2, lambda_), dtype=torch.float64)
    got = k_reciprocal_rerank(distances, num_probes, k1=k1, k2=k2, lambda_=lambda_)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_lambda_one_gives_the_original_distance():
    distances = random_distances(30, torch.Generator().manual_seed(7), "features")
    got = k_reciprocal_rerank(distances, 10, k1=5, k2=3, lambda_=1.0)
    # The original distance, each row divided by its maximum over probes + gallery.
    torch.testing.assert_close(got, distances[:10] / distances[:10].max(1, keepdim=True).values,
                               rtol=0, atol=1e-12)


def labelled_features(seed=0, num_queries=24, num_gallery=60, ids=8):
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(ids, 16, generator=generator)
    query_pids = torch.randint(0, ids, (num_queries,), generator=generator)
    gallery_pids = torch.randint(0, ids, (num_gallery,), generator=generator)
    queries = centres[query_pids] + 0.9 * torch.randn(num_queries, 16, generator=generator)
    gallery = centres[gallery_pids] + 0.9 * torch.randn(num_gallery, 16, generator=generator)
    return dict(query_features=queries, gallery_features=gallery, query_pids=query_pids, gallery_pids=gallery_pids,
                query_camids=torch.randint(0, 3, (num_queries,), generator=generator),
                gallery_camids=torch.randint(0, 3, (num_gallery,), generator=generator))


@pytest.mark.parametrize("gallery_mode", ["torchreid", "official"])
@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_evaluation_ranks_by_the_reranked_distances(gallery_mode, distance):
    data = labelled_features()
    plain = Protocol(gallery_mode=gallery_mode, distance=distance)
    reranked = Protocol(gallery_mode=gallery_mode, distance=distance, rerank=True, rerank_k1=6, rerank_k2=3,
                        rerank_lambda=0.3)
    before = evaluate(**data, protocol=plain)
    after = evaluate(**data, protocol=reranked, block_size=7)
    assert (after.mAP, after.mINP, after.cmc) != (before.mAP, before.mINP, before.cmc)
    assert "re-ranking: k-reciprocal (Zhong et al. 2017), k1=6, k2=3, lambda=0.3" in str(after)

    # The same metrics from re-ranked distances built here: the union is the
    # queries then the gallery, each once; the official gallery is the
    # gallery followed by the queries.
    queries, gallery = data["query_features"], data["gallery_features"]
    union = torch.cat([queries, gallery])
    union_distances = pairwise_distances(union, union, distance).fill_diagonal_(0.0)
    rows = k_reciprocal_rerank(union_distances, len(queries), k1=6, k2=3, lambda_=0.3)
    q = len(queries)
    columns = rows[:, q:]
    gallery_pids, gallery_camids = data["gallery_pids"], data["gallery_camids"]
    if gallery_mode == "official":
        columns = torch.cat([rows[:, q:], rows[:, :q]], dim=1)
        gallery_pids = torch.cat([gallery_pids, data["query_pids"]])
        gallery_camids = torch.cat([gallery_camids, data["query_camids"]])
    torch.testing.assert_close(reranked_distances(queries, gallery, distance, gallery_mode, 6, 3, 0.3), columns)
    expected = metrics_from_distances(columns, data["query_pids"], gallery_pids, data["query_camids"],
                                      gallery_camids, protocol=plain)
    assert (after.mAP, after.mINP, after.cmc, after.num_skipped) == pytest.approx(
        (expected.mAP, expected.mINP, expected.cmc, expected.num_skipped))

    # lambda = 1: the ranking of the original distances, so the plain metrics.
    unchanged = evaluate(**data, protocol=Protocol(gallery_mode=gallery_mode, distance=distance, rerank=True,
                                                   rerank_lambda=1.0))
    assert (unchanged.mAP, unchanged.mINP, unchanged.cmc) == pytest.approx((before.mAP, before.mINP, before.cmc))


def test_precomputed_distances_cannot_be_reranked():
    with pytest.raises(ValueError, match="re-ranking needs the query-query and gallery-gallery distances"):
        metrics_from_distances(torch.rand(3, 4), [1, 2, 3], [1, 2, 3, 4], [0, 0, 0], [1, 1, 1, 1],
                               protocol=Protocol(rerank=True))


def test_the_config_keys_and_their_defaults():
    evaluation = load_config().evaluation
    assert (evaluation.rerank, evaluation.rerank_k1, evaluation.rerank_k2, evaluation.rerank_lambda) == (
        False, 20, 6, 0.3)
    protocol = Protocol.from_options(load_config(overrides=["evaluation.rerank=true", "evaluation.rerank_k1=10",
                                                            "evaluation.rerank_k2=1", "evaluation.rerank_lambda=0"])
                                     .evaluation)
    assert (protocol.rerank, protocol.rerank_k1, protocol.rerank_k2, protocol.rerank_lambda) == (True, 10, 1, 0.0)


@pytest.mark.parametrize("override, message", [
    ("evaluation.rerank_k1=0", r"evaluation.rerank_k1 must be an integer >= 1, got 0"),
    ("evaluation.rerank_k2=-1", r"evaluation.rerank_k2 must be an integer >= 1, got -1"),
    ("evaluation.rerank_lambda=1.5", r"evaluation.rerank_lambda must be a number in \[0, 1\], got 1.5"),
    ("evaluation.rerank_lambda=-0.1", r"evaluation.rerank_lambda must be a number in \[0, 1\], got -0.1"),
])
def test_bad_values_are_refused(override, message):
    evaluation = load_config(overrides=[override]).evaluation
    with pytest.raises(ValueError, match=message):
        Protocol.from_options(evaluation)


@pytest.mark.parametrize("override, message", [
    ("evaluation.rerank=maybe", r"'evaluation.rerank' must be a bool, got 'maybe'"),
    ("evaluation.rerank_k1=2.5", r"'evaluation.rerank_k1' must be a int, got 2.5"),
    ("evaluation.rerank_lambda=high", r"'evaluation.rerank_lambda' must be a float, got 'high'"),
    ("evaluation.rerank_k3=2", r"unknown config key 'evaluation.rerank_k3'; did you mean 'evaluation.rerank_k"),
])
def test_bad_types_are_refused(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=[override])


def test_the_function_checks_its_arguments():
    distances = random_distances(6, torch.Generator().manual_seed(0), "matrix")
    with pytest.raises(ValueError, match="k1 must be an integer >= 1"):
        k_reciprocal_rerank(distances, 2, k1=0)
    with pytest.raises(ValueError, match=r"lambda must be a number in \[0, 1\]"):
        k_reciprocal_rerank(distances, 2, lambda_=2)
    with pytest.raises(ValueError, match=r"the \(N, N\) distances"):
        k_reciprocal_rerank(distances[:3], 2)
