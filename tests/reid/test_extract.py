"""Features of a folder of tracklet folders (cosam_reid.evaluation.extract):
the features the evaluation pipeline computes for the same tracklets, with
the checkpoint's saved evaluation sampling, in a .npz file numpy reads."""
import numpy as np
import pytest
import torch
from PIL import Image

from cosam_reid.config import load_config
from cosam_reid.data.tracklets import Tracklet, VideoReIDDataset
from cosam_reid.engine.checkpoint import model_from_checkpoint
from cosam_reid.evaluation import configured_test_features, extract_folder
from cosam_reid.evaluation.extract import checkpoint_evaluation
from reid_testing import save_model, tiny_model, tiny_tracklets

# Written in this order; read back sorted by name.
FOLDER_NAMES = ["walker_b", "walker_a", "walker_c"]
#: The evaluation a checkpoint of `cosam-reid train` saves with these overrides.
SAVED_SAMPLING = ["evaluation.sampling=evenly", "evaluation.frames=5", "evaluation.clips_per_batch=2"]


@pytest.fixture(scope="module")
def tracklet_folders(tmp_path_factory):
    """FOLDER_NAMES, each holding a tracklet's frames as PNG files (lossless:
    the features are those of the arrays), and the tracklets of those paths
    in the order they were written."""
    root = tmp_path_factory.mktemp("tracklets")
    written = {}
    for name, tracklet in zip(FOLDER_NAMES, tiny_tracklets(num_identities=3, tracklets_per_identity=1)):
        (root / name).mkdir()
        paths = []
        for position, frame in enumerate(tracklet.frames):
            paths.append(str(root / name / f"frame_{position:03d}.png"))
            Image.fromarray(frame).save(paths[-1])
        written[name] = Tracklet(tuple(paths), pid=tracklet.pid, camid=0)
    return root, written


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A checkpoint holding, as `cosam-reid train` writes, its run's config."""
    path = save_model(tiny_model(), tmp_path_factory.mktemp("run") / "checkpoint.pt")
    contents = torch.load(path, weights_only=True)
    contents["config"] = load_config(None, SAVED_SAMPLING).to_dict()
    torch.save(contents, path)
    return path


def test_features_are_those_evaluation_computes_for_the_same_tracklets(tracklet_folders, checkpoint, tmp_path):
    root, written = tracklet_folders
    names, features = extract_folder(checkpoint, root, tmp_path / "features.npz", progress=False, log=lambda line: None)
    assert names == sorted(FOLDER_NAMES)

    model = model_from_checkpoint(checkpoint)
    tracklets = [written[name] for name in names]
    dataset = VideoReIDDataset("folders", train=[], query=tracklets, gallery=tracklets)
    expected = configured_test_features(model, dataset, load_config(None, SAVED_SAMPLING).evaluation).query
    torch.testing.assert_close(features, expected)
    # The same sampling differs from the default one on these tracklets, so the saved config was used.
    assert not torch.allclose(features, configured_test_features(model, dataset, load_config().evaluation).query)

    saved = np.load(tmp_path / "features.npz")  # no pickle: plain string and float arrays
    assert sorted(saved.files) == ["features", "names"]
    assert saved["names"].tolist() == names
    assert saved["features"].dtype == np.float32 and saved["features"].shape == (3, model.feature_dim)
    np.testing.assert_array_equal(saved["features"], features.numpy())


def test_sampling_is_the_checkpoints_then_the_overrides(checkpoint, tmp_path):
    saved = checkpoint_evaluation(checkpoint)
    assert (saved.sampling, saved.frames, saved.clips_per_batch) == ("evenly", 5, 2)
    overridden = checkpoint_evaluation(checkpoint, ["evaluation.sampling=dense"])
    assert (overridden.sampling, overridden.frames, overridden.clips_per_batch) == ("dense", 5, 2)
    # A checkpoint without a config: the packaged defaults.
    bare = checkpoint_evaluation(save_model(tiny_model(), tmp_path / "bare.pt"))
    assert bare == load_config().evaluation


def test_loader_workers_give_the_same_file(tracklet_folders, checkpoint, tmp_path):
    root, _ = tracklet_folders
    quiet = dict(progress=False, log=lambda line: None)
    _, in_process = extract_folder(checkpoint, root, tmp_path / "a.npz", **quiet)
    _, from_workers = extract_folder(checkpoint, root, tmp_path / "b.npz", num_workers=2, **quiet)
    torch.testing.assert_close(from_workers, in_process)
