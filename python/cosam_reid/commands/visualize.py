"""`cosam-reid visualize masks|ranks|cmc`: the pictures, as PNG files."""
from ..datasets import build_dataset
from ..evaluation.results import Protocol
from . import options
from .dataset_options import add_synthetic_options, synthetic_options

# The picture modules (and matplotlib with them) are imported when a picture
# is drawn: every cosam-reid command imports this module to build its parser.


def add_parser(subparsers):
    help_text = "pictures (PNG): COSAM masks over a tracklet's frames, ranked gallery results, CMC curves"
    parser = subparsers.add_parser("visualize", help=help_text, description=help_text)
    pictures = parser.add_subparsers(dest="picture", required=True, metavar="PICTURE")

    masks = add_picture(pictures, "masks", draw_masks,
                        "each COSAM layer's spatial mask over the first clip of chosen tracklets, one row per "
                        "layer, and its channel mask as a bar plot")
    masks.add_argument("--checkpoint", required=True, metavar="PATH", help="model checkpoint from `cosam-reid train`")
    add_dataset_options(masks)
    masks.add_argument("--tracklets", nargs="+", required=True, metavar="SPLIT:INDEX",
                       help="tracklets by split and position: query:0 gallery:12 train:3")

    ranks = add_picture(pictures, "ranks", draw_ranks,
                        "for chosen queries, the query's first frame and its top-k gallery tracklets, true matches "
                        "framed green, wrong ones red")
    source = ranks.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", metavar="PATH", help="model checkpoint: test features computed with it")
    source.add_argument("--features", metavar="PATH",
                        help="test features of the dataset saved by `cosam-reid evaluate --save-features`")
    add_dataset_options(ranks)
    ranks.add_argument("--queries", nargs="+", required=True, type=int, metavar="INDEX",
                       help="positions in the query split: 0 5 9")
    ranks.add_argument("--top-k", type=int, default=10, help="gallery tracklets shown per query (default: %(default)s)")
    options.add_protocol(ranks, average_precision=False)
    options.add_workers(ranks)

    cmc = add_picture(pictures, "cmc", draw_cmc, "CMC curves of one or more saved test features on one plot")
    cmc.add_argument("features", nargs="+", metavar="FEATURES",
                     help="test features saved by `cosam-reid evaluate --save-features`")
    cmc.add_argument("--labels", nargs="+", metavar="LABEL", help="one per features file (default: the paths)")
    cmc.add_argument("--max-rank", type=int, default=20, help="(default: %(default)s)")
    options.add_protocol(cmc)
    parser.set_defaults(run=run)


def add_picture(pictures, name, draw, description):
    parser = pictures.add_parser(name, help=description, description=description)
    parser.add_argument("--output", default=f"{name}.png", help="PNG to write (default: %(default)s)")
    parser.add_argument("--colours", type=int, metavar="N",
                        help="store the PNG with a palette of N colours (2..256): about a third of the size")
    parser.set_defaults(draw=draw)
    return parser


def add_dataset_options(parser):
    options.add_dataset(parser)
    options.add_root(parser)
    add_synthetic_options(parser)


def load_dataset(args):
    return build_dataset(args.dataset, args.root, **synthetic_options(args, args.dataset))


def run(args):
    from ..visualize.common import save_figure

    # Everything is checked and drawn before the file is written: bad input leaves no picture.
    path = save_figure(args.draw(args), args.output, args.colours)
    print(f"=> {args.picture} written to {path}")


def draw_masks(args):
    from ..visualize.from_files import checkpoint_masks_figure

    return checkpoint_masks_figure(args.checkpoint, load_dataset(args), args.tracklets)


def draw_ranks(args):
    from ..visualize.from_files import saved_ranks_figure

    return saved_ranks_figure(load_dataset(args), args.queries, features=args.features,
                              checkpoint=args.checkpoint, top_k=args.top_k, gallery_mode=args.gallery_mode,
                              distance=args.distance, num_workers=args.workers)


def draw_cmc(args):
    from ..visualize.from_files import saved_cmc_figure

    return saved_cmc_figure(args.features, args.labels, args.max_rank, Protocol.from_options(args))
