"""MARS (Zheng et al., ECCV 2016) in its distributed layout:

    mars/bbox_train/<pid>/<pid>C<cam>T<tracklet>F<frame>.jpg   (e.g. 0001C1T0001F001.jpg)
    mars/bbox_test/...                                        (pid 00-1: junk, 0000: distractors)
    mars/info/train_name.txt, test_name.txt                   one frame name per line
    mars/info/tracks_train_info.mat, tracks_test_info.mat     rows [first, last, pid, camera],
                                                              1-based inclusive line numbers of the name lists
    mars/info/query_IDX.mat                                   1-based rows of the test tracks that are queries

Junk tracklets (pid -1) are dropped; distractors (pid 0) stay in the gallery
as negatives. The gallery is the non-query test tracklets; the "official"
protocol, which adds the query set to the gallery, is an evaluation option
(`Protocol(gallery_mode="official")`), so one loaded dataset serves both.
"""
import os
import re
from typing import List, Optional

import numpy as np

from ..data.tracklets import JUNK_PID, Tracklet
from .common import (DatasetFormatError, integer_matrix, load_mat_variable, make_dataset,
                     require_dir, require_file, resolve_dataset_dir)

FRAME_NAME = re.compile(r"^(?P<pid>\d{4}|00-1)C(?P<cam>\d)T(?P<tracklet>\d{4})F(?P<frame>\d{3,})\.jpg$")
TRACKS_EXPECTED = "an (n, 4) integer array of rows [first frame, last frame, pid, camera]"


class FrameNames:
    """A MARS name list (train_name.txt or test_name.txt), parsed once: the
    names and, per line, the pid, camera and frame index they encode."""

    def __init__(self, path):
        require_file(path, "one MARS frame name per line (e.g. 0001C1T0001F001.jpg)")
        with open(path) as lines:
            self.names = [line.strip() for line in lines if line.strip()]
        if not self.names:
            raise DatasetFormatError(path, "one MARS frame name per line", "an empty file")
        parsed = []
        for number, name in enumerate(self.names, 1):
            match = FRAME_NAME.match(name)
            if match is None:
                raise DatasetFormatError(path, "MARS frame names such as 0001C1T0001F001.jpg",
                                         f"{name!r} on line {number}")
            pid = JUNK_PID if match.group("pid") == "00-1" else int(match.group("pid"))
            parsed.append((pid, int(match.group("cam")), int(match.group("frame"))))
        self.pids, self.cameras, self.frame_indices = np.array(parsed, dtype=np.int64).T
        self.path = path

    def __len__(self):
        return len(self.names)


def read_tracks(path, variable: str, names: FrameNames) -> np.ndarray:
    tracks = integer_matrix(load_mat_variable(path, variable, TRACKS_EXPECTED), path, TRACKS_EXPECTED, columns=4)
    first, last, _, camera = tracks.T
    bad = np.flatnonzero((first < 1) | (last < first) | (last > len(names)) | (camera < 1))
    if bad.size:
        row = bad[0]
        raise DatasetFormatError(path, f"1 <= first <= last <= {len(names)} (the lines of {names.path})"
                                 " and cameras from 1", f"row {row + 1}: {tracks[row].tolist()}")
    return tracks


def tracklets_of(tracks: np.ndarray, names: FrameNames, image_dir, tracks_path) -> List[Optional[Tracklet]]:
    """One tracklet per row of `tracks` (None for junk), frames ordered by
    their F index, each frame checked against its row's pid and camera."""
    tracklets = []
    for row, (first, last, pid, camera) in enumerate(tracks, 1):
        lines = slice(first - 1, last)
        if np.any(names.pids[lines] != pid) or np.any(names.cameras[lines] != camera):
            raise DatasetFormatError(tracks_path, f"row {row} (pid {pid}, camera {camera}) to cover frames of"
                                     f" that pid and camera", f"lines {first}..{last} of {names.path}")
        if pid == JUNK_PID:
            tracklets.append(None)
            continue
        order = first - 1 + np.argsort(names.frame_indices[lines], kind="stable")
        frames = [os.path.join(image_dir, names.names[i][:4], names.names[i]) for i in order]
        tracklets.append(Tracklet(frames=frames, pid=int(pid), camid=int(camera) - 1))
    return tracklets


def load_mars(root, *, verbose: bool = True, name: str = "MARS"):
    """MARS from `root/mars` (or `root` itself), as a VideoReIDDataset."""
    dataset_dir = resolve_dataset_dir(root, "mars", "info")
    info = os.path.join(dataset_dir, "info")
    train_dir = require_dir(os.path.join(dataset_dir, "bbox_train"), "the MARS train frames (bbox_train/<pid>/...)")
    test_dir = require_dir(os.path.join(dataset_dir, "bbox_test"), "the MARS test frames (bbox_test/<pid>/...)")

    train_names_path, test_names_path = (os.path.join(info, f"{s}_name.txt") for s in ("train", "test"))
    train_names, test_names = FrameNames(train_names_path), FrameNames(test_names_path)
    train_tracks_path, test_tracks_path = (os.path.join(info, f"tracks_{s}_info.mat") for s in ("train", "test"))
    train_tracks = read_tracks(train_tracks_path, "track_train_info", train_names)
    test_tracks = read_tracks(test_tracks_path, "track_test_info", test_names)

    query_path = os.path.join(info, "query_IDX.mat")
    query_expected = f"1-based row numbers of {test_tracks_path} (1..{len(test_tracks)})"
    query_rows = integer_matrix(np.atleast_2d(load_mat_variable(query_path, "query_IDX", query_expected)),
                                query_path, query_expected).reshape(-1)
    if query_rows.min() < 1 or query_rows.max() > len(test_tracks) or len(set(query_rows)) != len(query_rows):
        raise DatasetFormatError(query_path, f"distinct {query_expected}",
                                 f"values from {query_rows.min()} to {query_rows.max()}")

    train = [t for t in tracklets_of(train_tracks, train_names, train_dir, train_tracks_path) if t is not None]
    test = tracklets_of(test_tracks, test_names, test_dir, test_tracks_path)
    is_query = np.zeros(len(test), dtype=bool)
    is_query[query_rows - 1] = True
    query = [test[row - 1] for row in query_rows if test[row - 1] is not None]
    gallery = [t for t, queried in zip(test, is_query) if t is not None and not queried]
    junk = sum(t is None for t in test)
    notes = [f"{junk} junk test tracklets (pid -1) dropped; distractors (pid 0) kept in the gallery",
             "gallery = non-query test tracklets; evaluate with gallery_mode='official' to add the query set"]
    return make_dataset(name, train, query, gallery, verbose, notes)
