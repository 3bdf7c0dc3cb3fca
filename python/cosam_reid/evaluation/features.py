"""Test features of tracklets from any clip model.

The model is a callable from a (B, N, 3, H, W) float tensor of clips to (B, F)
features, the transform one from a PIL image to a (3, H, W) tensor; nothing
else about either is assumed. A tracklet's feature is the mean of the
features of its clips:

- "dense": every frame, in consecutive clips of N frames, the last clip
  padded by cycling its own frames;
- "evenly": `num_frames` frames spread evenly over the tracklet (torchreid's
  test sampling), then split into clips of N the same way.

Clips from all tracklets are streamed through the model `clips_per_batch` at
a time and summed into per-tracklet accumulators, so memory is one batch of
frames plus one feature per tracklet, however long the tracklets are.
"""
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import torch

from ..data.tracklets import Tracklet, load_frame

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


def clip_indices(length: int, clip_length: int, sampling: str = "dense",
                 num_frames: Optional[int] = None) -> List[List[int]]:
    """The clips (lists of frame indices) a tracklet of `length` frames is seen as."""
    if sampling == "dense":
        return split_into_clips(range(length), clip_length)
    if sampling == "evenly":
        if not num_frames:
            raise ValueError("evenly sampling needs num_frames, the number of frames to take")
        return split_into_clips(evenly_spaced(length, num_frames), clip_length)
    raise ValueError(f"unknown test sampling {sampling!r}; expected one of {SAMPLINGS}")


def describe_sampling(clip_length: int, sampling: str = "dense", num_frames: Optional[int] = None) -> str:
    if sampling == "dense":
        return f"dense: all frames in consecutive {clip_length}-frame clips, clip features averaged"
    return f"evenly: {num_frames} evenly spaced frames in {clip_length}-frame clips, clip features averaged"


def _clip_stream(tracklets: Sequence[Tracklet], clip_length, sampling, num_frames) -> Iterator[Tuple[int, list]]:
    for index, tracklet in enumerate(tracklets):
        for clip in clip_indices(len(tracklet.frames), clip_length, sampling, num_frames):
            yield index, clip


def _load_clip(tracklet: Tracklet, clip: Sequence[int], transform) -> torch.Tensor:
    # Padded clips repeat a frame: decode it once.
    loaded = {}
    for position in clip:
        if position not in loaded:
            loaded[position] = transform(load_frame(tracklet.frames[position]))
    return torch.stack([loaded[position] for position in clip])


@torch.no_grad()
def extract_features(model: Callable[[torch.Tensor], torch.Tensor], tracklets: Sequence[Tracklet],
                     transform: Callable, *, clip_length: int, sampling: str = "dense",
                     num_frames: Optional[int] = None, clips_per_batch: int = 32,
                     device: Optional[torch.device] = None) -> torch.Tensor:
    """(len(tracklets), F) float32 features on the CPU.

    An nn.Module model is put in eval mode for the extraction (and back
    after); `device` defaults to the device of its parameters.
    """
    if clips_per_batch < 1:
        raise ValueError(f"clips_per_batch must be at least 1, got {clips_per_batch}")
    is_module = isinstance(model, torch.nn.Module)
    if device is None:
        parameter = next(model.parameters(), None) if is_module else None
        device = parameter.device if parameter is not None else torch.device("cpu")
    was_training = is_module and model.training
    if is_module:
        model.eval()
    sums, counts = None, torch.zeros(len(tracklets))
    batch, owners = [], []

    def flush():
        nonlocal sums
        features = model(torch.stack(batch).to(device)).float().cpu()
        if features.dim() != 2 or len(features) != len(batch):
            raise ValueError(f"the model must map (B, N, 3, H, W) clips to (B, F) features; "
                             f"got {tuple(features.shape)} for B={len(batch)}")
        if sums is None:
            sums = torch.zeros(len(tracklets), features.shape[1])
        owner_index = torch.tensor(owners)
        sums.index_add_(0, owner_index, features)
        counts.index_add_(0, owner_index, torch.ones(len(owners)))
        batch.clear()
        owners.clear()

    try:
        for owner, clip in _clip_stream(tracklets, clip_length, sampling, num_frames):
            batch.append(_load_clip(tracklets[owner], clip, transform))
            owners.append(owner)
            if len(batch) == clips_per_batch:
                flush()
        if batch:
            flush()
    finally:
        if was_training:
            model.train()
    if sums is None:
        raise ValueError("no tracklets to extract features from")
    return sums / counts[:, None]
