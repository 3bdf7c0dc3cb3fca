"""A contact sheet of a dataset's test identities, as a PNG (drawn with PIL,
no matplotlib): one row per identity, a few frames of each of its tracklets
(cameras) side by side."""
import numpy as np
from PIL import Image

from ..data.tracklets import load_frame


def contact_sheet(dataset, path, identities=8, tracklets_per_identity=4, frames_per_tracklet=4):
    """Writes the sheet of the first `identities` test identities of dataset
    (a VideoReIDDataset) to path."""
    by_pid = {}
    for tracklet in list(dataset.query) + list(dataset.gallery):
        if tracklet.pid > 0:
            by_pid.setdefault(tracklet.pid, []).append(tracklet)
    if not by_pid:
        raise ValueError(f"{dataset.name} has no test identities to show")
    rows = []
    for pid in sorted(by_pid)[:identities]:
        tiles = []
        for tracklet in by_pid[pid][:tracklets_per_identity]:
            step = max(1, len(tracklet.frames) // frames_per_tracklet)
            tiles += [np.asarray(load_frame(f)) for f in tracklet.frames[::step][:frames_per_tracklet]]
            tiles.append(np.full_like(tiles[-1][:, :4], 255))  # a gap between tracklets
        rows.append(np.concatenate(tiles, axis=1))
    width = max(row.shape[1] for row in rows)
    sheet = np.concatenate([np.pad(row, ((0, 4), (0, width - row.shape[1]), (0, 0)), constant_values=255)
                            for row in rows])
    Image.fromarray(sheet).save(path)
