"""Tiny dataset trees in the real on-disk layouts of MARS,
DukeMTMC-VideoReID, iLIDS-VID and PRID2011, written by hand (independently
of any code under test) for the loader tests."""
import json
import os

import numpy as np
import scipy.io
from PIL import Image


def write_frame(path, shade=128):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.full((8, 4, 3), shade, dtype=np.uint8)).save(path)


# MARS: (pid text, camera, tracklet number, frame numbers in the order they
# are listed in the name file; deliberately not sorted).
MARS_TRAIN = [("0005", 1, 1, [3, 1, 2]), ("0005", 2, 2, [1, 2]), ("0009", 1, 1, [4, 3, 2, 1])]
MARS_TEST = [("0002", 1, 1, [1, 2]),   # row 1: query
             ("0002", 3, 2, [1]),
             ("0000", 2, 1, [5, 6]),   # distractor
             ("00-1", 1, 1, [1, 2]),   # junk
             ("0007", 4, 1, [2, 1]),   # row 5: query
             ("0007", 2, 3, [1])]
MARS_QUERY_ROWS = [1, 5]


def mars_names(tracklets):
    return [[f"{pid}C{cam}T{number:04d}F{frame:03d}.jpg" for frame in frames]
            for pid, cam, number, frames in tracklets]


def write_mars_split(dataset_dir, folder, split, tracklets):
    rows, names, start = [], [], 1
    for (pid, cam, _, _), tracklet_names in zip(tracklets, mars_names(tracklets)):
        for name in tracklet_names:
            write_frame(os.path.join(dataset_dir, folder, name[:4], name))
        names += tracklet_names
        rows.append([start, start + len(tracklet_names) - 1, -1 if pid == "00-1" else int(pid), cam])
        start += len(tracklet_names)
    with open(os.path.join(dataset_dir, "info", f"{split}_name.txt"), "w") as file:
        file.write("\n".join(names) + "\n")
    scipy.io.savemat(os.path.join(dataset_dir, "info", f"tracks_{split}_info.mat"),
                     {f"track_{split}_info": np.array(rows, dtype=np.float64)})


def make_mars(root):
    dataset_dir = os.path.join(root, "mars")
    os.makedirs(os.path.join(dataset_dir, "info"))
    write_mars_split(dataset_dir, "bbox_train", "train", MARS_TRAIN)
    write_mars_split(dataset_dir, "bbox_test", "test", MARS_TEST)
    scipy.io.savemat(os.path.join(dataset_dir, "info", "query_IDX.mat"),
                     {"query_IDX": np.array([MARS_QUERY_ROWS], dtype=np.float64)})
    return dataset_dir


# DukeMTMC-VideoReID: split -> (pid folder, tracklet folder, frame names).
# 0003/0002 uses the old name format with unpadded frame numbers, so name
# order (F10 < F8 < F9) differs from frame order.
DUKE = {
    "train": [("0003", "0001", ["0003_C2_F0003_X30001.jpg", "0003_C2_F0002_X30002.jpg"]),
              ("0003", "0002", ["0003C5F10X1.jpg", "0003C5F8X1.jpg", "0003C5F9X1.jpg"]),
              ("0011", "0001", ["0011_C1_F0001_X1.jpg"])],
    "query": [("0004", "0001", ["0004_C1_F0001_X1.jpg", "0004_C1_F0002_X1.jpg"])],
    "gallery": [("0004", "0002", ["0004_C3_F0001_X1.jpg"]),
                ("0008", "0001", ["0008_C1_F0001_X1.jpg"])],
}


def make_duke(root):
    dataset_dir = os.path.join(root, "dukemtmc-vidreid", "DukeMTMC-VideoReID")
    for split, tracklets in DUKE.items():
        for pid, tracklet, names in tracklets:
            for name in names:
                write_frame(os.path.join(dataset_dir, split, pid, tracklet, name))
    return dataset_dir


# iLIDS-VID: persons present in both cameras (person003 absent: the split
# indices refer to positions in the sorted folder list, not to numbers).
ILIDS_PERSONS = ["person001", "person002", "person004", "person005"]
ILIDS_FRAMES = [17, 9, 100]
# Split 0: positions 2, 4 (person002, person005) test; 1, 3 train.
ILIDS_SPLIT_0 = [2, 4, 1, 3]


def make_ilids(root, splits=None):
    dataset_dir = os.path.join(root, "ilids-vid")
    for cam in ("cam1", "cam2"):
        for person in ILIDS_PERSONS:
            for frame in ILIDS_FRAMES:
                write_frame(os.path.join(dataset_dir, "i-LIDS-VID", "sequences", cam, person,
                                         f"{cam}_{person}_{frame}.png"))
    if splits is None:
        rng = np.random.default_rng(0)
        splits = [ILIDS_SPLIT_0] + [rng.permutation(4) + 1 for _ in range(9)]
    split_dir = os.path.join(dataset_dir, "train-test people splits")
    os.makedirs(split_dir)
    scipy.io.savemat(os.path.join(split_dir, "train_test_splits_ilidsvid.mat"),
                     {"ls_set": np.array(splits, dtype=np.float64)})
    return dataset_dir


PRID_CAM_A = ["person_0001", "person_0002", "person_0003"]
PRID_CAM_B = ["person_0001", "person_0002", "person_0003", "person_0004"]
PRID_SPLIT_0 = {"train": ["person_0001"], "test": ["person_0003", "person_0002"]}


def make_prid(root, splits=None):
    dataset_dir = os.path.join(root, "prid2011")
    for cam, persons in (("cam_a", PRID_CAM_A), ("cam_b", PRID_CAM_B)):
        for person in persons:
            for frame in (2, 10, 1):
                write_frame(os.path.join(dataset_dir, "prid_2011", "multi_shot", cam, person, f"{frame:04d}.png"))
    if splits is None:
        splits = [PRID_SPLIT_0] + [{"train": ["person_0002"], "test": ["person_0001", "person_0003"]}] * 9
    with open(os.path.join(dataset_dir, "splits_prid2011.json"), "w") as file:
        json.dump(splits, file)
    return dataset_dir
