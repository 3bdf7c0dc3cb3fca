"""`cosam-reid synth`: write the synthetic dataset, use the one there, or
(--regenerate) write it again."""
import os

from ..datasets.synthetic import CLUTTER_FOLDER, DATASET_FOLDER, SILHOUETTE_FOLDER, load_synthetic
from ..visualize.contact_sheet import contact_sheet
from . import options
from .dataset_options import add_synthetic_options, synthetic_options


def add_parser(subparsers):
    help_text = "generate the built-in synthetic dataset (MARS layout) or use the one already there"
    parser = subparsers.add_parser("synth", help=help_text, description=help_text)
    options.add_root(parser)
    add_synthetic_options(parser)
    parser.add_argument("--regenerate", action="store_true",
                        help="delete the synthetic dataset there (one this command wrote) and write it again, with "
                             "its recorded settings except those given")
    parser.add_argument("--preview", metavar="PNG", help="also write a contact sheet of test identities")
    parser.set_defaults(run=run)


def run(args):
    dataset = load_synthetic(args.root, regenerate=args.regenerate, **synthetic_options(args))
    dataset_dir = os.path.join(args.root, DATASET_FOLDER)
    print(f"=> person silhouettes in {os.path.join(dataset_dir, SILHOUETTE_FOLDER)} and clutter masks in "
          f"{os.path.join(dataset_dir, CLUTTER_FOLDER)}: <split>/<pid>/<frame name>.png, 255 where the person "
          f"(or clutter, occluders and other people) are visible")
    if args.preview:
        contact_sheet(dataset, args.preview)
        print(f"=> contact sheet written to {args.preview}")
