"""`cosam-reid evaluate`: the evaluation CLI with models read from training
checkpoints (cosam_reid.evaluation.cli itself knows nothing of checkpoints)."""
import contextlib
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
    with unreadable_file_as_value_error(path, "the checkpoint"):
        model = model_from_checkpoint(path)
    if args.clip_length is None:
        args.clip_length = model.spec.num_frames
    return model, EvalTransform(model.spec.input_size)


@contextlib.contextmanager
def unreadable_file_as_value_error(path, what):
    """torch.load's errors for a truncated or foreign file (and load_state_dict's
    for weights that do not fit) as a one-line ValueError, which the CLI
    reports as a user error; torch's own messages run over many lines."""
    try:
        yield
    except (RuntimeError, pickle.UnpicklingError, EOFError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"cannot load {what} {path}: {reason}") from error


def run(args):
    if args.features:
        with unreadable_file_as_value_error(args.features, "the saved features"):
            return evaluation_cli.run(args)
    if not args.checkpoint:
        raise ValueError("nothing to evaluate: pass --checkpoint (a trained model) or --features (saved test features)")
    return evaluation_cli.run(args, load_model)
