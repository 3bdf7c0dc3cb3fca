"""PRID2011 (Hirzer et al., SCIA 2011), multi-shot, as torchreid users have it:

    prid2011/prid_2011/multi_shot/cam_a/person_0001/0001.png
    prid2011/prid_2011/multi_shot/cam_b/...
    prid2011/splits_prid2011.json

The JSON is a list of splits (10), each {"train": [person folders...],
"test": [person folders...]}. Query: the cam_a sequences of the test persons;
gallery: their cam_b sequences.
"""
import json
import os

from .common import (DatasetFormatError, check_split_id, make_dataset, person_number, require_dir, require_file,
                     resolve_dataset_dir, subfolders, two_camera_splits)

SPLITS_EXPECTED = 'a JSON list of splits, each {"train": [person folder, ...], "test": [person folder, ...]}'


def read_splits(path):
    require_file(path, SPLITS_EXPECTED)
    try:
        with open(path) as file:
            splits = json.load(file)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetFormatError(path, SPLITS_EXPECTED, f"invalid JSON ({error})") from None
    well_formed = isinstance(splits, list) and splits and all(
        isinstance(split, dict) and all(isinstance(split.get(key), list) and split[key]
                                        and all(isinstance(name, str) for name in split[key])
                                        for key in ("train", "test"))
        for split in splits)
    if not well_formed:
        raise DatasetFormatError(path, SPLITS_EXPECTED, f"{json.dumps(splits)[:120]}")
    return splits


def load_prid2011(root, *, split_id: int = 0, verbose: bool = True):
    """Split `split_id` (0..9) of PRID2011 from `root/prid2011` (or `root` itself)."""
    dataset_dir = resolve_dataset_dir(root, "prid2011", "prid_2011")
    sequences = os.path.join(dataset_dir, "prid_2011", "multi_shot")
    cameras = [require_dir(os.path.join(sequences, cam), "one folder of frames per person") for cam in ("cam_a", "cam_b")]
    splits_path = os.path.join(dataset_dir, "splits_prid2011.json")
    splits = read_splits(splits_path)
    split = splits[check_split_id(split_id, len(splits), splits_path)]
    available = set(subfolders(cameras[0])) & set(subfolders(cameras[1]))
    absent = sorted(set(split["train"] + split["test"]) - available)
    if absent:
        raise DatasetFormatError(splits_path, f"persons with a sequence in both {cameras[0]} and {cameras[1]}",
                                 f"{absent[:5]} in split {split_id}")
    train, query, gallery = two_camera_splits(cameras, split["train"], split["test"],
                                              lambda person: person_number(person, splits_path))
    return make_dataset(f"PRID2011 (split {split_id} of {len(splits)})", train, query, gallery, verbose,
                        ["query = cam_a, gallery = cam_b of the test persons"])
