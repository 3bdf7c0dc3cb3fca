"""`cosam-reid train`: train(config) on the resolved config."""
import os
import shlex

from ..config import load_config
from ..engine import train
from ..engine.checkpoint import CHECKPOINT_NAME
from . import options

#: Keys the command that continues an interrupted run sets itself.
RESUME_KEYS = ("train.resume", "train.overwrite")


def add_parser(subparsers):
    parser = subparsers.add_parser("train", help="train a video re-ID model (YAML config plus KEY=VALUE overrides)",
                                   description="Train as the config says; under torchrun, one process per rank.")
    options.add_config(parser)
    options.add_overrides(parser, "the config")
    parser.set_defaults(run=run)


def run(args):
    config = load_config(args.config, args.overrides)
    try:
        train(config)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(continue_hint(args, config.train.output_dir)) from None


def continue_hint(args, output_dir):
    """What to run after Ctrl-C: this command with train.resume=true."""
    words = ["cosam-reid", "train"] + (["--config", args.config] if args.config else [])
    words += [override for override in args.overrides if override.partition("=")[0] not in RESUME_KEYS]
    command = shlex.join(words + ["train.resume=true"])
    checkpoint = os.path.join(output_dir, CHECKPOINT_NAME)
    if os.path.exists(checkpoint):
        return f"continue from {checkpoint} with: {command}"
    return f"no checkpoint was written; start again with: {command}"
