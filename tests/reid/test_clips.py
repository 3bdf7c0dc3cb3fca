import os
import random
import warnings

import pytest
import torch

from cosam_reid.data.clips import ClipDataset, sample_frame_indices
from cosam_reid.data.sampler import ClipRequest
from cosam_reid.data.tracklets import load_frame
from cosam_reid.data.transforms import EvalTransform, TrainTransform
from cosam_reid.data.workers import loader_workers
from cosam_reid.evaluation import extract_features
from reid_testing import TINY_INPUT_SIZE, tiny_tracklets


def test_sequential_clips_are_consecutive_and_start_anywhere():
    starts = set()
    for seed in range(50):
        indices = sample_frame_indices(10, 4, "sequential", random.Random(seed))
        assert indices == list(range(indices[0], indices[0] + 4))
        starts.add(indices[0])
    assert starts == set(range(7))


def test_random_clips_are_ordered_distinct_and_not_only_consecutive():
    consecutive = 0
    for seed in range(50):
        indices = sample_frame_indices(10, 4, "random", random.Random(seed))
        assert indices == sorted(set(indices)) and len(indices) == 4 and 0 <= indices[0] and indices[-1] < 10
        consecutive += indices == list(range(indices[0], indices[0] + 4))
    assert consecutive < 10


@pytest.mark.parametrize("sampling", ["sequential", "random"])
def test_short_tracklets_cycle_their_frames(sampling):
    assert sample_frame_indices(3, 8, sampling, random.Random(0)) == [0, 1, 2, 0, 1, 2, 0, 1]
    assert sample_frame_indices(4, 4, sampling, random.Random(0)) == [0, 1, 2, 3]


def test_unknown_sampling_is_an_error():
    with pytest.raises(ValueError, match="unknown clip sampling 'dense'"):
        sample_frame_indices(5, 4, "dense", random.Random(0))
    with pytest.raises(ValueError, match="unknown clip sampling 'dense'"):
        ClipDataset([], 4, EvalTransform(TINY_INPUT_SIZE), sampling="dense")


def test_dataset_items_depend_on_the_request_only():
    tracklets = tiny_tracklets(num_identities=2, frames=(2, 7))
    dataset = ClipDataset(tracklets, 4, TrainTransform(TINY_INPUT_SIZE))
    assert dataset.pids == [0, 0, 1, 1]
    clip, pid, camid = dataset[ClipRequest(2, 11)]
    assert clip.shape == (4, 3, *TINY_INPUT_SIZE)
    assert (pid, camid) == (tracklets[2].pid, tracklets[2].camid)
    again, _, _ = dataset[ClipRequest(2, 11)]
    assert torch.equal(clip, again)
    assert any(not torch.equal(clip, dataset[ClipRequest(2, seed)][0]) for seed in range(12, 16))


def test_dataset_frames_come_from_the_tracklet_in_order():
    tracklets = tiny_tracklets(num_identities=1, tracklets_per_identity=1, frames=(6, 6))
    dataset = ClipDataset(tracklets, 3, EvalTransform(TINY_INPUT_SIZE))
    clip, _, _ = dataset[ClipRequest(0, 4)]
    start = sample_frame_indices(6, 3, "sequential", random.Random(4))[0]
    transform = EvalTransform(TINY_INPUT_SIZE)
    for offset in range(3):
        assert torch.equal(clip[offset], transform(load_frame(tracklets[0].frames[start + offset])))


def test_loader_workers_are_capped_at_the_cores_this_process_may_use(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert [loader_workers(requested) for requested in (0, 1, 2, 4)] == [0, 1, 2, 2]
    # Without CPU affinity (macOS, Windows): the machine's cores.
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert [loader_workers(requested) for requested in (2, 4)] == [2, 3]


def test_feature_loaders_take_no_more_workers_than_cores(monkeypatch):
    tracklets = tiny_tracklets(num_identities=2, tracklets_per_identity=1)
    extract = dict(model=lambda clips: clips.mean((2, 3, 4)), tracklets=tracklets,
                   transform=EvalTransform(TINY_INPUT_SIZE), clip_length=4)
    in_process = extract_features(**extract, num_workers=0)
    # One core: torch warns of a DataLoader with more workers than that.
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from_workers = extract_features(**extract, num_workers=3)
    assert not [warning for warning in caught if "worker" in str(warning.message)]
    torch.testing.assert_close(from_workers, in_process)
