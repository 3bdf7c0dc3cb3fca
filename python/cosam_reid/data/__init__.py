"""Data: tracklet records, clip sampling, transforms, samplers, loader
workers (the dataset loaders are in cosam_reid.datasets)."""
from .tracklets import FrameDecodeError, Tracklet, VideoReIDDataset, load_frame
from .workers import available_cores, loader_workers

__all__ = ["FrameDecodeError", "Tracklet", "VideoReIDDataset", "available_cores", "load_frame", "loader_workers"]
