"""The typed config: defaults, files and overrides, refused keys, and every
key reaching what it configures."""
import glob
import importlib
import inspect
import json
import os
import pkgutil
import re

import pytest
import torch
import yaml

import cosam_reid
from cosam_reid import cli
from cosam_reid.config import (DEFAULT_CONFIG, Config, ConfigError, config_keys, default_config, load_config,
                               packaged_default)
from cosam_reid.data.clips import ClipDataset
from cosam_reid.data.tracklets import VideoReIDDataset
from cosam_reid.data.transforms import EvalTransform
from cosam_reid.engine import DistributedContext, Trainer, train_from_config
from cosam_reid.engine.training_log import read_metrics
from cosam_reid.engine.training_loop import uses_mixed_precision
from cosam_reid.evaluation import evaluate_checkpoint, pipeline
from cosam_reid.models import model_from_config
from dataset_fixtures import make_duke, make_ilids, make_mars
from reid_testing import random_clips, save_model, tiny_config, tiny_model, tiny_tracklets


def test_defaults_are_the_papers_setting():
    config = default_config()
    assert isinstance(config, Config)
    assert config.model.backbone == "resnet50" and config.model.cosam_blocks == [4, 5]
    assert config.model.last_stride == 1 and config.model.bn_neck is False
    assert config.data.num_frames == 4 and config.data.input_size == [256, 128]
    assert (config.data.identities_per_batch, config.data.instances_per_identity) == (8, 4)
    assert config.loss.label_smoothing == 0.1 and config.loss.triplet_margin == 0.3
    assert config.train.lr == 3e-4 and config.train.weight_decay == 5e-4


def value_at(tree, key):
    """The value of a dotted key ("model.cosam.summary_head") in a Config or
    in its to_dict()."""
    for part in key.split("."):
        tree = tree[part] if isinstance(tree, dict) else getattr(tree, part)
    return tree


def section_keys():
    """Dotted names of the sections and subsections ("model", "model.cosam")."""
    return {key.rsplit(".", depth)[0] for key in config_keys() for depth in range(1, key.count(".") + 1)}


def test_the_defaults_file_documents_every_key():
    lines = open(DEFAULT_CONFIG).read().splitlines()
    # A key's line holds a value; a (sub)section's line holds only its name (and a comment).
    keyed = [line for line in lines if re.match(r"^(  )+\w+: *[^#\s]", line)]
    assert len(keyed) == len(config_keys())
    undocumented = [line for line in keyed if "#" not in line]
    assert undocumented == []


def test_the_configuration_page_describes_every_key_with_its_default():
    page = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "configuration.md")
    rows = dict(re.findall(r"^\| `([\w.]+)` \| `([^`]*)` \|", open(page).read(), re.MULTILINE))
    assert sorted(rows) == sorted(config_keys())
    defaults = default_config().to_dict()
    for key, written in rows.items():
        assert yaml.safe_load(written) == value_at(defaults, key), key


# Defaults are written once, in default.yaml: a Python parameter that stands
# for a config key takes its default from there (packaged_default). Every
# parameter of cosam_reid named like a config key is found and checked, so
# that a default written again, and then left behind when default.yaml
# changes, fails here.

