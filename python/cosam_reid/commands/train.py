"""`cosam-reid train`: train(config) on the resolved config."""
from ..config import load_config
from ..engine import train
from . import options


def add_parser(subparsers):
    parser = subparsers.add_parser("train", help="train a video re-ID model (YAML config plus KEY=VALUE overrides)",
                                   description="Train as the config says; under torchrun, one process per rank.")
    options.add_config(parser)
    options.add_overrides(parser, "the config")
    parser.set_defaults(run=run)


def run(args):
    train(load_config(args.config, args.overrides))
