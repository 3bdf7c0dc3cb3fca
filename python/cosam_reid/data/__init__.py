"""Data: tracklet records, dataset loaders, clip sampling, transforms, samplers."""
from .tracklets import Tracklet, VideoReIDDataset, load_frame

__all__ = ["Tracklet", "VideoReIDDataset", "load_frame"]