#: Parameters that stand for a config key of another name.
MIRRORS = {
    ("cosam_reid.losses.LabelSmoothingCrossEntropy", "epsilon"): "loss.label_smoothing",
    ("cosam_reid.losses.BatchHardTripletLoss", "margin"): "loss.triplet_margin",
    **{(f"cosam_reid.evaluation.{function}", "frames_per_tracklet"): "evaluation.frames"
       for function in ("features.extract_features", "pipeline.compute_test_features", "pipeline.evaluate_model")},
}
#: The key of a name that several sections share, where it is not the evaluation section's.
SHARED_NAME_KEYS = {("cosam_reid.data.clips.ClipDataset", "sampling"): "data.sampling"}
#: Parameter names that never stand for the config key of that name, and why.
NOT_THE_KEY = {
    "num_workers": "frames load in the calling process unless asked; the commands pass data.num_workers",
    "device": "a torch.device (or None: the model's), not the device request",
    "seed": "a component's own seed; a run passes train.seed",
    "dataset": "a dataset object, or the name of what was evaluated",
}
#: Parameters named like a config key that do not stand for it (their
#: defaults do not follow default.yaml), and why.
NOT_THAT_KEY = {
    ("cosam_reid.models.video.ModelSpec", "cosam_blocks"):
        "a model built in Python has COSAM only where asked; [4, 5] is the paper's setting",
    ("cosam_reid.models.resnet.ResNet", "last_stride"): "a plain ResNet's stride; the model passes model.last_stride",
    ("cosam_reid.engine.training_loop.Trainer.fit", "resume"): "fit resumes when asked; train() passes train.resume",
    ("cosam_reid.evaluation.features.clip_indices", "sampling"): "a bare call's plan: dense needs no frame count",
    ("cosam_reid.evaluation.features.describe_sampling", "sampling"): "describes clip_indices' plan",
    ("cosam_reid.evaluation.pipeline.EvaluationFeatures", "sampling"): "the description saved with the features",
    ("cosam_reid.evaluation.results.Protocol", "sampling"): "the description reported with a result",
    ("cosam_reid.commands.options.add_protocol", "average_precision"): "whether --ap is offered, not the AP form",
}


def parameter_defaults():
    """{(where, parameter): default} over the functions, classes and methods of
    every cosam_reid module."""
    found = {}
    for info in pkgutil.walk_packages(cosam_reid.__path__, "cosam_reid."):
        module = importlib.import_module(info.name)
        for item in vars(module).values():
            if getattr(item, "__module__", None) != info.name:
                continue
            where = f"{info.name}.{item.__qualname__}" if hasattr(item, "__qualname__") else None
            callables = []
            if inspect.isclass(item):
                callables = [(where, item)] + [(f"{where}.{name}", member) for name, member in vars(item).items()
                                               if inspect.isfunction(member) and name != "__init__"]
            elif inspect.isfunction(item):
                callables = [(where, item)]
            for name, function in callables:
                try:
                    parameters = inspect.signature(function).parameters.values()
                except (TypeError, ValueError):
                    continue
                found.update({(name, parameter.name): parameter.default for parameter in parameters
                              if parameter.default is not inspect.Parameter.empty})
    return found


def plain(value):
    return list(value) if isinstance(value, tuple) else value


def test_python_defaults_are_the_packaged_defaults():
    defaults = parameter_defaults()
    key_of_name = {}
    for key in config_keys():
        name = key.rsplit(".", 1)[-1]
        if name not in key_of_name or key.startswith("evaluation."):
            key_of_name[name] = key
    checked = dict(MIRRORS)
    for (where, name), default in defaults.items():
        if name in key_of_name and name not in NOT_THE_KEY and (where, name) not in NOT_THAT_KEY:
            checked.setdefault((where, name), SHARED_NAME_KEYS.get((where, name), key_of_name[name]))
    assert ("cosam_reid.evaluation.results.Protocol", "gallery_mode") in checked
    assert ("cosam_reid.models.video.ModelSpec", "attention") in checked
    assert set(MIRRORS) <= set(defaults), "a parameter MIRRORS names is gone: update MIRRORS"
    drifted = {f"{where}({name}={defaults[where, name]!r})": f"{key}: {packaged_default(key)!r}"
               for (where, name), key in checked.items()
               if plain(defaults[where, name]) != plain(packaged_default(key))}
    assert drifted == {}, "write packaged_default(key) as the default instead of the value"
    assert set(NOT_THAT_KEY) <= set(defaults), "a parameter NOT_THAT_KEY names is gone: update NOT_THAT_KEY"


def test_the_protocol_options_default_to_the_packaged_evaluation_section():
    evaluation = default_config().evaluation
    for command in (["benchmark"], ["visualize", "cmc", "features.pt"]):
        args = cli.build_parser().parse_args(command)
        assert (args.gallery_mode, args.distance, args.average_precision) == (
            evaluation.gallery_mode, evaluation.distance, evaluation.average_precision), command


def test_file_then_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model:\n  backbone: se_resnet50\n  cosam_blocks: [2, 3, 4, 5]\ntrain:\n  epochs: 30\n")
    config = load_config(path, ["train.epochs=5", "train.lr=1e-3", "data.input_size=[128, 64]", "train.lr_gamma=1"])
    assert config.model.backbone == "se_resnet50" and config.model.cosam_blocks == [2, 3, 4, 5]
    assert config.train.epochs == 5 and config.train.lr == 1e-3
    assert config.train.lr_gamma == 1.0 and isinstance(config.train.lr_gamma, float)
    assert config.data.input_size == [128, 64] and config.model.last_stride == 1


