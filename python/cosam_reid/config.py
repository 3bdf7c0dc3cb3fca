"""The run configuration: typed sections for the model, data, loss, training
and evaluation, built from the packaged defaults (configs/default.yaml, which
documents every key), a YAML file over them, then KEY=VALUE overrides
(dotted keys, YAML values). Only keys of the sections are accepted, each with
a value of its declared type; an unknown key is refused with the nearest
valid one named.

default.yaml is also where the Python API takes its defaults from: a
parameter that stands for a config key (ModelSpec.attention, Protocol.distance,
ReIDLoss's triplet_margin, ...) defaults to packaged_default(key), so that no
default is written twice (tests/reid/test_config.py checks every such
parameter)."""
import copy
import dataclasses
import difflib
import functools
import os
import typing
from typing import Any, Dict, List, Optional

import yaml

DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), "configs", "default.yaml")
CONFIGS = os.path.join(os.path.dirname(__file__), "configs")
RECIPES = os.path.join(CONFIGS, "recipes")


class ConfigError(ValueError):
    pass


# The sections declare names and types only: every value, default included,
# comes from YAML, so default.yaml is the one place a default is written.
@dataclasses.dataclass
class CosamConfig:
    """model.cosam: options of every CosamLayer the model builds."""
    summary_head: str
    reduced_channels: Optional[int]
    implementation: str


@dataclasses.dataclass
class ModelConfig:
    backbone: str
    cosam_blocks: List[int]
    attention: str
    cosam: CosamConfig
    last_stride: int
    temporal_pooling: str
    bn_neck: bool
    pretrained: Optional[str]
    pretrained_layout: Optional[str]


@dataclasses.dataclass
class DataConfig:
    dataset: str
    root: str
    dataset_options: Dict[str, Any]
    num_frames: int
    input_size: List[int]
    sampling: str
    identities_per_batch: int
    instances_per_identity: int
    num_workers: int


@dataclasses.dataclass
class LossConfig:
    label_smoothing: float
    triplet_margin: float
    ce_weight: float
    triplet_weight: float


@dataclasses.dataclass
class TrainConfig:
    epochs: int
    lr: float
    weight_decay: float
    lr_schedule: str
    lr_step_size: int
    lr_gamma: float
    warmup_epochs: int
    amp: bool
    device: str
    seed: int
    deterministic: bool
    freeze_bn: bool
    sync_bn: bool
    checkpoint_every: int
    eval_every: int
    resume: bool
    overwrite: bool
    output_dir: str


@dataclasses.dataclass
class EvaluationConfig:
    dataset: str
    dataset_options: Dict[str, Any]
    average_splits: bool
    gallery_mode: str
    distance: str
    average_precision: str
    ranks: List[int]
    sampling: str
    frames: Optional[int]
    clips_per_batch: int
    rerank: bool
    rerank_k1: int
    rerank_k2: int
    rerank_lambda: float


@dataclasses.dataclass
class Config:
    model: ModelConfig
    data: DataConfig
    loss: LossConfig
    train: TrainConfig
    evaluation: EvaluationConfig

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def config_keys(schema=Config, prefix="") -> List[str]:
    """Every dotted key of the configuration, in declaration order."""
    keys = []
    for field in dataclasses.fields(schema):
        if dataclasses.is_dataclass(field.type):
            keys += config_keys(field.type, f"{prefix}{field.name}.")
        else:
            keys.append(f"{prefix}{field.name}")
    return keys


def load_config(path=None, overrides=()) -> Config:
    """The defaults, updated by the YAML file at path, then by each "a.b=value"."""
    tree = _read_yaml(DEFAULT_CONFIG)
    if path is not None:
        path = resolve_config_path(path)
        _merge(tree, _read_yaml(path), str(path), Config)
    for override in overrides:
        key, separator, text = override.partition("=")
        if not separator or not key:
            raise ConfigError(f"override {override!r} is not KEY=VALUE (e.g. train.epochs=10)")
        update = yaml.safe_load(text)
        for part in reversed(key.split(".")):
            update = {part: update}
        _merge(tree, update, f"override {override!r}", Config)
    return _build(Config, tree, DEFAULT_CONFIG)


