"""The dataset written in the MARS layout, so that the MARS loader reads it
like the real thing:

    <dataset_dir>/bbox_train/<pid>/<pid>C<cam>T<tracklet>F<frame>.jpg
    <dataset_dir>/bbox_test/...            (0000: distractors, 00-1: junk)
    <dataset_dir>/info/train_name.txt, test_name.txt, tracks_train_info.mat,
                       tracks_test_info.mat, query_IDX.mat

with each frame's silhouette and clutter mask beside it (layout) and the
manifest (settings)."""
import dataclasses
import os
import time
from typing import List

import numpy as np
import scipy.io

from ...data.tracklets import JUNK_PID
from .figures import distinct_appearances
from .layout import CLUTTER_FOLDER, SILHOUETTE_FOLDER, SPLIT_FOLDERS, clutter_path, silhouette_path
from .render import SUPERSAMPLE, render_tracklet
from .scene import random_camera
from .settings import SyntheticConfig, write_manifest


@dataclasses.dataclass
class _SplitWriter:
    """Writes one MARS split: frames under its folder, their masks beside
    them, names and track rows."""
    dataset_dir: str
    folder: str
    names: List[str] = dataclasses.field(default_factory=list)
    rows: List[List[int]] = dataclasses.field(default_factory=list)
    counters: dict = dataclasses.field(default_factory=dict)

    def add(self, frames, silhouettes, clutter, pid, camera, jpeg_quality):
        pid_text = "00-1" if pid == JUNK_PID else f"{pid:04d}"
        number = self.counters[(pid, camera)] = self.counters.get((pid, camera), 0) + 1
        directory = os.path.join(self.dataset_dir, self.folder, pid_text)
        for folder in (self.folder, os.path.join(SILHOUETTE_FOLDER, self.folder),
                       os.path.join(CLUTTER_FOLDER, self.folder)):
            os.makedirs(os.path.join(self.dataset_dir, folder, pid_text), exist_ok=True)
        first = len(self.names) + 1
        for index, (frame, silhouette, others) in enumerate(zip(frames, silhouettes, clutter), 1):
            name = f"{pid_text}C{camera}T{number:04d}F{index:03d}.jpg"
            path = os.path.join(directory, name)
            frame.save(path, quality=jpeg_quality)
            # Masks compress well at the fastest level.
            silhouette.save(silhouette_path(path), compress_level=1)
            others.save(clutter_path(path), compress_level=1)
            self.names.append(name)
        self.rows.append([first, len(self.names), pid, camera])
        return len(self.rows)

    def write_info(self, split):
        info = os.path.join(self.dataset_dir, "info")
        with open(os.path.join(info, f"{split}_name.txt"), "w") as file:
            file.write("\n".join(self.names) + "\n")
        # MARS stores the rows as doubles, as MATLAB does.
        scipy.io.savemat(os.path.join(info, f"tracks_{split}_info.mat"),
                         {f"track_{split}_info": np.array(self.rows, dtype=np.float64)})


def generate(dataset_dir, config: SyntheticConfig = SyntheticConfig(), verbose: bool = True) -> dict:
    """Writes the dataset into `dataset_dir` (created; must not hold one
    already) and returns its manifest."""
    started = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    os.makedirs(os.path.join(dataset_dir, "info"))
    cameras = [random_camera(tuple(s * SUPERSAMPLE for s in config.image_size), config.difficulty,
                             config.clutter_level, rng) for _ in range(config.num_cameras)]
    appearances = distinct_appearances(config.num_identities + config.num_distractors, rng)
    identities, distractors = appearances[:config.num_identities], appearances[config.num_identities:]
    num_train = max(2, min(config.num_identities - 2, round(config.num_identities * config.train_fraction)))
    train, test = (_SplitWriter(dataset_dir, folder) for folder in SPLIT_FOLDERS)
    query_rows = []

    def tracklet(appearance, camera):
        length = int(rng.integers(config.tracklet_length[0], config.tracklet_length[1] + 1))
        return render_tracklet(appearance, cameras[camera], length, appearances, config, rng)

    for index, appearance in enumerate(identities):
        pid, writer = index + 1, train if index < num_train else test
        count = rng.integers(config.cameras_per_identity[0], min(config.cameras_per_identity[1], config.num_cameras) + 1)
        seen_by = sorted(rng.choice(config.num_cameras, count, replace=False))
        # Test identities: the first tracklet of every camera but one is a
        # query, so every query has a true match left in the gallery.
        query_cameras = set(rng.permutation(seen_by)[1:]) if writer is test else set()
        for camera in seen_by:
            for number in range(rng.integers(config.tracklets_per_camera[0], config.tracklets_per_camera[1] + 1)):
                row = writer.add(*tracklet(appearance, camera), pid, camera + 1, cameras[camera].jpeg_quality)
                if number == 0 and camera in query_cameras:
                    query_rows.append(row)
    for pid, people in ((0, distractors), (JUNK_PID, [None] * config.num_junk)):
        for appearance in people:
            camera = int(rng.integers(config.num_cameras))
            test.add(*tracklet(appearance, camera), pid, camera + 1, cameras[camera].jpeg_quality)

    train.write_info("train")
    test.write_info("test")
    scipy.io.savemat(os.path.join(dataset_dir, "info", "query_IDX.mat"),
                     {"query_IDX": np.array([query_rows], dtype=np.float64)})
    manifest = write_manifest(dataset_dir, config, train_frames=len(train.names), test_frames=len(test.names),
                              silhouettes=SILHOUETTE_FOLDER, clutter_masks=CLUTTER_FOLDER,
                              seconds=round(time.perf_counter() - started, 2))
    if verbose:
        print(f"=> synthetic dataset written to {dataset_dir}: {len(train.names) + len(test.names)} frames"
              f" in {manifest['seconds']} s")
    return manifest
