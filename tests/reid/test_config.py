import glob
import os
import subprocess
import sys
import types

import pytest
import yaml

from cosam_reid import cli
from cosam_reid.config import DEFAULT_CONFIG, ConfigError, default_config, load_config
from cosam_reid.data.tracklets import VideoReIDDataset
from cosam_reid.engine.train_command import build_training_model
from reid_testing import random_clips, tiny_tracklets


def test_defaults_are_the_papers_setting():
    config = default_config()
    assert config["model"]["backbone"] == "resnet50"
    assert config["model"]["cosam_blocks"] == [4, 5]
    assert config["model"]["last_stride"] == 1 and config["model"]["bn_neck"] is False
    assert config["data"]["num_frames"] == 4 and config["data"]["input_size"] == [256, 128]
    assert (config["data"]["identities_per_batch"], config["data"]["instances_per_identity"]) == (8, 4)
    assert config["loss"]["label_smoothing"] == 0.1 and config["loss"]["triplet_margin"] == 0.3
    assert config["train"]["lr"] == 3e-4 and config["train"]["weight_decay"] == 5e-4


def test_file_then_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model:\n  backbone: se_resnet50\n  cosam_blocks: [2, 3, 4, 5]\ntrain:\n  epochs: 30\n")
    config = load_config(path, ["train.epochs=5", "train.lr=1e-3", "data.input_size=[128, 64]", "train.lr_gamma=1"])
    assert config["model"]["backbone"] == "se_resnet50"
    assert config["model"]["cosam_blocks"] == [2, 3, 4, 5]
    assert config["train"]["epochs"] == 5
    assert config["train"]["lr"] == 1e-3
    assert config["train"]["lr_gamma"] == 1.0 and isinstance(config["train"]["lr_gamma"], float)
    assert config["data"]["input_size"] == [128, 64]
    assert config["model"]["last_stride"] == 1


def test_free_form_and_optional_settings(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("data:\n  dataset_options:\n    num_identities: 16\n    image_size: [64, 32]\n")
    config = load_config(path, [
        "data.dataset_options.split_id=3", "data.dataset_options={verbose: false, seed: 2}",
        "model.pretrained=/weights/r50.pth",
    ])
    assert config["data"]["dataset_options"] == {
        "num_identities": 16, "image_size": [64, 32], "split_id": 3, "verbose": False, "seed": 2
    }
    assert config["model"]["pretrained"] == "/weights/r50.pth"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["train.epoch=5"], r"unknown config key 'train.epoch'; valid keys here: train.epochs"),
        (["optim.lr=1"], r"unknown config key 'optim'"),
        (["model.backbone.depth=50"], r"'model.backbone' must be a str"),
        (["train=5"], r"'train' is a section"),
        (["train.epochs=ten"], r"'train.epochs' must be a int .*'ten'"),
        (["train.amp=1"], r"'train.amp' must be a bool"),
        (["train.epochs"], r"is not KEY=VALUE"),
    ],
)
def test_bad_overrides_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_unknown_key_in_a_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  cosam_block: [4]\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown config key 'model.cosam_block'"):
        load_config(path)


def test_cli_reports_a_bad_key_without_a_traceback(capsys):
    assert cli.main(["train", "model.cosam_block=[4]"]) == 2
    assert "unknown config key 'model.cosam_block'" in capsys.readouterr().err


def test_cli_train_prints_and_saves_the_resolved_config(tmp_path, capsys, monkeypatch):
    requests = []

    def build_dataset(name, root, **options):
        requests.append((name, root, options))
        return VideoReIDDataset("tiny", tiny_tracklets(num_identities=3, tracklets_per_identity=2), [], [])

    # The dataset loaders are another module's; the command only names one.
    monkeypatch.setitem(sys.modules, "cosam_reid.datasets", types.SimpleNamespace(build_dataset=build_dataset))
    path = tmp_path / "run.yaml"
    path.write_text("model:\n  backbone: resnet18\n  cosam_blocks: [5]\ndata:\n  dataset: tiny\n")
    output_dir = tmp_path / "run"
    status = cli.main([
        "train", "--config", str(path), f"train.output_dir={output_dir}", "train.epochs=1", "data.root=/data",
        "data.dataset_options.split_id=2", "data.input_size=[64, 32]", "data.identities_per_batch=3",
        "data.instances_per_identity=2", "data.num_workers=0", "train.device=cpu",
    ])
    assert status == 0
    assert requests == [("tiny", "/data", {"split_id": 2})]
    saved = yaml.safe_load((output_dir / "config.yaml").read_text())
    assert saved == yaml.safe_load(capsys.readouterr().out)
    assert saved["model"]["cosam_blocks"] == [5] and saved["train"]["epochs"] == 1
    assert (output_dir / "checkpoint.pt").exists() and (output_dir / "metrics.csv").exists()


def test_console_script_lists_train():
    result = subprocess.run([sys.executable, "-m", "cosam_reid.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "train" in result.stdout


RECIPES = sorted(glob.glob(os.path.join(os.path.dirname(DEFAULT_CONFIG), "recipes", "*", "*.yaml")))


def test_there_is_a_recipe_for_every_run_of_the_five_tables():
    tables = {os.path.basename(os.path.dirname(path)).split("_")[0] for path in RECIPES}
    assert tables == {"table1", "table2", "table3", "table4", "table5"} and len(RECIPES) == 52


@pytest.mark.parametrize("path", RECIPES, ids=lambda path: os.path.relpath(path, os.path.dirname(DEFAULT_CONFIG)))
def test_every_recipe_loads_through_the_config_loader(path):
    config = load_config(path)
    recipe = yaml.safe_load(open(path))
    for section, settings in recipe.items():
        for key, value in settings.items():
            assert config[section][key] == value, f"{section}.{key}"


@pytest.mark.parametrize("recipe, attention, cosam_blocks", [
    ("table3_attention/mars_spatial.yaml", "spatial", ["block4", "block5"]),
    ("table4_cosam_positions/resnet50_cosam2_dukemtmc.yaml", "both", ["block2"]),
])
def test_recipes_build_their_model(recipe, attention, cosam_blocks):
    path = os.path.join(os.path.dirname(DEFAULT_CONFIG), "recipes", recipe)
    # The recipe's architecture at a tiny input, so that it builds and runs in a moment.
    config = load_config(path, ["data.input_size=[64, 32]"])
    model = build_training_model(config, num_classes=5).eval()
    assert list(model.cosam) == cosam_blocks
    assert {layer.attention for layer in model.cosam.values()} == {attention}
    assert model(random_clips()).shape == (2, model.feature_dim)


def test_an_unknown_attention_is_refused():
    config = load_config(None, ["model.attention=temporal", "model.backbone=resnet18", "data.input_size=[64, 32]"])
    with pytest.raises(ValueError, match="attention must be one of"):
        build_training_model(config, num_classes=5)