def resolve_config_path(path) -> str:
    """path itself when it exists, else the packaged config ("masks") or
    recipe ("table2_cross_dataset/mars_to_dukemtmc_cosam45") it names, with
    or without .yaml."""
    if os.path.exists(path):
        return path
    for folder in (CONFIGS, RECIPES):
        for candidate in (os.path.join(folder, path), os.path.join(folder, f"{path}.yaml")):
            if os.path.isfile(candidate):
                return candidate
    raise FileNotFoundError(f"config file not found: {path} (nor a packaged config or recipe of that name in "
                            f"{CONFIGS})")


def default_config() -> Config:
    return load_config()


@functools.lru_cache(maxsize=1)
def _packaged_defaults() -> Config:
    return load_config()


def packaged_default(key: str):
    """The value default.yaml gives the dotted key ("evaluation.gallery_mode"),
    for the default of a Python parameter that stands for that key. Lists come
    back as tuples."""
    value = _packaged_defaults()
    for part in key.split("."):
        if not dataclasses.is_dataclass(value) or part not in {field.name for field in dataclasses.fields(value)}:
            raise ConfigError(f"packaged_default: no config key {key!r}")
        value = getattr(value, part)
    if dataclasses.is_dataclass(value):
        raise ConfigError(f"packaged_default: {key!r} is a section, not a key")
    return tuple(value) if isinstance(value, list) else copy.deepcopy(value)


def dump_config(config: Config) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)


def save_config(config: Config, path):
    with open(path, "w") as file:
        file.write(dump_config(config))


def _read_yaml(path) -> dict:
    with open(path) as file:
        tree = yaml.safe_load(file) or {}
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of sections, got {type(tree).__name__}")
    return tree


def _merge(tree, update, source, schema, prefix=""):
    """Writes update into tree in place, refusing keys schema does not declare."""
    fields = {field.name: field for field in dataclasses.fields(schema)}
    for key, value in update.items():
        name = f"{prefix}{key}"
        if key not in fields:
            raise ConfigError(f"{source}: unknown config key {name!r}{_suggestion(key, fields, prefix)}")
        section = fields[key].type
        if dataclasses.is_dataclass(section):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {name!r} is a section, got {value!r}")
            _merge(tree.setdefault(key, {}), value, source, section, prefix=f"{name}.")
        elif typing.get_origin(section) is dict and isinstance(tree.get(key), dict):
            # Options merge, so that data.dataset_options.split_id=3 keeps the others.
            tree[key] = {**tree[key], **_checked(name, section, value, source)}
        else:
            tree[key] = _checked(name, section, value, source)


def _suggestion(key, fields, prefix):
    nearest = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.5)
    hint = f"; did you mean {prefix + nearest[0]!r}?" if nearest else ";"
    return f"{hint} valid keys here: {', '.join(prefix + known for known in fields)}"


def _build(schema, tree, source, prefix=""):
    values = {}
    for field in dataclasses.fields(schema):
        name = f"{prefix}{field.name}"
        if field.name not in tree:
            raise ConfigError(f"{source}: no value for {name!r}")
        if dataclasses.is_dataclass(field.type):
            values[field.name] = _build(field.type, tree[field.name], source, prefix=f"{name}.")
        else:
            values[field.name] = _checked(name, field.type, tree[field.name], source)
    return schema(**values)


def _checked(name, annotation, value, source):
    """value as the annotation's type, or a ConfigError naming the key."""
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Union:  # Optional[X]
        return None if value is None else _checked(name, arguments[0], value, source)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{source}: {name!r} must be a list of {arguments[0].__name__}, got {value!r}")
        return [_checked(f"{name}[{index}]", arguments[0], item, source) for index, item in enumerate(value)]
    if origin is dict:  # free-form options, passed on to a loader
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {name!r} must be a mapping of options, got {value!r}")
        return dict(value)
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, str):
        # PyYAML (YAML 1.1) reads 1e-3, without a dot, as a string.
        try:
            return float(value)
        except ValueError:
            pass
    if type(value) is not annotation:
        raise ConfigError(f"{source}: {name!r} must be a {annotation.__name__}, got {value!r}")
    return value