def test_options_merge_and_optional_settings_take_a_value(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("data:\n  dataset_options:\n    num_identities: 16\n    image_size: [64, 32]\n")
    config = load_config(path, [
        "data.dataset_options.split_id=3", "data.dataset_options={verbose: false, seed: 2}",
        "model.pretrained=/weights/r50.pth", "evaluation.frames=8",
    ])
    assert config.data.dataset_options == {
        "num_identities": 16, "image_size": [64, 32], "split_id": 3, "verbose": False, "seed": 2
    }
    assert config.model.pretrained == "/weights/r50.pth" and config.evaluation.frames == 8


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["train.epoch=5"], r"unknown config key 'train.epoch'; did you mean 'train.epochs'\? valid keys here: "),
        (["evaluation.gallery=official"], r"did you mean 'evaluation.gallery_mode'\?"),
        (["optim.lr=1"], r"unknown config key 'optim'; valid keys here: model, data, loss, train, evaluation"),
        (["model.backbone.depth=50"], r"'model.backbone' must be a str"),
        (["train=5"], r"'train' is a section"),
        (["train.epochs=ten"], r"'train.epochs' must be a int, got 'ten'"),
        (["train.amp=1"], r"'train.amp' must be a bool"),
        (["model.cosam_blocks=[4, five]"], r"'model.cosam_blocks\[1\]' must be a int"),
        (["model.cosam_blocks=4"], r"'model.cosam_blocks' must be a list of int"),
        (["data.dataset_options=3"], r"'data.dataset_options' must be a mapping of options"),
        (["train.epochs"], r"is not KEY=VALUE"),
    ],
)
def test_bad_overrides_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_unknown_key_in_a_file_names_the_file_and_the_nearest_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  cosam_block: [4]\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown config key 'model.cosam_block'; "
                                          r"did you mean 'model.cosam_blocks'\?"):
        load_config(path)


def test_cli_reports_a_bad_key_without_a_traceback(capsys):
    assert cli.main(["train", "model.cosam_block=[4]"]) == 2
    assert "unknown config key 'model.cosam_block'" in capsys.readouterr().err


def test_cli_train_prints_and_saves_the_resolved_config(tmp_path, capsys, monkeypatch):
    requests = []

    def build_dataset(name, root, **options):
        requests.append((name, root, options))
        return VideoReIDDataset("tiny", tiny_tracklets(num_identities=3, tracklets_per_identity=2), [], [])

    monkeypatch.setattr(train_from_config, "build_dataset", build_dataset)
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
    out = capsys.readouterr().out
    assert saved == yaml.safe_load(out[:out.index("\n=> epoch 1/1, ")])  # the config, then what training says
    assert saved["model"]["cosam_blocks"] == [5] and saved["train"]["epochs"] == 1
    assert (output_dir / "checkpoint.pt").exists() and (output_dir / "metrics.csv").exists()


RECIPES_DIR = os.path.join(os.path.dirname(DEFAULT_CONFIG), "recipes")
RECIPES = sorted(glob.glob(os.path.join(RECIPES_DIR, "*", "*.yaml")))


@pytest.mark.parametrize("path", RECIPES, ids=lambda path: os.path.relpath(path, os.path.dirname(DEFAULT_CONFIG)))
def test_every_recipe_loads_through_the_config_loader(path):
    config = load_config(path).to_dict()
    recipe = yaml.safe_load(open(path))
    for section, settings in recipe.items():
        for key, value in settings.items():
            assert config[section][key] == value, f"{section}.{key}"


def test_a_packaged_recipe_is_found_by_its_name(tmp_path):
    by_name = load_config("table2_cross_dataset/mars_to_dukemtmc_cosam45")
    assert by_name == load_config(os.path.join(RECIPES_DIR, "table2_cross_dataset", "mars_to_dukemtmc_cosam45.yaml"))
    assert by_name.evaluation.dataset == "dukemtmc-videoreid"
    with pytest.raises(FileNotFoundError, match="config file not found: table9/none"):
        load_config("table9/none")


