"""`cosam-reid evaluate`: the evaluation CLI with models read from training
checkpoints (cosam_reid.evaluation.cli itself knows nothing of checkpoints)."""
import pickle

from ..data.transforms import EvalTransform
from ..evaluation import cli as evaluation_cli
from .checkpoint import model_from_checkpoint

HELP = evaluation_cli.HELP


def add_arguments(parser):
    parser.add_argument("--checkpoint", metavar="PATH",
                        help="model checkpoint from `cosam-reid train` ({split} is replaced by the split id)")
    evaluation_cli.add_arguments(parser)
    # The clip length a model was trained with is in its checkpoint.
    parser.set_defaults(clip_length=None)
    for action in parser._actions:
        if action.dest == "clip_length":
            action.help = "N, frames per clip (default: the checkpoint's num_frames)"


def load_model(args, split_id):
    path = args.checkpoint.replace("{split}", str(split_id))
    try:
        model = model_from_checkpoint(path)
    except (RuntimeError, pickle.UnpicklingError, EOFError) as error:
        # A truncated or foreign file, or weights that do not fit their spec.
        raise ValueError(f"cannot load the checkpoint {path}: {error}") from error
    if args.clip_length is None:
        args.clip_length = model.spec.num_frames
    return model, EvalTransform(model.spec.input_size)


def run(args):
    if not args.checkpoint and not args.features:
        raise ValueError("nothing to evaluate: pass --checkpoint (a trained model) or --features (saved test features)")
    return evaluation_cli.run(args, load_model if args.checkpoint else None)
