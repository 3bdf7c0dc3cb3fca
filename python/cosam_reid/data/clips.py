"""Clips from tracklets: which N frames, and the training Dataset."""
import random

import torch
from torch.utils.data import Dataset

from ..config import packaged_default
from .tracklets import load_frame

SAMPLINGS = ("sequential", "random")


def sample_frame_indices(length, num_frames, sampling, rng):
    """num_frames indices into a tracklet of length frames, in temporal order:
    "sequential", consecutive frames from a random start, or "random", frames
    drawn without replacement. A tracklet shorter than num_frames is padded by
    cycling its own frames (0, 1, ..., length-1, 0, 1, ...)."""
    if sampling not in SAMPLINGS:
        raise ValueError(f"unknown clip sampling {sampling!r}; choose one of {SAMPLINGS}")
    if length < num_frames:
        return [position % length for position in range(num_frames)]
    if sampling == "sequential":
        start = rng.randint(0, length - num_frames)
        return list(range(start, start + num_frames))
    return sorted(rng.sample(range(length), num_frames))


class ClipDataset(Dataset):
    """Training clips: item ClipRequest(index, seed) -> (clip (N, 3, H, W), pid, camid).

    The seed drives the frame choice and the augmentation of that clip, so a
    clip depends on the request alone (not on workers or on earlier items).
    """

    def __init__(self, tracklets, num_frames, transform, sampling=packaged_default("data.sampling")):
        if sampling not in SAMPLINGS:
            raise ValueError(f"unknown clip sampling {sampling!r}; choose one of {SAMPLINGS}")
        self.tracklets = list(tracklets)
        self.num_frames = num_frames
        self.transform = transform
        self.sampling = sampling

    @property
    def pids(self):
        return [tracklet.pid for tracklet in self.tracklets]

    def __len__(self):
        return len(self.tracklets)

    def __getitem__(self, request):
        index, seed = request
        rng = random.Random(seed)
        tracklet = self.tracklets[index]
        positions = sample_frame_indices(len(tracklet.frames), self.num_frames, self.sampling, rng)
        frames = [self.transform(load_frame(tracklet.frames[position]), rng) for position in positions]
        return torch.stack(frames), tracklet.pid, tracklet.camid
