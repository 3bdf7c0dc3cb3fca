"""Features of a folder of tracklets from a trained checkpoint: one feature
per tracklet folder, computed as evaluation computes test features, written
to a .npz file that numpy alone reads.

The input folder holds one folder per tracklet, each holding the
tracklet's frames (.jpg, .jpeg, .png or .bmp) in temporal order when sorted
by file name. The output holds `names` (T,), the tracklet folders' names in
sorted order, and `features` (T, F) float32, row i the feature of names[i].
"""
import json
import os
from typing import Callable, List, Sequence, Tuple

import numpy as np
import torch

from ..config import load_config
from ..data.tracklets import Tracklet
from ..datasets.common import IMAGE_SUFFIXES, image_files, subfolders
from ..engine.checkpoint import model_from_checkpoint, read_checkpoint
from .features import configured_extraction, describe_sampling, extract_features

#: The evaluation keys that decide how test features are computed, which
#: extraction takes from the config saved in the checkpoint.
FEATURE_KEYS = ("sampling", "frames", "clips_per_batch")


def read_tracklet_folders(folder) -> Tuple[List[str], List[Tracklet]]:
    """The names of the tracklet folders in folder, sorted, and their
    tracklets (frames sorted by file name; identity and camera unused, 0)."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"input folder not found: {folder}")
    names = subfolders(folder)
    if not names:
        raise ValueError(f"no tracklet folders in {folder}: expected one folder of frames per tracklet")
    tracklets = []
    for name in names:
        frames = sorted(image_files(os.path.join(folder, name)))
        if not frames:
            raise ValueError(f"tracklet folder {os.path.join(folder, name)} holds no frames "
                             f"({', '.join(IMAGE_SUFFIXES)} files)")
        tracklets.append(Tracklet(tuple(frames), pid=0, camid=0))
    return names, tracklets


def checkpoint_evaluation(checkpoint, overrides: Sequence[str] = ()):
    """The EvaluationConfig features are extracted with: the packaged
    defaults, then the sampling keys (FEATURE_KEYS) of the config saved in
    the checkpoint (a checkpoint of `cosam-reid train` holds its run's
    config), then the KEY=VALUE overrides."""
    saved = read_checkpoint(checkpoint).get("config", {}).get("evaluation", {})
    inherited = [f"evaluation.{key}={json.dumps(saved[key])}" for key in FEATURE_KEYS if key in saved]
    return load_config(None, inherited + list(overrides)).evaluation


def extract_folder(checkpoint, folder, output, *, overrides: Sequence[str] = (), num_workers: int = 0,
                   progress: bool = True, log: Callable = print) -> Tuple[List[str], torch.Tensor]:
    """Writes the features of the tracklet folders in folder, computed with
    the checkpoint's model as checkpoint_evaluation(checkpoint, overrides)
    says, to output (a .npz file: `names`, `features`), and returns the
    names and the (T, F) features. num_workers processes load frames; log
    receives the line saying what is extracted and how."""
    if not os.fspath(output).endswith(".npz"):
        raise ValueError(f"output {output}: expected a .npz file name")
    parent = os.path.dirname(os.fspath(output)) or "."
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"output folder not found: {parent}")
    names, tracklets = read_tracklet_folders(folder)
    model = model_from_checkpoint(checkpoint)
    evaluation = checkpoint_evaluation(checkpoint, overrides)
    sampling = describe_sampling(model.spec.num_frames, evaluation.sampling, frames_per_tracklet=evaluation.frames)
    log(f"=> {len(tracklets)} tracklets in {folder}; test sampling {sampling}")
    features = extract_features(model, tracklets, **configured_extraction(model, evaluation), num_workers=num_workers,
                                progress=progress)
    np.savez(output, names=np.array(names), features=features.numpy())
    return names, features
