"""Data: tracklet records, clip sampling, transforms, samplers (the dataset
loaders are in cosam_reid.datasets)."""
from .tracklets import Tracklet, VideoReIDDataset, load_frame

__all__ = ["Tracklet", "VideoReIDDataset", "load_frame"]
