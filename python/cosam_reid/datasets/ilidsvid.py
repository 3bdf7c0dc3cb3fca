"""iLIDS-VID (Wang et al., ECCV 2014) as torchreid users have it:

    ilids-vid/i-LIDS-VID/sequences/cam1/person001/cam1_person001_00317.png
    ilids-vid/i-LIDS-VID/sequences/cam2/...
    ilids-vid/train-test people splits/train_test_splits_ilidsvid.mat

The .mat holds `ls_set`, one row per split (10 rows), each a permutation of
1-based indices into the sorted person folders: the first half are the test
persons, the second half the train persons (as in Wang et al.). Query: the
cam1 sequences of the test persons; gallery: their cam2 sequences.
"""
import os

import numpy as np

from .common import (DatasetFormatError, check_split_id, integer_matrix, load_mat_variable, make_dataset,
                     person_number, require_dir, resolve_dataset_dir, subfolders, two_camera_splits)

SPLITS_EXPECTED = ("an (n_splits, 2k) integer array ls_set; each row a permutation of 1-based indices into the"
                   " sorted person folders, test persons first")


def load_ilidsvid(root, *, split_id: int = 0, verbose: bool = True):
    """Split `split_id` (0..9) of iLIDS-VID from `root/ilids-vid` (or `root` itself)."""
    dataset_dir = resolve_dataset_dir(root, "ilids-vid", "i-LIDS-VID")
    sequences = os.path.join(dataset_dir, "i-LIDS-VID", "sequences")
    cameras = [require_dir(os.path.join(sequences, cam), "one folder of frames per person") for cam in ("cam1", "cam2")]
    persons = subfolders(cameras[0])
    if persons != subfolders(cameras[1]):
        missing = sorted(set(persons) ^ set(subfolders(cameras[1])))
        raise DatasetFormatError(sequences, "the same persons under cam1 and cam2", f"{missing[:5]} in one only")

    splits_path = os.path.join(dataset_dir, "train-test people splits", "train_test_splits_ilidsvid.mat")
    splits = integer_matrix(load_mat_variable(splits_path, "ls_set", SPLITS_EXPECTED), splits_path, SPLITS_EXPECTED)
    row = splits[check_split_id(split_id, len(splits), splits_path)]
    if len(row) % 2 or len(set(row)) != len(row) or row.min() < 1 or row.max() > len(persons):
        raise DatasetFormatError(splits_path, f"{SPLITS_EXPECTED} (here {len(persons)} persons)",
                                 f"row {split_id}: {np.sort(row).tolist()[:8]}...")
    half = len(row) // 2
    test_persons, train_persons = ([persons[i - 1] for i in sorted(part)] for part in (row[:half], row[half:]))
    train, query, gallery = two_camera_splits(cameras, train_persons, test_persons,
                                              lambda person: person_number(person, sequences))
    return make_dataset(f"iLIDS-VID (split {split_id} of {len(splits)})", train, query, gallery, verbose,
                        ["query = cam1, gallery = cam2 of the test persons"])