def leaves(tree, prefix=""):
    """(dotted key, value) of every key a config file sets; loader options
    (dataset_options) are one value."""
    for name, value in tree.items():
        if f"{prefix}{name}" in section_keys():
            yield from leaves(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value


PACKAGED = sorted(glob.glob(os.path.join(os.path.dirname(DEFAULT_CONFIG), "*.yaml")))


@pytest.mark.parametrize("path", PACKAGED, ids=os.path.basename)
def test_every_packaged_config_loads_through_the_config_loader(path):
    config = load_config(path)
    settings = dict(leaves(yaml.safe_load(open(path))))
    assert settings
    for key, value in settings.items():
        assert value_at(config, key) == value, key


def test_the_paper_summary_head_config_builds_single_conv_heads():
    # Its architecture at a tiny input, so that it builds and runs in a moment.
    config = load_config("paper_summary_head", ["data.input_size=[64, 32]"])
    model = model_from_config(config, num_classes=5).eval()
    assert list(model.cosam) == ["block4", "block5"]
    for layer in model.cosam.values():
        assert layer.summary_head == "paper"
        assert [type(module) for module in layer.spatial_mask_summary] == [torch.nn.Conv2d]
        assert layer.spatial_mask_summary[0].out_channels == 1
    assert model(random_clips()).shape == (2, model.feature_dim)


def test_a_packaged_config_is_found_by_its_name():
    masks = load_config("masks")
    assert masks == load_config("masks.yaml") == load_config(os.path.join(RECIPES_DIR, "..", "masks.yaml"))
    assert (masks.model.cosam_blocks, tuple(masks.data.input_size)) == ([3], (128, 64))


@pytest.mark.parametrize("recipe, attention, cosam_blocks", [
    ("table3_attention/mars_spatial.yaml", "spatial", ["block4", "block5"]),
    ("table4_cosam_positions/resnet50_cosam2_dukemtmc.yaml", "both", ["block2"]),
])
def test_recipes_build_their_model(recipe, attention, cosam_blocks):
    path = os.path.join(os.path.dirname(DEFAULT_CONFIG), "recipes", recipe)
    # The recipe's architecture at a tiny input, so that it builds and runs in a moment.
    config = load_config(path, ["data.input_size=[64, 32]"])
    model = model_from_config(config, num_classes=5).eval()
    assert list(model.cosam) == cosam_blocks
    assert {layer.attention for layer in model.cosam.values()} == {attention}
    assert model(random_clips()).shape == (2, model.feature_dim)


def test_an_unknown_attention_is_refused():
    config = load_config(None, ["model.attention=temporal", "model.backbone=resnet18", "data.input_size=[64, 32]"])
    with pytest.raises(ValueError, match="attention must be one of"):
        model_from_config(config, num_classes=5)


# Every key reaches what it configures: for each key, a value other than its
# default, what a probe finds in the object the key configures when the key
# is honoured, and the probe. Code that dropped the key would leave the
# default's effect, and the probe would find that instead.

def built_model(config):
    return model_from_config(config, num_classes=3)


def last_map_size(config):
    backbone = built_model(config).backbone.eval()
    maps = backbone.stem(torch.randn(1, 3, *config.data.input_size))
    for stage in backbone.stages:
        maps = stage(maps)
    return tuple(maps.shape[2:])


def weights_report(config):
    """The first line of the load report when model.pretrained, a file name
    in the output folder, holds torchvision-keyed ResNet18 weights."""
    if config.model.pretrained:
        source = model_from_config(tiny_config(config.train.output_dir), num_classes=3)
        os.makedirs(config.train.output_dir, exist_ok=True)
        config.model.pretrained = os.path.join(config.train.output_dir, config.model.pretrained)
        torch.save(source.backbone.state_dict(), config.model.pretrained)
    lines = []
    model_from_config(config, num_classes=3, log=lines.append)
    return lines[0].splitlines()[0] if lines else ""


def trainer(config):
    """The Trainer train(config) builds (no epochs run) on a tiny in-memory set."""
    config.train.epochs = 0
    return train_from_config.train(config, VideoReIDDataset("tiny", tiny_tracklets(num_identities=4), [], []))


def bare_trainer(config):
    """A Trainer of config, as built before fit()."""
    clips = ClipDataset(tiny_tracklets(num_identities=4), config.data.num_frames, EvalTransform((64, 32)))
    return Trainer(built_model(config), clips, config)


def lr_multiple(config, epoch):
    """The multiple of train.lr the Trainer's schedule gives epoch (from 0)."""
    return bare_trainer(config).scheduler.lr_lambdas[0](epoch)


def evaluations_in_one_epoch(config):
    """Evaluations logged by a one-epoch train(config) with a test split."""
    config.train.epochs = 1
    tracklets = tiny_tracklets(num_identities=3, seed=1)
    dataset = VideoReIDDataset("tiny", tiny_tracklets(num_identities=3), [t for t in tracklets if t.camid == 0],
                               [t for t in tracklets if t.camid == 1])
    train_from_config.train(config, dataset)
    return sum(not row["step"] for row in read_metrics(config.train.output_dir))


def second_fresh_run_refused(config):
    """Whether a second train(config) without resume, after a first of one epoch, is refused."""
    config.train.resume, config.train.epochs = False, 1
    dataset = VideoReIDDataset("tiny", tiny_tracklets(num_identities=3), [], [])
    train_from_config.train(config, dataset)
    return error_of(lambda: train_from_config.train(config, dataset)) is not None


def requested_dataset(config, monkeypatch):
    """(name, root, options) that train(config) asks build_dataset for."""
    requests = []

    def build_dataset(name, root, **options):
        requests.append((name, root, options))
        return VideoReIDDataset(name, tiny_tracklets(num_identities=4), [], [])

    monkeypatch.setattr(train_from_config, "build_dataset", build_dataset)
    config.train.epochs = 0
    train_from_config.train(config)
    return requests[0]


def steps_of_a_second_run(config):
    """Steps a second train(config) runs after a first one finished its one epoch."""
    config.train.epochs = 1
    dataset = VideoReIDDataset("tiny", tiny_tracklets(num_identities=3), [], [])
    train_from_config.train(config, dataset)
    steps = []
    train_from_config.train(config, dataset, hooks=[lambda trainer: steps.append(trainer.progress.global_step)])
    return steps


def deterministic_after_training(config):
    try:
        trainer(config)
        return torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(False)


def error_of(build):
    try:
        build()
    except (ValueError, RuntimeError) as error:
        return str(error)
    return None


def distributed_trainer(config):
    clips = ClipDataset(tiny_tracklets(num_identities=6), config.data.num_frames, EvalTransform((64, 32)))
    return Trainer(built_model(config), clips, config, DistributedContext(0, 2))


@pytest.fixture(scope="module")
def evaluation_root(tmp_path_factory):
    """Fixture trees of MARS, DukeMTMC-VideoReID and iLIDS-VID under one
    root, and a tiny checkpoint for each iLIDS-VID split."""
    root = tmp_path_factory.mktemp("datasets")
    make_mars(root), make_duke(root), make_ilids(root)
    torch.manual_seed(0)
    model = tiny_model(cosam_blocks=(5,))
    for split in range(10):
        save_model(model, root / f"split_{split}.pt")
    return root


def evaluated(config, root):
    """The result of the tiny checkpoint(s) under config.evaluation."""
    checkpoint = root / ("split_{split}.pt" if config.evaluation.average_splits else "split_0.pt")
    return evaluate_checkpoint(str(checkpoint), config.evaluation, str(root), log=lambda line: None)


def clips_per_batch_used(config, root, monkeypatch):
    requests = []
    compute = pipeline.compute_test_features

    def recording(*args, **options):
        requests.append(options["clips_per_batch"])
        return compute(*args, **options)

    monkeypatch.setattr(pipeline, "compute_test_features", recording)
    evaluated(config, root)
    return requests[0]


#: key -> (value, what the probe finds when the key is honoured, probe(config, root, monkeypatch),
#: other overrides the probe needs).
REACHES = {
    "model.backbone": ("resnet34", "resnet34", lambda c, r, m: built_model(c).spec.backbone, []),
    "model.cosam_blocks": ([3], ["block3"], lambda c, r, m: list(built_model(c).cosam), []),
    "model.attention": ("channel", {"channel"},
                        lambda c, r, m: {layer.attention for layer in built_model(c).cosam.values()}, []),
    # Each layer's option, and what it builds: the paper's head is one conv, D the reduction's width.
    "model.cosam.summary_head": ("paper", {("paper", 1)}, lambda c, r, m: {
        (layer.summary_head, len(layer.spatial_mask_summary)) for layer in built_model(c).cosam.values()}, []),
    "model.cosam.reduced_channels": (32, {(32, 32)}, lambda c, r, m: {
        (layer.reduced_channels, layer.dim_reduction[0].out_channels) for layer in built_model(c).cosam.values()},
        []),
    "model.cosam.implementation": ("reference", {"reference"},
                                   lambda c, r, m: {layer.implementation for layer in built_model(c).cosam.values()},
                                   []),
    "model.last_stride": (2, (2, 1), lambda c, r, m: last_map_size(c), []),
    "model.temporal_pooling": ("attention", "TemporalAttention",
                               lambda c, r, m: type(built_model(c).temporal_pooling).__name__, []),
    "model.bn_neck": (True, True, lambda c, r, m: built_model(c).bn_neck is not None, []),
    "model.pretrained": ("resnet18.pth", True, lambda c, r, m: weights_report(c).startswith("ImageNet weights"), []),
    "model.pretrained_layout": ("timm", True, lambda c, r, m: "(timm layout)" in weights_report(c),
                                ["model.pretrained=resnet18.pth"]),
    "data.dataset": ("prid2011", "prid2011", lambda c, r, m: requested_dataset(c, m)[0], []),
    "data.root": ("/datasets", "/datasets", lambda c, r, m: requested_dataset(c, m)[1], []),
    "data.dataset_options": ({"split_id": 4}, {"split_id": 4}, lambda c, r, m: requested_dataset(c, m)[2], []),
    "data.num_frames": (3, (3, 3), lambda c, r, m: (built_model(c).spec.num_frames, trainer(c).dataset.num_frames),
                        []),
    "data.input_size": ([96, 48], (96, 48), lambda c, r, m: built_model(c).spec.input_size, []),
    "data.sampling": ("random", "random", lambda c, r, m: trainer(c).dataset.sampling, []),
    "data.identities_per_batch": (2, 2, lambda c, r, m: trainer(c).sampler.identities_per_batch, []),
    "data.instances_per_identity": (3, 3, lambda c, r, m: trainer(c).sampler.instances_per_identity, []),
    "data.num_workers": (1, 1, lambda c, r, m: trainer(c).num_workers, []),
    "loss.label_smoothing": (0.2, 0.2, lambda c, r, m: trainer(c).criterion.cross_entropy.epsilon, []),
    "loss.triplet_margin": (0.5, 0.5, lambda c, r, m: trainer(c).criterion.triplet.margin, []),
    "loss.ce_weight": (0.5, 0.5, lambda c, r, m: trainer(c).criterion.ce_weight, []),
    "loss.triplet_weight": (2.0, 2.0, lambda c, r, m: trainer(c).criterion.triplet_weight, []),
    "train.epochs": (3, 3, lambda c, r, m: bare_trainer(c).epochs, []),
    "train.lr": (0.01, 0.01, lambda c, r, m: trainer(c).optimizer.param_groups[0]["lr"], []),
    "train.weight_decay": (0.01, 0.01, lambda c, r, m: trainer(c).optimizer.param_groups[0]["weight_decay"], []),
    "train.lr_schedule": ("cosine", 0.5, lambda c, r, m: lr_multiple(c, c.train.epochs // 2), []),
    "train.lr_step_size": (7, 0.1, lambda c, r, m: lr_multiple(c, 7), []),
    "train.lr_gamma": (0.5, 0.5, lambda c, r, m: lr_multiple(c, c.train.lr_step_size), []),
    "train.warmup_epochs": (2, 0.5, lambda c, r, m: lr_multiple(c, 0), []),
    # On this CPU-only machine: what a CUDA run would do.
    "train.amp": (False, False, lambda c, r, m: uses_mixed_precision(c.train, torch.device("cuda")), []),
    "train.device": ("cuda", "train.device is cuda, but torch sees no CUDA device here: train.device=cpu (or auto) "
                             "trains on the CPU",
                     lambda c, r, m: error_of(lambda: trainer(c)), []),
    "train.seed": (5, 5, lambda c, r, m: trainer(c).sampler.seed, []),
    "train.deterministic": (True, True, lambda c, r, m: deterministic_after_training(c), []),
    "train.freeze_bn": (True, True, lambda c, r, m: trainer(c).freeze_bn, []),
    "train.sync_bn": (True, "train.sync_bn needs CUDA (torch's SyncBatchNorm has no CPU implementation)",
                      lambda c, r, m: error_of(lambda: distributed_trainer(c)), []),
    "train.checkpoint_every": (5, 5, lambda c, r, m: trainer(c).checkpoint_every, []),
    "train.eval_every": (1, 1, lambda c, r, m: evaluations_in_one_epoch(c), []),
    "train.resume": (False, [1], lambda c, r, m: steps_of_a_second_run(c), ["train.overwrite=true"]),
    "train.overwrite": (True, False, lambda c, r, m: second_fresh_run_refused(c), []),
    "train.output_dir": ("elsewhere", "elsewhere", lambda c, r, m: os.path.basename(trainer(c).output_dir), []),
    "evaluation.dataset": ("dukemtmc-videoreid", "DukeMTMC-VideoReID",
                           lambda c, r, m: evaluated(c, r).protocol.dataset, []),
    "evaluation.dataset_options": ({"split_id": 3}, "iLIDS-VID (split 3 of 10)",
                                   lambda c, r, m: evaluated(c, r).protocol.dataset, ["evaluation.dataset=ilids-vid"]),
    "evaluation.average_splits": (True, 10, lambda c, r, m: evaluated(c, r).num_splits,
                                  ["evaluation.dataset=ilids-vid"]),
    "evaluation.gallery_mode": ("official", "official", lambda c, r, m: evaluated(c, r).protocol.gallery_mode, []),
    "evaluation.distance": ("cosine", "cosine", lambda c, r, m: evaluated(c, r).protocol.distance, []),
    "evaluation.average_precision": ("trapezoid", "trapezoid",
                                     lambda c, r, m: evaluated(c, r).protocol.average_precision, []),
    "evaluation.ranks": ([1, 3], [1, 3], lambda c, r, m: list(evaluated(c, r).cmc), []),
    "evaluation.sampling": ("evenly", "evenly: 3 evenly spaced frames in 4-frame clips, clip features averaged",
                            lambda c, r, m: evaluated(c, r).protocol.sampling, ["evaluation.frames=3"]),
    "evaluation.frames": (5, "evenly: 5 evenly spaced frames in 4-frame clips, clip features averaged",
                          lambda c, r, m: evaluated(c, r).protocol.sampling,
                          ["evaluation.sampling=evenly", "evaluation.frames=3"]),
    "evaluation.clips_per_batch": (2, 2, lambda c, r, m: clips_per_batch_used(c, r, m), []),
    "evaluation.rerank": (True, True, lambda c, r, m: evaluated(c, r).protocol.rerank, []),
    "evaluation.rerank_k1": (5, 5, lambda c, r, m: evaluated(c, r).protocol.rerank_k1, ["evaluation.rerank=true"]),
    "evaluation.rerank_k2": (2, 2, lambda c, r, m: evaluated(c, r).protocol.rerank_k2, ["evaluation.rerank=true"]),
    "evaluation.rerank_lambda": (0.5, 0.5, lambda c, r, m: evaluated(c, r).protocol.rerank_lambda,
                                 ["evaluation.rerank=true"]),
}


def test_every_key_has_a_reach_test():
    assert sorted(REACHES) == sorted(config_keys())


@pytest.mark.parametrize("key", sorted(REACHES))
def test_each_key_reaches_what_it_configures(key, tmp_path, evaluation_root, monkeypatch):
    value, honoured, probe, needed = REACHES[key]
    defaults = tiny_config(tmp_path, *needed)
    assert value_at(defaults, key) != value, f"{key}: the test value is the default"
    override = f"{key}={json.dumps(value)}"
    if key == "train.output_dir":
        override = f"{key}={tmp_path / value}"
    config = tiny_config(tmp_path, *needed, override)
    assert probe(config, evaluation_root, monkeypatch) == honoured
    assert probe(tiny_config(tmp_path / "default", *needed), evaluation_root, monkeypatch) != honoured
