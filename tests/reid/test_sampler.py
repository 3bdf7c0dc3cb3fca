from collections import Counter

import pytest

from cosam_reid.data.sampler import PKBatchSampler


def pids_with_counts(counts):
    """Tracklet pids: identity i has counts[i] tracklets, interleaved."""
    pids = []
    for round_ in range(max(counts)):
        pids.extend(pid for pid, count in enumerate(counts) if count > round_)
    return pids


def test_every_batch_is_p_identities_times_k():
    pids = pids_with_counts([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    sampler = PKBatchSampler(pids, identities_per_batch=3, instances_per_identity=4, seed=5)
    batches = list(sampler)
    assert len(batches) == len(sampler) > 0
    for batch in batches:
        assert len(batch) == 12
        batch_pids = [pids[request.index] for request in batch]
        counts = Counter(batch_pids)
        assert len(counts) == 3 and set(counts.values()) == {4}
        # Each identity's K clips are consecutive.
        assert all(len(set(batch_pids[start:start + 4])) == 1 for start in range(0, 12, 4))


def test_an_epoch_covers_every_tracklet_once_when_counts_divide():
    pids = pids_with_counts([4] * 8 + [8] * 4)
    sampler = PKBatchSampler(pids, identities_per_batch=4, instances_per_identity=4, seed=0)
    # 16 groups of K over 12 identities: at most 3 groups can be left over
    # (spread over fewer than P identities), and no tracklet is drawn twice.
    drawn = Counter(request.index for batch in sampler for request in batch)
    assert max(drawn.values()) == 1
    assert len(drawn) == 4 * len(sampler) * 4
    assert len(sampler) >= 3


def test_every_identity_appears_in_an_epoch_when_p_divides_the_identities():
    pids = pids_with_counts([4] * 12)
    sampler = PKBatchSampler(pids, identities_per_batch=4, instances_per_identity=4, seed=3)
    drawn = [request.index for batch in sampler for request in batch]
    assert sorted(drawn) == list(range(len(pids)))


def test_short_identities_are_drawn_with_replacement():
    pids = pids_with_counts([1, 2, 5, 5])
    sampler = PKBatchSampler(pids, identities_per_batch=4, instances_per_identity=4, seed=1)
    (batch,) = list(sampler)
    counts = Counter(pids[request.index] for request in batch)
    assert counts == {0: 4, 1: 4, 2: 4, 3: 4}


def test_plan_depends_on_seed_and_epoch_only():
    pids = pids_with_counts([3] * 10)
    first = PKBatchSampler(pids, 2, 3, seed=7)
    second = PKBatchSampler(pids, 2, 3, seed=7)
    assert list(first) == list(second)
    first.set_epoch(1)
    assert list(first) != list(second)
    second.set_epoch(1)
    assert list(first) == list(second)
    assert list(PKBatchSampler(pids, 2, 3, seed=8)) != list(second)
    seeds = [request.seed for batch in first for request in batch]
    assert len(set(seeds)) == len(seeds)


def test_ranks_split_the_global_batch():
    pids = pids_with_counts([2, 3, 4, 2, 2, 6, 2, 2, 3, 2])
    single = PKBatchSampler(pids, identities_per_batch=4, instances_per_identity=2, seed=2)
    ranks = [PKBatchSampler(pids, 2, 2, seed=2, rank=rank, world_size=2) for rank in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == len(single)
    for whole, part0, part1 in zip(single, *ranks):
        assert part0 + part1 == whole
        assert not {pids[r.index] for r in part0} & {pids[r.index] for r in part1}


def test_too_few_identities_is_an_error():
    with pytest.raises(ValueError, match="3 identities cannot fill batches of P=2 identities on 2 rank"):
        PKBatchSampler([0, 1, 2], identities_per_batch=2, instances_per_identity=1, world_size=2)
