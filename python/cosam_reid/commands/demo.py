"""`cosam-reid demo`: the demo (cosam_reid.demo) on configs/demo.yaml."""
from ..config import load_config
from ..demo import DEMO_CONFIG, demo
from . import options


def add_parser(subparsers):
    help_text = ("generate the synthetic dataset, train a small COSAM model on the CPU, "
                 "evaluate it untrained and trained")
    parser = subparsers.add_parser("demo", help=help_text, description=help_text)
    options.add_root(parser, default=None)
    parser.add_argument("--output", help="run folder for checkpoints and metrics (default: runs/demo)")
    options.add_overrides(parser, "cosam_reid/configs/demo.yaml")
    parser.set_defaults(run=run)


def run(args):
    flags = []
    if getattr(args, "root", None):
        flags.append(f"data.root={args.root}")
    if args.output:
        flags.append(f"train.output_dir={args.output}")
    # KEY=VALUE overrides come last, so they win over the flags.
    demo(load_config(DEMO_CONFIG, flags + list(args.overrides)))
