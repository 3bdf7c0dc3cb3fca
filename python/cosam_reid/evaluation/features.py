"""Test features of tracklets from any clip model.

The model is a callable from a (B, N, 3, H, W) float tensor of clips to (B, F)
features, the transform one from a PIL image to a (3, H, W) tensor; nothing
else about either is assumed. A tracklet's feature is the mean of the
features of its clips:

- "dense": every frame, in consecutive clips of N frames, the last clip
  padded by cycling its own frames;
- "evenly": `frames_per_tracklet` frames spread evenly over the tracklet
  (torchreid's test sampling), then split into clips of N the same way.

Two lengths, two names: `clip_length` is N, the frames of one clip (what
the model was built for, ModelSpec.num_frames); `frames_per_tracklet` is how
many frames "evenly" takes from a whole tracklet (evaluation.frames).

Clips from all tracklets are streamed through the model `clips_per_batch` at
a time and summed into per-tracklet accumulators, so memory is a few batches
of frames (the one in the model and those the loader workers prepare) plus
one feature per tracklet, however long the tracklets are.
"""
from typing import Callable, List, Optional, Sequence

import torch
from tqdm import tqdm

from ..config import packaged_default
from ..data.tracklets import Tracklet, load_frame
from ..data.transforms import EvalTransform
from ..data.workers import loader_workers

SAMPLINGS = ("dense", "evenly")


def evenly_spaced(length: int, count: int) -> List[int]:
    """`count` frame indices: the first frame of each of `count` equal
    stretches of the tracklet; a tracklet shorter than `count` gives all its
    frames, then its last frame repeated."""
    if length >= count:
        return [i * length // count for i in range(count)]
    return list(range(length)) + [length - 1] * (count - length)


def split_into_clips(indices: Sequence[int], clip_length: int) -> List[List[int]]:
    """Consecutive clips of `clip_length`; a short last clip is padded by
    cycling its own frames ([8, 9] -> [8, 9, 8, 9]), as the authors' test
    code (after Gao and Nevatia) does and as training clips are padded."""
    clips = [list(indices[start:start + clip_length]) for start in range(0, len(indices), clip_length)]
    last = clips[-1]
    clips[-1] = [last[i % len(last)] for i in range(clip_length)]
    return clips


def clip_indices(length: int, clip_length: int, sampling: str = "dense", *,
                 frames_per_tracklet: Optional[int] = None) -> List[List[int]]:
    """The clips (lists of `clip_length` frame indices) a tracklet of
    `length` frames is seen as; "evenly" takes `frames_per_tracklet` frames."""
    if sampling == "dense":
        return split_into_clips(range(length), clip_length)
    if sampling == "evenly":
        if not frames_per_tracklet:
            raise ValueError("evenly sampling needs frames_per_tracklet, the number of frames to take from each "
                             "tracklet (evaluation.frames)")
        return split_into_clips(evenly_spaced(length, frames_per_tracklet), clip_length)
    raise ValueError(f"unknown test sampling {sampling!r}; expected one of {SAMPLINGS}")


def describe_sampling(clip_length: int, sampling: str = "dense", *, frames_per_tracklet: Optional[int] = None) -> str:
    if sampling == "dense":
        return f"dense: all frames in consecutive {clip_length}-frame clips, clip features averaged"
    return f"evenly: {frames_per_tracklet} evenly spaced frames in {clip_length}-frame clips, clip features averaged"


class ClipRequests(torch.utils.data.Dataset):
    """Item i: (the i-th clip of the plan as an (N, 3, H, W) tensor, the index
    of its tracklet). A DataLoader over it loads frames in worker processes."""

    def __init__(self, tracklets: Sequence[Tracklet], transform, *, clip_length: int, sampling: str,
                 frames_per_tracklet: Optional[int] = None):
        self.tracklets, self.transform = tracklets, transform
        self.plan = [(owner, clip) for owner, tracklet in enumerate(tracklets)
                     for clip in clip_indices(len(tracklet.frames), clip_length, sampling,
                                              frames_per_tracklet=frames_per_tracklet)]

    def __len__(self):
        return len(self.plan)

    def __getitem__(self, item):
        owner, clip = self.plan[item]
        frames = self.tracklets[owner].frames
        # Padded clips repeat frames: decode each once.
        loaded = {position: self.transform(load_frame(frames[position])) for position in set(clip)}
        return torch.stack([loaded[position] for position in clip]), owner


@torch.no_grad()
def extract_features(model: Callable[[torch.Tensor], torch.Tensor], tracklets: Sequence[Tracklet],
                     transform: Callable, *, clip_length: int, sampling: str = packaged_default("evaluation.sampling"),
                     frames_per_tracklet: Optional[int] = packaged_default("evaluation.frames"),
                     clips_per_batch: int = packaged_default("evaluation.clips_per_batch"), num_workers: int = 0,
                     device: Optional[torch.device] = None, progress: bool = False) -> torch.Tensor:
    """(len(tracklets), F) float32 features on the CPU.

    `num_workers` processes (at most one per available core) load frames
    ahead of the model (0: in this one). An nn.Module model is put in eval
    mode for the extraction (and back after); `device` defaults to the
    device of its parameters. `progress` shows a progress bar of the batches.
    """
    if clips_per_batch < 1:
        raise ValueError(f"clips_per_batch must be at least 1, got {clips_per_batch}")
    if not tracklets:
        raise ValueError("no tracklets to extract features from")
    is_module = isinstance(model, torch.nn.Module)
    if device is None:
        parameter = next(model.parameters(), None) if is_module else None
        device = parameter.device if parameter is not None else torch.device("cpu")
    was_training = is_module and model.training
    if is_module:
        model.eval()
    requests = ClipRequests(tracklets, transform, clip_length=clip_length, sampling=sampling,
                            frames_per_tracklet=frames_per_tracklet)
    clips = torch.utils.data.DataLoader(requests, batch_size=clips_per_batch, num_workers=loader_workers(num_workers))
    sums, counts = None, torch.zeros(len(tracklets), dtype=torch.float64)
    try:
        for batch, owners in tqdm(clips, desc="features", unit="batch", disable=not progress):
            features = model(batch.to(device))
            if not isinstance(features, torch.Tensor) or features.dim() != 2 or len(features) != len(batch):
                shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
                raise ValueError(f"the model must map (B, N, 3, H, W) clips to (B, F) features; "
                                 f"got {shape} for B={len(batch)}")
            if sums is None:
                sums = torch.zeros(len(tracklets), features.shape[1], dtype=torch.float64)
            sums.index_add_(0, owners, features.detach().cpu().double())
            counts.index_add_(0, owners, torch.ones(len(owners), dtype=torch.float64))
    finally:
        if was_training:
            model.train()
    return (sums / counts[:, None]).float()


def configured_extraction(model, evaluation) -> dict:
    """The extract_features options of a VideoReIDModel under evaluation (an
    EvaluationConfig): its test transform, clips as long as the model takes
    (its num_frames), and the evaluation's sampling, frames per tracklet
    ("evenly") and clips per batch."""
    return dict(transform=EvalTransform(model.spec.input_size), clip_length=model.spec.num_frames,
                sampling=evaluation.sampling, frames_per_tracklet=evaluation.frames,
                clips_per_batch=evaluation.clips_per_batch)
