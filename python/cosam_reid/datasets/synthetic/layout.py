"""Where the ground truth of a synthetic frame lies: beside each frame

    <dataset_dir>/<split folder>/<pid>/<name>.jpg

its silhouette and its clutter mask,

    <dataset_dir>/silhouettes/<split folder>/<pid>/<name>.png
    <dataset_dir>/clutter/<split folder>/<pid>/<name>.png

8-bit grayscale PNGs of the frame's size: the silhouette 255 where the
tracklet's person is visible, the clutter mask 255 where something other
than the person and the plain scene is (clutter objects, occluders, other
people), 0 elsewhere; never both. The MARS loader reads neither folder."""
import os

import numpy as np
from PIL import Image

DATASET_FOLDER = "synthetic"
SPLIT_FOLDERS = ("bbox_train", "bbox_test")
SILHOUETTE_FOLDER = "silhouettes"
CLUTTER_FOLDER = "clutter"


def mask_path(frame_path: str, folder: str) -> str:
    """<dataset_dir>/<split folder>/<pid>/<name>.jpg ->
    <dataset_dir>/<folder>/<split folder>/<pid>/<name>.png"""
    pid_dir, name = os.path.split(frame_path)
    split_dir, pid = os.path.split(pid_dir)
    dataset_dir, split = os.path.split(split_dir)
    stem, extension = os.path.splitext(name)
    if split not in SPLIT_FOLDERS or not pid or not stem or extension != ".jpg":
        raise ValueError(f"{frame_path} is not a frame of the synthetic dataset: expected"
                         f" <dataset_dir>/{'|'.join(SPLIT_FOLDERS)}/<pid>/<name>.jpg")
    return os.path.join(dataset_dir, folder, split, pid, stem + ".png")


def silhouette_path(frame_path: str) -> str:
    return mask_path(frame_path, SILHOUETTE_FOLDER)


def clutter_path(frame_path: str) -> str:
    return mask_path(frame_path, CLUTTER_FOLDER)


def load_mask(path: str, frame_path: str) -> np.ndarray:
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"no mask {path} for {frame_path}: the dataset is not one the synthetic generator wrote, or was written"
            f" by an older one; `cosam-reid synth --regenerate` writes it again with its recorded settings")
    with Image.open(path) as image:
        return np.asarray(image.convert("L")) >= 128


def load_silhouette(frame_path: str) -> np.ndarray:
    """The silhouette of a synthetic frame, (H, W) bool, True where the
    tracklet's person is visible."""
    return load_mask(silhouette_path(frame_path), frame_path)


def load_clutter(frame_path: str) -> np.ndarray:
    """The clutter mask of a synthetic frame, (H, W) bool, True on clutter
    objects, occluders and other people."""
    return load_mask(clutter_path(frame_path), frame_path)


def frame_has_silhouette(frame) -> bool:
    """Whether a frame (a path) has a silhouette beside it: a frame of a
    synthetic set."""
    try:
        return os.path.isfile(silhouette_path(frame))
    except (TypeError, ValueError):  # an in-memory frame, or a path not laid out as a synthetic frame
        return False
