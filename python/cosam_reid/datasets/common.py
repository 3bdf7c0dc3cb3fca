"""Steps every loader shares: finding the dataset folder, checking side
files, ordering frames by their frame index, relabelling train identities,
and the statistics table."""
import dataclasses
import os
import re
import warnings
from typing import Callable, Iterable, List, Optional, Pattern, Sequence

import numpy as np
import scipy.io

from ..data.tracklets import Tracklet, VideoReIDDataset

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
# iLIDS-VID (cam1_person001_00317.png) and PRID2011 (0001.png) frames: the
# frame index is the last number of the name.
TRAILING_NUMBER = re.compile(r"(?P<frame>\d+)\.[A-Za-z]+$")


class DatasetFormatError(ValueError):
    """A dataset file or folder exists but does not hold what the loader expects."""

    def __init__(self, path, expected, found):
        super().__init__(f"{path}: expected {expected}, found {found}")
        self.path = path


def require_file(path, expected: str) -> str:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"missing {path}: expected {expected}")
    return path


def require_dir(path, expected: str) -> str:
    if not os.path.isdir(path):
        raise FileNotFoundError(f"missing folder {path}: expected {expected}")
    return path


def resolve_dataset_dir(root, folder: str, marker: str) -> str:
    """`root/folder` as torchreid lays datasets out, or `root` itself when it
    is already that folder (recognised by `marker`, an entry inside it)."""
    for candidate in (os.path.join(root, folder), root):
        if os.path.exists(os.path.join(candidate, marker)):
            return candidate
    raise FileNotFoundError(
        f"no dataset found at {os.path.join(root, folder)} (nor at {root}): expected a folder holding {marker}")


def load_mat_variable(path, variable: str, expected: str) -> np.ndarray:
    """One variable of a MATLAB file, with errors that name the file."""
    require_file(path, expected)
    try:
        contents = scipy.io.loadmat(path)
    except Exception as error:  # scipy raises several types for corrupt files
        raise DatasetFormatError(path, f"a MATLAB .mat file holding {expected}",
                                 f"a file scipy cannot read ({error})") from None
    if variable not in contents:
        found = sorted(k for k in contents if not k.startswith("__"))
        raise DatasetFormatError(path, f"a variable {variable!r} ({expected})", f"variables {found}")
    return np.asarray(contents[variable])


def integer_matrix(values: np.ndarray, path, expected: str, columns: Optional[int] = None) -> np.ndarray:
    """`values` as a 2-d int64 array, or an error naming `path`."""
    if values.ndim != 2 or (columns is not None and values.shape[1] != columns) or values.size == 0:
        raise DatasetFormatError(path, expected, f"an array of shape {values.shape}")
    if not np.issubdtype(values.dtype, np.number) or not np.all(np.equal(np.mod(values, 1), 0)):
        raise DatasetFormatError(path, expected, f"non-integer values ({values.dtype})")
    return values.astype(np.int64)


def frame_index(name: str, pattern: Pattern, where) -> int:
    match = pattern.search(os.path.basename(name))
    if match is None:
        raise DatasetFormatError(where, f"frame names matching {pattern.pattern!r}", repr(os.path.basename(name)))
    return int(match.group("frame"))


def sort_frames(paths: Iterable[str], pattern: Pattern, where) -> List[str]:
    """Frames in temporal order, by the frame index in their names (never
    by listing order, which depends on the file system)."""
    indexed = sorted((frame_index(path, pattern, where), path) for path in paths)
    for (index, first), (next_index, second) in zip(indexed, indexed[1:]):
        if index == next_index:
            raise DatasetFormatError(where, "one frame per frame index",
                                     f"{os.path.basename(first)} and {os.path.basename(second)}")
    return [path for _, path in indexed]


def image_files(folder) -> List[str]:
    with os.scandir(folder) as entries:
        return [entry.path for entry in entries
                if entry.is_file() and entry.name.lower().endswith(IMAGE_SUFFIXES)]


def subfolders(folder) -> List[str]:
    with os.scandir(folder) as entries:
        return sorted(entry.name for entry in entries if entry.is_dir())


def sequence_tracklet(folder, pid: int, camid: int, pattern: Pattern = TRAILING_NUMBER) -> Optional[Tracklet]:
    """The frames of one folder as a tracklet; None (with a warning) when it has none."""
    frames = sort_frames(image_files(folder), pattern, folder)
    if not frames:
        warnings.warn(f"{folder}: no image frames, tracklet skipped")
        return None
    return Tracklet(frames=frames, pid=pid, camid=camid)


def relabel(tracklets: Sequence[Tracklet]) -> List[Tracklet]:
    """Train identities as 0..n-1, in ascending order of the original pid."""
    labels = {pid: label for label, pid in enumerate(sorted({t.pid for t in tracklets}))}
    return [dataclasses.replace(t, pid=labels[t.pid]) for t in tracklets]


def make_dataset(name: str, train, query, gallery, verbose: bool, notes: Sequence[str] = ()) -> VideoReIDDataset:
    """The dataset with train identities relabelled; its statistics printed
    when `verbose`."""
    dataset = VideoReIDDataset(name=name, train=relabel(train), query=list(query), gallery=list(gallery))
    if verbose:
        print(format_statistics(dataset, notes))
    return dataset


def format_statistics(dataset: VideoReIDDataset, notes: Sequence[str] = ()) -> str:
    """Identities, tracklets and frames of each split, as a table."""
    header = ("subset", "# ids", "# tracklets", "# frames", "frames per tracklet (min/mean/max)")
    rows = [header]
    for subset in ("train", "query", "gallery"):
        tracklets = getattr(dataset, subset)
        lengths = [len(t.frames) for t in tracklets]
        spread = f"{min(lengths)}/{np.mean(lengths):.1f}/{max(lengths)}" if lengths else "-"
        rows.append((subset, str(len({t.pid for t in tracklets})), str(len(tracklets)),
                     str(sum(lengths)), spread))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [f"=> {dataset.name} loaded"]
    for number, row in enumerate(rows):
        lines.append(("  " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths))).rstrip())
        if number == 0:
            lines.append("  " + "-+-".join("-" * width for width in widths))
    lines.extend(f"  {note}" for note in notes)
    return "\n".join(lines)


def two_camera_splits(camera_dirs: Sequence[str], train_persons: Sequence[str], test_persons: Sequence[str],
                      pid_of: Callable[[str], int]):
    """iLIDS-VID and PRID2011: one sequence per person per camera. Train takes
    both cameras of the train persons; query is the first camera and gallery
    the second camera of the test persons."""
    def tracklets(persons, cameras):
        found = (sequence_tracklet(os.path.join(camera_dirs[camid], person), pid_of(person), camid)
                 for person in persons for camid in cameras)
        return [t for t in found if t is not None]

    return tracklets(train_persons, (0, 1)), tracklets(test_persons, (0,)), tracklets(test_persons, (1,))


def person_number(name: str, where) -> int:
    """The pid of a person folder such as person001 or person_0001."""
    match = re.search(r"(\d+)$", name)
    if match is None:
        raise DatasetFormatError(where, "person folders named with a number (person001, person_0001)", repr(name))
    return int(match.group(1))


def check_split_id(split_id: int, num_splits: int, where) -> int:
    if not 0 <= split_id < num_splits:
        raise ValueError(f"split_id {split_id} out of range: {where} defines splits 0..{num_splits - 1}")
    return split_id
