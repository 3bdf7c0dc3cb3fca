"""`cosam-reid extract`: one feature per tracklet folder, from a checkpoint."""
from ..config import packaged_default
from ..evaluation.extract import extract_folder
from . import options


def add_parser(subparsers):
    help_text = "features of a folder of tracklet folders (frames in name order) from a checkpoint, as a .npz file"
    parser = subparsers.add_parser(
        "extract", help=help_text,
        description=f"{help_text}: `names` (the folder names, sorted) and `features` (one float32 row each). "
                    "Frames are sampled and transformed as evaluation does: the checkpoint's clip length and input "
                    "size, and the evaluation sampling of the config saved in it (the packaged defaults without one), "
                    "then KEY=VALUE overrides.")
    parser.add_argument("--checkpoint", required=True, metavar="PATH", help="model checkpoint from `cosam-reid train`")
    parser.add_argument("--input", required=True, metavar="FOLDER",
                        help="folder of tracklet folders, each holding its frames (.jpg, .png), sorted by name")
    parser.add_argument("--output", required=True, metavar="FILE", help=".npz file to write")
    options.add_workers(parser, default=packaged_default("data.num_workers"))
    options.add_overrides(parser, "the checkpoint's evaluation section", example="evaluation.sampling=evenly "
                                                                                  "evaluation.frames=32")
    parser.set_defaults(run=run)


def run(args):
    names, features = extract_folder(args.checkpoint, args.input, args.output, overrides=args.overrides,
                                     num_workers=args.workers)
    print(f"=> {len(names)} features of {features.shape[1]} dimensions written to {args.output}")
