"""`cosam-reid evaluate`: metrics of saved test features, or of a model on a
dataset (the model itself comes from a loader the CLI passes in, so this
module knows nothing of checkpoints or architectures)."""
from typing import Callable, Optional

from ..datasets.registry import build_dataset, split_ids
from .features import SAMPLINGS
from .pipeline import EvaluationFeatures, compute_test_features
from .results import AP_FORMS, DEFAULT_RANKS, DISTANCES, GALLERY_MODES, Protocol, ReIDResult, average_results

HELP = "mAP, CMC and mINP of saved test features or of a model, with the protocol printed beside them"


def add_arguments(parser):
    what = parser.add_argument_group("what to evaluate")
    what.add_argument("--features", metavar="PATH", help="saved test features (from --save-features); no model needed")
    what.add_argument("--dataset", default="synthetic", help="dataset name for build_dataset (default: %(default)s)")
    what.add_argument("--root", default="data", help="folder holding the datasets (default: %(default)s)")
    what.add_argument("--split-id",
                      help="split of iLIDS-VID / PRID2011, or 'all' for the mean over the 10 splits (default: 0)")
    what.add_argument("--save-features", metavar="PATH",
                      help="also save the test features (with {split} replaced by the split id)")
    sampling = parser.add_argument_group("test sampling")
    sampling.add_argument("--clip-length", type=int, default=4, help="N, frames per clip (default: %(default)s)")
    sampling.add_argument("--sampling", choices=SAMPLINGS, default="dense", help="(default: %(default)s)")
    sampling.add_argument("--frames", type=int, help="frames per tracklet for --sampling evenly")
    sampling.add_argument("--clips-per-batch", type=int, default=32, help="(default: %(default)s)")
    sampling.add_argument("--workers", type=int, default=2, help="frame-loading processes (default: %(default)s)")
    protocol = parser.add_argument_group("protocol")
    protocol.add_argument("--gallery-mode", choices=sorted(GALLERY_MODES), default="torchreid",
                          help="torchreid: non-query test tracklets; official: the query set added (MARS)")
    protocol.add_argument("--distance", choices=sorted(DISTANCES), default="euclidean",
                          help="squared Euclidean (default) or cosine")
    protocol.add_argument("--ap", choices=sorted(AP_FORMS), default="non-interpolated",
                          help="average-precision form (default: %(default)s)")
    protocol.add_argument("--ranks", type=int, nargs="+", default=list(DEFAULT_RANKS), help="CMC ranks")


def protocol_of(args) -> Protocol:
    return Protocol(gallery_mode=args.gallery_mode, distance=args.distance, average_precision=args.ap,
                    ranks=tuple(args.ranks))


def run(args, load_model: Optional[Callable] = None) -> ReIDResult:
    """Prints and returns the result. `load_model(args, split_id)` returns
    (model, transform) for a split (split_id None for datasets without
    splits): a clip model (B, N, 3, H, W) -> (B, F) and a frame transform
    PIL image -> (3, H, W)."""
    protocol = protocol_of(args)
    if args.features:
        result = EvaluationFeatures.load(args.features).evaluate(protocol)
        print(result)
        return result
    if load_model is None:
        raise ValueError("evaluating a model needs a model loader; to score saved features pass --features")
    available = split_ids(args.dataset)
    if available == [None] and args.split_id is not None:
        raise ValueError(f"--split-id: {args.dataset} has no train/test splits")
    splits = available if args.split_id == "all" or available == [None] else [int(args.split_id or 0)]
    results = []
    for split_id in splits:
        options = {} if split_id is None else {"split_id": split_id}
        dataset = build_dataset(args.dataset, args.root, **options)
        model, transform = load_model(args, split_id)
        features = compute_test_features(model, dataset, transform, clip_length=args.clip_length,
                                         sampling=args.sampling, num_frames=args.frames,
                                         clips_per_batch=args.clips_per_batch, num_workers=args.workers)
        if args.save_features:
            features.save(args.save_features.replace("{split}", str(split_id)))
        results.append(features.evaluate(protocol))
        if len(splits) > 1:
            print(results[-1])
    result = results[0] if len(results) == 1 else average_results(
        results, dataset=f"{args.dataset}, splits {splits[0]}..{splits[-1]}")
    print(result)
    return result
