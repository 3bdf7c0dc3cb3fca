"""`cosam-reid benchmark`: time and peak memory of a MARS-sized evaluation."""
from ..evaluation.benchmark import benchmark_evaluation
from ..evaluation.metrics import DEFAULT_BLOCK_SIZE
from ..evaluation.results import Protocol
from . import options


def add_parser(subparsers):
    help_text = "time and peak memory of evaluating random features of MARS's test-split size"
    parser = subparsers.add_parser("benchmark", help=help_text, description=help_text)
    options.add_protocol(parser)
    parser.add_argument("--block-size", type=int, default=DEFAULT_BLOCK_SIZE,
                        help="queries ranked at a time (default: %(default)s)")
    parser.set_defaults(run=run)


def run(args):
    if args.block_size < 1:
        raise ValueError(f"--block-size must be at least 1, got {args.block_size}")
    print(benchmark_evaluation(Protocol.from_options(args), args.block_size))
