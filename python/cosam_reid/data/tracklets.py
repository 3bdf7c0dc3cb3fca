"""The record every dataset loader produces and every sampler and engine
consumes: a tracklet is its frames in temporal order, an identity and a camera.

Frames are image paths (what the on-disk loaders give) or in-memory images
(PIL images or HxWx3 uint8 arrays, what the tests and tiny runs use).
"""
import dataclasses
import os
from typing import Sequence, Tuple, Union

import numpy as np
from PIL import Image

Frame = Union[str, os.PathLike, Image.Image, np.ndarray]

#: The pid of junk tracklets (MARS's 00-1: bad detections), which evaluation ignores.
JUNK_PID = -1


class FrameDecodeError(OSError):
    """A frame file that exists but is not an image PIL can decode (corrupt,
    truncated, of another format); the message names the file."""


@dataclasses.dataclass(frozen=True)
class Tracklet:
    #: Frames sorted by frame index (never by glob order).
    frames: Tuple[Frame, ...]
    #: Identity label. In train splits, relabelled to 0..num_ids-1.
    pid: int
    #: Camera index, 0-based.
    camid: int

    def __post_init__(self):
        if len(self.frames) == 0:
            raise ValueError(f"Tracklet of pid {self.pid}, camera {self.camid} has no frames")
        object.__setattr__(self, "frames", tuple(self.frames))


@dataclasses.dataclass
class VideoReIDDataset:
    """A video re-ID dataset: train tracklets (pids relabelled 0..num_train_pids-1),
    query and gallery tracklets (original pids)."""

    name: str
    train: Sequence[Tracklet]
    query: Sequence[Tracklet]
    gallery: Sequence[Tracklet]

    @property
    def num_train_pids(self):
        return len({t.pid for t in self.train})


def load_frame(frame: Frame) -> Image.Image:
    """The frame as an RGB PIL image. A path that does not exist raises
    FileNotFoundError, a file PIL cannot decode FrameDecodeError; both name
    the path."""
    if isinstance(frame, Image.Image):
        return frame.convert("RGB")
    if isinstance(frame, np.ndarray):
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"in-memory frames must be HxWx3 uint8 arrays, got {frame.shape} {frame.dtype}")
        return Image.fromarray(frame)
    try:
        with Image.open(frame) as image:
            return image.convert("RGB")
    except FileNotFoundError:
        raise FileNotFoundError(f"frame image not found: {frame}") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        # PIL's own messages often leave the file out ("Truncated File Read").
        raise FrameDecodeError(f"cannot decode the frame image {frame}: {error}") from error
