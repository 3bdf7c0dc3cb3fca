"""Checkpoints: written atomically, checked against the model they load into.

A training checkpoint holds everything a run needs to continue; a weights
file (export_weights, and a run's best.pt) only the model's spec and
weights, which is all that evaluating, exporting or drawing a model reads."""
import dataclasses
import os

import torch

from ..models import ModelSpec, VideoReIDModel

CHECKPOINT_NAME = "checkpoint.pt"
#: The weights of the best evaluation of a run (train.eval_every), beside its checkpoint.
BEST_NAME = "best.pt"
#: What a weights file holds, and what every checkpoint holds among the rest.
WEIGHTS_KEYS = ("model_spec", "model")
#: ModelSpec fields added after the first checkpoints were written, with what
#: a checkpoint without them was built with (history, not defaults).
SPEC_FIELDS_ADDED = {"attention": "both", "summary_head": "authors", "reduced_channels": None,
                     "implementation": "fused"}
#: ModelSpec fields that change how the model computes, not its parameters:
#: a checkpoint loads into a model that differs in them.
COMPUTATION_ONLY_FIELDS = ("implementation",)


def atomic_save(payload, path):
    """torch.save to a temporary file beside path, flushed to disk, then renamed
    over path: a kill leaves the old checkpoint or the new one, never half of one."""
    path = os.fspath(path)
    temporary = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        with open(temporary, "wb") as file:
            torch.save(payload, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def load_torch_file(path, what, map_location="cpu"):
    """torch.load with weights_only; a missing file raises FileNotFoundError
    and a truncated or foreign one a one-line ValueError, each naming what
    the file was to hold ("checkpoint"; torch's own messages run over many lines)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except OSError:
        raise
    except Exception as error:
        # Unpickling a foreign file fails wherever its bytes lead the reader:
        # KeyError, IndexError, UnpicklingError, ... (a text file gives "KeyError: 101").
        raise ValueError(f"cannot load the {what} {path}: not a file torch.save wrote, or a damaged one "
                         f"({_first_line(error)})") from error


def _first_line(error):
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


def read_checkpoint(path, map_location="cpu"):
    checkpoint = load_torch_file(path, "checkpoint", map_location)
    if not isinstance(checkpoint, dict) or any(key not in checkpoint for key in WEIGHTS_KEYS):
        raise ValueError(f"{path} is not a cosam_reid checkpoint (no model_spec/model entries)")
    return checkpoint


def weights_payload(model):
    """What a weights file holds: the model's spec and weights."""
    return {"model_spec": spec_payload(model.spec), "model": model.state_dict()}


def export_weights(checkpoint, output):
    """Writes the model spec, weights and run config of checkpoint (a
    training checkpoint, or any file read_checkpoint accepts) to output, without the
    optimizer state and the rest a resume needs: a file to share, which
    loads wherever a checkpoint is evaluated. Returns output."""
    saved = read_checkpoint(checkpoint)
    if os.path.exists(output) and os.path.samefile(checkpoint, output):
        raise ValueError(f"the weights would overwrite the checkpoint {checkpoint}: choose another output path")
    # The config (a few KB) goes along where there is one: extract samples as its evaluation section says.
    atomic_save({key: saved[key] for key in (*WEIGHTS_KEYS, "config") if key in saved}, output)
    return output


def check_model_spec(checkpoint, model, path):
    """Raises naming each field where the checkpoint's model differs from model."""
    saved = _spec_dict(saved_spec(checkpoint))
    own = _spec_dict(model.spec)
    differences = [
        f"{field}: {saved[field]!r} in the checkpoint, {own[field]!r} in the model"
        for field in own
        if saved[field] != own[field] and field not in COMPUTATION_ONLY_FIELDS
    ]
    if differences:
        raise ValueError(f"checkpoint {path} is of another architecture:\n  " + "\n  ".join(differences))


def load_model_weights(model, path, map_location="cpu"):
    """Loads the model weights of a checkpoint into model after checking that
    the checkpoint was saved from a model of the same spec."""
    checkpoint = read_checkpoint(path, map_location)
    check_model_spec(checkpoint, model, path)
    model.load_state_dict(checkpoint["model"])
    return checkpoint


def model_from_checkpoint(path, map_location="cpu"):
    """The VideoReIDModel a checkpoint was saved from, with its weights."""
    checkpoint = read_checkpoint(path, map_location)
    model = VideoReIDModel(saved_spec(checkpoint))
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as error:  # weights that do not fit the saved spec
        raise ValueError(f"cannot load the checkpoint {path}: {_first_line(error)}") from error
    return model


def saved_spec(checkpoint) -> ModelSpec:
    """The ModelSpec a checkpoint was saved with; fields it predates take
    the values the model it was saved from had."""
    return ModelSpec(**{**SPEC_FIELDS_ADDED, **checkpoint["model_spec"]})


def spec_payload(spec):
    """The ModelSpec as plain lists and numbers (checkpoints load with weights_only)."""
    return {field: list(value) if isinstance(value, tuple) else value for field, value in _spec_dict(spec).items()}


def _spec_dict(spec):
    return dataclasses.asdict(spec)
