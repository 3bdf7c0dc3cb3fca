"""`cosam-reid evaluate`: a trained checkpoint (or saved test features) scored
as the config's evaluation section says; the flags are shortcuts for keys."""
import json

from ..config import load_config
from ..evaluation import EvaluationFeatures, Protocol, evaluate_checkpoint
from ..evaluation.mask_quality import evaluate_checkpoint_masks
from . import options

#: option -> the config key it sets when given.
OPTION_KEYS = {
    "root": "data.root",
    "workers": "data.num_workers",
    "dataset": "evaluation.dataset",
    "gallery_mode": "evaluation.gallery_mode",
    "distance": "evaluation.distance",
    "average_precision": "evaluation.average_precision",
    "ranks": "evaluation.ranks",
    "sampling": "evaluation.sampling",
    "frames": "evaluation.frames",
    "clips_per_batch": "evaluation.clips_per_batch",
}


def add_parser(subparsers):
    help_text = "mAP, CMC and mINP of a checkpoint or of saved test features, with the protocol printed beside them"
    parser = subparsers.add_parser(
        "evaluate", help=help_text,
        description=f"{help_text}. The protocol is the config's evaluation section (the packaged defaults', or "
                    "over them the file, packaged config or recipe given with --config); "
                    "each option below sets its key, and KEY=VALUE overrides come last.")
    what = parser.add_argument_group("what to evaluate")
    what.add_argument("--checkpoint", metavar="PATH",
                      help="model checkpoint from `cosam-reid train` ({split} is replaced by the split id)")
    what.add_argument("--features", metavar="PATH", help="saved test features (from --save-features); no model needed")
    what.add_argument("--save-features", metavar="PATH",
                      help="also save the test features ({split} is replaced by the split id)")
    what.add_argument("--masks", action="store_true",
                      help="also score the checkpoint's COSAM spatial masks against the person silhouettes of a "
                           "synthetic test set: AUC, mean mask on and off the person, per layer")
    options.add_config(what)
    keys = parser.add_argument_group(
        "config keys", "each option, when given, sets its key over the config: --root and --workers data.root and "
                       "data.num_workers, --ap evaluation.average_precision, the others the evaluation key of their "
                       "name (--gallery-mode evaluation.gallery_mode); --split-id as described")
    options.add_root(keys, default=None)
    options.add_dataset(keys, default=None)
    keys.add_argument("--split-id", help="split of iLIDS-VID / PRID2011 (evaluation.dataset_options.split_id), "
                                         "or 'all' for the mean over the 10 splits (evaluation.average_splits)")
    keys.add_argument("--sampling", choices=("dense", "evenly"), help="test sampling")
    keys.add_argument("--frames", type=int, help="frames per tracklet for --sampling evenly")
    keys.add_argument("--clips-per-batch", type=int)
    options.add_workers(keys, default=None)
    options.add_protocol(keys, defaults=None)
    keys.add_argument("--ranks", type=int, nargs="+", help="CMC ranks")
    options.add_overrides(parser, "the config")
    parser.set_defaults(run=run)


def run(args):
    config = load_config(args.config, option_overrides(args) + list(args.overrides))
    if args.masks and not args.checkpoint:
        raise ValueError("--masks scores a model's masks: pass --checkpoint")
    if args.features:
        result = EvaluationFeatures.load(args.features).evaluate(Protocol.from_options(config.evaluation))
    elif args.checkpoint:
        result = evaluate_checkpoint(args.checkpoint, config.evaluation, config.data.root,
                                     num_workers=config.data.num_workers, save_features=args.save_features)
    else:
        raise ValueError("nothing to evaluate: pass --checkpoint (a trained model) or --features (saved test features)")
    print(result)
    if args.masks:
        print(evaluate_checkpoint_masks(args.checkpoint, config.evaluation, config.data.root,
                                        num_workers=config.data.num_workers))


def option_overrides(args):
    """The options given, as KEY=VALUE overrides (JSON values, which YAML reads)."""
    given = vars(args)
    overrides = [f"{key}={json.dumps(given[name])}" for name, key in OPTION_KEYS.items()
                 if given.get(name) is not None]
    if args.split_id == "all":
        overrides.append("evaluation.average_splits=true")
    elif args.split_id is not None:
        overrides += [f"evaluation.dataset_options.split_id={split_id(args.split_id)}",
                      "evaluation.average_splits=false"]
    return overrides


def split_id(text):
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"--split-id: expected a split number or 'all', got {text!r}") from None
