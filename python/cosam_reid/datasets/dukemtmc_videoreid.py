"""DukeMTMC-VideoReID (Wu et al., CVPR 2018) as torchreid users have it:

    dukemtmc-vidreid/DukeMTMC-VideoReID/{train,query,gallery}/<pid>/<tracklet>/<frame>.jpg

Frame names come in two formats, 0001_C6_F0099_X30823.jpg and the older
0001C6F0099X30823.jpg; the camera and the frame index (F) are read from them,
the pid from the folder. Some tracklets start at F0002 or skip indices, so
frames are ordered by F, not by position.
"""
import os
import re
import warnings

from ..data.tracklets import Tracklet
from .common import (DatasetFormatError, image_files, make_dataset, require_dir, resolve_dataset_dir, sort_frames,
                     subfolders)

FRAME_NAME = re.compile(r"^(?P<pid>\d+)_?C(?P<cam>\d+)_?F(?P<frame>\d+)_?X\d+\.jpg$")
SPLITS = ("train", "query", "gallery")


def split_tracklets(split_dir):
    tracklets = []
    for pid_name in subfolders(split_dir):
        pid_dir = os.path.join(split_dir, pid_name)
        if not pid_name.isdigit():
            raise DatasetFormatError(pid_dir, "identity folders named by their pid (e.g. 0001)", repr(pid_name))
        for tracklet_name in subfolders(pid_dir):
            tracklet_dir = os.path.join(pid_dir, tracklet_name)
            frames = sort_frames(image_files(tracklet_dir), FRAME_NAME, tracklet_dir)
            if not frames:
                warnings.warn(f"{tracklet_dir}: no image frames, tracklet skipped")
                continue
            cameras = {int(FRAME_NAME.match(os.path.basename(frame)).group("cam")) for frame in frames}
            if len(cameras) > 1:
                raise DatasetFormatError(tracklet_dir, "frames of one camera", f"cameras {sorted(cameras)}")
            tracklets.append(Tracklet(frames=frames, pid=int(pid_name), camid=cameras.pop() - 1))
    return tracklets


def load_dukemtmc_videoreid(root, *, verbose: bool = True):
    """DukeMTMC-VideoReID from `root/dukemtmc-vidreid/DukeMTMC-VideoReID` (or
    `root` itself), as a VideoReIDDataset."""
    dataset_dir = resolve_dataset_dir(root, os.path.join("dukemtmc-vidreid", "DukeMTMC-VideoReID"), "query")
    train, query, gallery = (
        split_tracklets(require_dir(os.path.join(dataset_dir, split), f"the {split} split (<pid>/<tracklet>/*.jpg)"))
        for split in SPLITS)
    return make_dataset("DukeMTMC-VideoReID", train, query, gallery, verbose)
