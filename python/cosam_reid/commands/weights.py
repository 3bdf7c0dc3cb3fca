"""`cosam-reid weights`: a checkpoint's model weights alone, to share."""
import os

from ..engine.checkpoint import export_weights


def add_parser(subparsers):
    help_text = ("write a checkpoint's model spec and weights alone (no optimizer state): a smaller file to share, "
                 "which evaluate, export and visualize accept as a checkpoint")
    parser = subparsers.add_parser("weights", help=help_text, description=help_text)
    parser.add_argument("--checkpoint", required=True, metavar="PATH", help="checkpoint from `cosam-reid train`")
    parser.add_argument("--output", default="weights.pt", metavar="PATH", help="file to write (default: %(default)s)")
    parser.set_defaults(run=run)


def run(args):
    path = export_weights(args.checkpoint, args.output)
    print(f"=> model weights of {args.checkpoint} written to {path} ({_megabytes(path)} MB, the checkpoint "
          f"{_megabytes(args.checkpoint)} MB); evaluate them with: cosam-reid evaluate --checkpoint {path}")


def _megabytes(path):
    return f"{os.path.getsize(path) / 1e6:.1f}"
