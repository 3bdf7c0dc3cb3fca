"""`cosam-reid synth`: generate the synthetic dataset (or reuse the one there)."""
import os

from ..datasets.synthetic import (DATASET_FOLDER, SILHOUETTE_FOLDER, SyntheticConfig, contact_sheet, has_silhouettes,
                                  load_synthetic)
from . import options


def add_parser(subparsers):
    help_text = "generate the built-in synthetic dataset (MARS layout) or reuse the one already there"
    parser = subparsers.add_parser("synth", help=help_text, description=help_text)
    defaults = SyntheticConfig()
    options.add_root(parser)
    parser.add_argument("--identities", type=int, default=defaults.num_identities,
                        help="identities, half train and half test (default: %(default)s)")
    parser.add_argument("--cameras", type=int, default=defaults.num_cameras, help="(default: %(default)s)")
    parser.add_argument("--tracklet-length", type=int, nargs=2, default=defaults.tracklet_length,
                        metavar=("MIN", "MAX"), help="frames per tracklet (default: %(default)s)")
    parser.add_argument("--size", type=int, nargs=2, default=defaults.image_size, metavar=("HEIGHT", "WIDTH"),
                        help="frame size (default: %(default)s)")
    parser.add_argument("--difficulty", type=float, default=defaults.difficulty,
                        help="0..1: camera differences, clutter, occlusion, jitter (default: %(default)s)")
    parser.add_argument("--clutter", type=float, default=defaults.clutter,
                        help="0..1: objects in clothing colours in the scenes (default: as --difficulty)")
    parser.add_argument("--occlusion", type=float, default=defaults.occlusion,
                        help="0..1: how often passers-by, bystanders and objects occlude (default: as --difficulty)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="(default: %(default)s)")
    parser.add_argument("--regenerate", action="store_true",
                        help="delete the synthetic dataset there (one this command wrote) and write it again")
    parser.add_argument("--preview", metavar="PNG", help="also write a contact sheet of test identities")
    parser.set_defaults(run=run)


def run(args):
    dataset = load_synthetic(args.root, num_identities=args.identities, num_cameras=args.cameras,
                             tracklet_length=args.tracklet_length, image_size=args.size,
                             difficulty=args.difficulty, clutter=args.clutter, occlusion=args.occlusion,
                             seed=args.seed, regenerate=args.regenerate)
    dataset_dir = os.path.join(args.root, DATASET_FOLDER)
    if has_silhouettes(dataset_dir):
        print(f"=> person silhouettes in {os.path.join(dataset_dir, SILHOUETTE_FOLDER)}"
              " (<split>/<pid>/<frame name>.png, 255 where the person is visible)")
    else:
        print(f"=> {dataset_dir} was generated before silhouettes existed: --regenerate writes them")
    if args.preview:
        contact_sheet(dataset, args.preview)
        print(f"=> contact sheet written to {args.preview}")
