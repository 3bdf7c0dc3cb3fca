"""Features of a folder of tracklet folders (cosam_reid.evaluation.extract):
the features the evaluation pipeline computes for the same tracklets, with
the checkpoint's saved evaluation sampling, in a .npz file numpy reads; and
the same features computed without the package, as docs/deploying.md says
an exported model's input is prepared."""
import os
import re

import numpy as np
import pytest
import torch
from PIL import Image

from cosam_reid.config import load_config
from cosam_reid.data.tracklets import Tracklet, VideoReIDDataset, load_frame
from cosam_reid.data.transforms import IMAGENET_MEAN, IMAGENET_STD, EvalTransform
from cosam_reid.engine.checkpoint import model_from_checkpoint
from cosam_reid.evaluation import configured_test_features, extract_features, extract_folder
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


def deploying_page():
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "deploying.md")) as file:
        return file.read()


def documented_preprocessing(page):
    """The functions of the page's numpy block (frame_input, tracklet_feature)."""
    (block,) = [code for code in re.findall(r"```python\n(.*?)```", page, re.DOTALL) if "def frame_input" in code]
    namespace = {}
    exec(block, namespace)
    return namespace


class EagerSession:
    """onnxruntime's InferenceSession.run over the PyTorch model the graph is exported from."""

    def __init__(self, model):
        self.model = model.eval()

    def run(self, outputs, inputs):
        assert outputs == ["features"] and list(inputs) == ["clips"]
        clips = inputs["clips"]
        assert clips.dtype == np.float32 and clips.shape[1:] == (self.model.spec.num_frames, 3,
                                                                  *self.model.spec.input_size)
        with torch.no_grad():
            return [self.model(torch.from_numpy(clips)).numpy()]


def test_the_documented_onnx_input_is_what_evaluation_feeds_the_model(tracklet_folders, checkpoint):
    _, written = tracklet_folders
    page = deploying_page()
    assert f"mean `{IMAGENET_MEAN}`" in page and f"standard deviation `{IMAGENET_STD}`" in page
    documented = documented_preprocessing(page)
    model = model_from_checkpoint(checkpoint)
    height, width = model.spec.input_size
    transform = EvalTransform(model.spec.input_size)
    for tracklet in written.values():
        frame = tracklet.frames[0]
        torch.testing.assert_close(torch.from_numpy(documented["frame_input"](frame, height, width)),
                                   transform(load_frame(frame)))
        feature = documented["tracklet_feature"](EagerSession(model), tracklet.frames, model.spec.num_frames,
                                                 height, width)
        expected = extract_features(model, [tracklet], transform, clip_length=model.spec.num_frames, sampling="dense")
        torch.testing.assert_close(torch.from_numpy(feature), expected[0])
