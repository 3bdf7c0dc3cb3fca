"""The synthetic dataset on disk, and the one rule for it: a dataset is
never lost. Whatever loads it gets the dataset under `root` as it is, or
one written there on first use; settings asked for that differ from those
recorded, or a dataset of an older generator, are refused with a message
naming the command that would rewrite it. Only `regenerate` (`cosam-reid
synth --regenerate`) deletes and rewrites a dataset, with its recorded
settings except those given."""
import dataclasses
import os
import shutil

from ..mars import load_mars
from .layout import DATASET_FOLDER
from .settings import (GENERATOR_VERSION, MANIFEST, SyntheticConfig, as_json, describe, manifest_version, read_manifest,
                       recorded_settings, synth_command)
from .writer import generate


class SyntheticDatasetMismatch(ValueError):
    """The synthetic dataset on disk is not the one asked for; it is left as is."""


def ensure_dataset(root, settings=None, verbose: bool = True, regenerate: bool = False) -> str:
    """The dataset folder under `root`: the dataset there, or one written
    with `settings` (a mapping of SyntheticConfig fields; the others at
    their defaults) where there is none. With `regenerate`, the dataset
    there is deleted and written again with its recorded settings updated
    by `settings`. A folder without a manifest is never touched."""
    config = SyntheticConfig.from_settings(dict(settings or {}))
    normalised = as_json(dataclasses.asdict(config))  # (32, 16) and [32, 16], 1 and 1.0 alike
    asked = {name: normalised[name] for name in settings or {}}
    dataset_dir = os.path.join(root, DATASET_FOLDER)
    manifest = read_manifest(dataset_dir)
    if manifest is None:
        if os.path.exists(dataset_dir):
            raise FileExistsError(f"{dataset_dir} exists but holds no {MANIFEST}: not a synthetic dataset, left as is")
        generate(dataset_dir, config, verbose)
        return dataset_dir
    recorded = recorded_settings(manifest)
    if regenerate:
        config = SyntheticConfig.from_settings({**recorded, **asked})
        shutil.rmtree(dataset_dir)
        generate(dataset_dir, config, verbose)
        return dataset_dir
    version = manifest_version(manifest)
    if version != GENERATOR_VERSION:
        raise SyntheticDatasetMismatch(
            f"{dataset_dir} was written by version {version} of the synthetic generator, this is version "
            f"{GENERATOR_VERSION}; `{synth_command(root, asked)}` rewrites it (recorded settings kept unless given)")
    differing = [name for name in asked if asked[name] != recorded[name]]
    if differing:
        raise SyntheticDatasetMismatch(
            f"{dataset_dir} holds the synthetic dataset made with {describe({n: recorded[n] for n in differing})}, "
            f"asked for {describe({n: asked[n] for n in differing})}; left as is: ask for what it holds (or nothing), "
            f"use another root, or rewrite it with `{synth_command(root, asked)}`")
    return dataset_dir


def load_synthetic(root, *, verbose: bool = True, regenerate: bool = False, **settings):
    """The synthetic dataset under `root` (ensure_dataset's), read by the
    MARS loader."""
    dataset_dir = ensure_dataset(root, settings, verbose, regenerate)
    return load_mars(dataset_dir, verbose=verbose, name="synthetic (MARS layout)")
