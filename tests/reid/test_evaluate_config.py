"""`cosam-reid evaluate`: a checkpoint scored as a config's evaluation section
says, and each recipe of the paper's tables as one train command and one
evaluate command, on the synthetic set (in the MARS layout) and on fixture
trees of DukeMTMC-VideoReID and iLIDS-VID."""
import glob
import os
import shutil

import pytest
import torch

import cosam_reid
from cosam_reid import cli
from cosam_reid.config import load_config
from cosam_reid.datasets.synthetic import SyntheticConfig, generate
from cosam_reid.evaluation import EvaluationFeatures
from dataset_fixtures import make_duke, make_ilids
from reid_testing import save_model, tiny_model

RECIPES = os.path.join(os.path.dirname(cosam_reid.__file__), "configs", "recipes")
FILES = sorted(glob.glob(os.path.join(RECIPES, "*", "*.yaml")))
# A recipe's run at a size that trains in seconds on the CPU: its model,
# data and evaluation settings otherwise as written.
TINY_RUN = ["data.input_size=[32, 16]", "data.identities_per_batch=2", "data.instances_per_identity=2",
            "data.num_workers=0", "train.device=cpu", "train.epochs=1", "model.backbone=resnet18"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """MARS (the synthetic set, generated in its layout), DukeMTMC-VideoReID
    and iLIDS-VID under one root."""
    root = tmp_path_factory.mktemp("datasets")
    generate(str(root / "mars"), SyntheticConfig(num_identities=4, num_cameras=2, tracklets_per_camera=(1, 1),
                                                tracklet_length=(3, 5), num_distractors=1, num_junk=1,
                                                image_size=(32, 16)), verbose=False)
    make_duke(root), make_ilids(root)
    return root


def run(capsys, *argv):
    status = cli.main([str(arg) for arg in argv])
    output = capsys.readouterr()
    assert status == 0, output.err
    return output.out


@pytest.mark.parametrize("path", FILES, ids=lambda path: os.path.relpath(path, RECIPES))
def test_each_recipe_is_one_train_and_one_evaluate_command(path, root, tmp_path, capsys):
    recipe = load_config(path)
    evaluation = recipe.evaluation
    run_dir = tmp_path / "split_0" if evaluation.average_splits else tmp_path
    run(capsys, "train", "--config", path, *TINY_RUN, f"data.root={root}", f"train.output_dir={run_dir}")
    checkpoint = run_dir / "checkpoint.pt"
    if evaluation.average_splits:
        # One model per split: the other nine runs are copies of the first,
        # which keeps the test short.
        checkpoint = tmp_path / "split_{split}" / "checkpoint.pt"
        for split in range(1, 10):
            shutil.copytree(run_dir, tmp_path / f"split_{split}")
    out = run(capsys, "evaluate", "--config", path, "--checkpoint", checkpoint, f"data.root={root}",
              "data.num_workers=0")
    result = out[out.rindex("Results"):]
    if evaluation.average_splits:
        assert f"mean over 10 splits" in result and f"dataset: {evaluation.dataset} splits 0..9" in result
    else:
        test_set = {"mars": "MARS", "dukemtmc-videoreid": "DukeMTMC-VideoReID"}[evaluation.dataset]
        assert f"dataset: {test_set}\n" in result
    assert f"gallery: {evaluation.gallery_mode}" in result
    assert f"test sampling: {evaluation.sampling}" in result
    assert all(f"R{rank} " in result for rank in evaluation.ranks)


def test_table2_trains_on_one_dataset_and_tests_on_the_other(root, tmp_path, capsys):
    path = os.path.join(RECIPES, "table2_cross_dataset", "dukemtmc_to_mars_cosam45.yaml")
    out = run(capsys, "train", "--config", path, *TINY_RUN, f"data.root={root}", f"train.output_dir={tmp_path}")
    assert "DukeMTMC-VideoReID loaded" in out
    out = run(capsys, "evaluate", "--config", path, "--checkpoint", tmp_path / "checkpoint.pt", f"data.root={root}",
              "data.num_workers=0")
    assert "MARS loaded" in out and "dataset: MARS" in out
    assert "DukeMTMC" not in out


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A tiny model per iLIDS-VID split, each with its own weights."""
    folder = tmp_path_factory.mktemp("checkpoints")
    for split in range(10):
        torch.manual_seed(split)
        save_model(tiny_model(cosam_blocks=(5,)), folder / f"split_{split}.pt")
    return folder


def test_the_ten_split_mean_evaluates_each_split_with_its_own_model(root, checkpoints, tmp_path, capsys):
    features = tmp_path / "features_{split}.pt"
    out = run(capsys, "evaluate", "--checkpoint", checkpoints / "split_{split}.pt", "--dataset", "ilids-vid",
              "--root", root, "--split-id", "all", "--workers", "0", "--save-features", features)
    assert out.count("iLIDS-VID (split") == 2 * 10  # each split loaded and its result printed
    assert "Results (mean over 10 splits)" in out and "dataset: ilids-vid splits 0..9" in out
    per_split = [EvaluationFeatures.load(str(features).format(split=split)) for split in range(10)]
    assert all(not torch.equal(per_split[0].query, other.query) for other in per_split[1:])


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "ilids-vid", "--split-id", "all", "--checkpoint", "{checkpoints}/split_0.pt"],
     "each split has its own model; put {split} in the checkpoint path"),
    (["--dataset", "ilids-vid", "--split-id", "all", "--checkpoint", "{checkpoints}/split_{split}.pt",
      "--save-features", "{checkpoints}/features.pt"], "each split has its own test features; put {split} in"),
    (["--dataset", "mars", "--split-id", "3", "--checkpoint", "{checkpoints}/split_0.pt"],
     "mars has no train/test splits"),
    (["--dataset", "mars", "--checkpoint", "{checkpoints}/split_{split}.pt"],
     "has a {split} placeholder, but the test set has no splits"),
    (["--split-id", "first", "--checkpoint", "{checkpoints}/split_0.pt"],
     "--split-id: expected a split number or 'all', got 'first'"),
])
def test_evaluation_settings_that_cannot_hold_are_refused(argv, message, root, checkpoints, capsys):
    argv = [arg.replace("{checkpoints}", str(checkpoints)) for arg in argv]
    assert cli.main(["evaluate", "--root", str(root), *argv]) == 2
    assert message in capsys.readouterr().err


def test_saved_features_are_scored_under_the_protocol_given(root, checkpoints, tmp_path, capsys):
    features = tmp_path / "features.pt"
    first = run(capsys, "evaluate", "--checkpoint", checkpoints / "split_0.pt", "--dataset", "mars", "--root", root,
                "--workers", "0", "--save-features", features)
    again = run(capsys, "evaluate", "--features", features, "--gallery-mode", "official", "--ap", "trapezoid",
                "--ranks", "1", "2")
    assert "gallery: torchreid" in first and "non-interpolated AP" in first
    assert "gallery: official" in again and "trapezoid AP" in again and "dataset: MARS" in again
    assert "R2 " in again and "R5 " not in again
