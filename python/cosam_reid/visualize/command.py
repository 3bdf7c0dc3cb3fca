"""`cosam-reid visualize masks|ranks|cmc`: the pictures, as PNG files."""
from ..data.transforms import EvalTransform
from ..datasets import build_dataset
from ..engine.checkpoint import model_from_checkpoint
from ..engine.evaluate_command import unreadable_file_as_value_error
from ..evaluation.pipeline import EvaluationFeatures, compute_test_features
from ..evaluation.results import AP_FORMS, DISTANCES, GALLERY_MODES, Protocol

# The picture modules (and matplotlib with them) are imported where a picture
# is drawn: every cosam-reid command imports this module to build its parser.

HELP = "pictures (PNG): COSAM masks over a tracklet's frames, ranked gallery results, CMC curves"


def add_arguments(parser):
    pictures = parser.add_subparsers(dest="picture", required=True, metavar="PICTURE")

    masks = add_picture(pictures, "masks", draw_masks,
                        "each COSAM layer's spatial mask over the first clip of chosen tracklets, one row per "
                        "layer, and its channel mask as a bar plot")
    masks.add_argument("--checkpoint", required=True, metavar="PATH", help="model checkpoint from `cosam-reid train`")
    add_dataset_arguments(masks)
    masks.add_argument("--tracklets", nargs="+", required=True, metavar="SPLIT:INDEX",
                       help="tracklets by split and position: query:0 gallery:12 train:3")

    ranks = add_picture(pictures, "ranks", draw_ranks,
                        "for chosen queries, the query's first frame and its top-k gallery tracklets, true matches "
                        "framed green, wrong ones red")
    source = ranks.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", metavar="PATH", help="model checkpoint: test features computed with it")
    source.add_argument("--features", metavar="PATH",
                        help="test features of the dataset saved by `cosam-reid evaluate --save-features`")
    add_dataset_arguments(ranks)
    ranks.add_argument("--queries", nargs="+", required=True, type=int, metavar="INDEX",
                       help="positions in the query split: 0 5 9")
    ranks.add_argument("--top-k", type=int, default=10, help="gallery tracklets shown per query (default: %(default)s)")
    add_protocol_arguments(ranks)
    ranks.add_argument("--workers", type=int, default=0,
                       help="frame-loading processes for --checkpoint (default: %(default)s)")

    cmc = add_picture(pictures, "cmc", draw_cmc, "CMC curves of one or more saved test features on one plot")
    cmc.add_argument("features", nargs="+", metavar="FEATURES",
                     help="test features saved by `cosam-reid evaluate --save-features`")
    cmc.add_argument("--labels", nargs="+", metavar="LABEL", help="one per features file (default: the paths)")
    cmc.add_argument("--max-rank", type=int, default=20, help="(default: %(default)s)")
    add_protocol_arguments(cmc)
    cmc.add_argument("--ap", choices=sorted(AP_FORMS), default="non-interpolated",
                     help="average-precision form of the mAP in the legend (default: %(default)s)")


def add_picture(pictures, name, draw, description):
    parser = pictures.add_parser(name, help=description, description=description)
    parser.add_argument("--output", default=f"{name}.png", help="PNG to write (default: %(default)s)")
    parser.add_argument("--colours", type=int, metavar="N",
                        help="store the PNG with a palette of N colours (2..256): about a third of the size")
    parser.set_defaults(draw=draw)
    return parser


def add_dataset_arguments(parser):
    parser.add_argument("--dataset", default="synthetic", help="dataset name for build_dataset (default: %(default)s)")
    parser.add_argument("--root", default="data", help="folder holding the datasets (default: %(default)s)")


def add_protocol_arguments(parser):
    parser.add_argument("--gallery-mode", choices=sorted(GALLERY_MODES), default="torchreid",
                        help="torchreid: non-query test tracklets; official: the query set added (MARS)")
    parser.add_argument("--distance", choices=sorted(DISTANCES), default="euclidean",
                        help="squared Euclidean (default) or cosine")


def run(args):
    from .figures import save_figure

    # Everything is checked and drawn before the file is written: bad input leaves no picture.
    path = save_figure(args.draw(args), args.output, args.colours)
    print(f"=> {args.picture} written to {path}")


def load_model(path):
    with unreadable_file_as_value_error(path, "the checkpoint"):
        return model_from_checkpoint(path)


def load_features(path):
    with unreadable_file_as_value_error(path, "the saved features"):
        return EvaluationFeatures.load(path)


def draw_masks(args):
    from .figures import describe_tracklet, select_tracklets
    from .masks import cosam_layers, tracklet_masks_figure

    model = load_model(args.checkpoint)
    cosam_layers(model, what=f"the model of checkpoint {args.checkpoint}")
    dataset = build_dataset(args.dataset, args.root)
    selected = select_tracklets(dataset, args.tracklets)
    titles = [f"{tracklet_id}\n{describe_tracklet(tracklet)}" for tracklet_id, tracklet in selected]
    return tracklet_masks_figure(model, [tracklet for _, tracklet in selected], titles)


def draw_ranks(args):
    from .ranks import dataset_ranks_figure

    dataset = build_dataset(args.dataset, args.root)
    if args.features:
        features, source = load_features(args.features), args.features
    else:
        model = load_model(args.checkpoint)
        print(f"=> test features of {len(dataset.query)} queries and {len(dataset.gallery)} gallery tracklets")
        features = compute_test_features(model, dataset, EvalTransform(model.spec.input_size),
                                         clip_length=model.spec.num_frames, num_workers=args.workers)
        source = f"checkpoint {args.checkpoint}"
    return dataset_ranks_figure(features, dataset, args.queries, top_k=args.top_k, gallery_mode=args.gallery_mode,
                                distance=args.distance, source=source)


def draw_cmc(args):
    from .cmc import cmc_figure, cmc_result

    if args.labels is not None and len(args.labels) != len(args.features):
        raise ValueError(f"--labels: {len(args.labels)} labels for {len(args.features)} features files")
    protocol = Protocol(gallery_mode=args.gallery_mode, distance=args.distance, average_precision=args.ap)
    results = [cmc_result(load_features(path), args.max_rank, protocol) for path in args.features]
    return cmc_figure(results, args.labels or args.features)
