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
    defaults = options.PACKAGED_EVALUATION
    parser.add_argument("--rerank", action="store_true",
                        help="with k-reciprocal re-ranking over queries + gallery (evaluation.rerank)")
    parser.add_argument("--rerank-k1", type=int, default=defaults.rerank_k1,
                        help="k1 of the k-reciprocal sets (default: %(default)s)")
    parser.add_argument("--rerank-k2", type=int, default=defaults.rerank_k2,
                        help="k2 of the local query expansion (default: %(default)s)")
    parser.add_argument("--rerank-lambda", type=float, default=defaults.rerank_lambda,
                        help="weight of the original distance (default: %(default)s)")
    parser.set_defaults(run=run)


def run(args):
    if args.block_size < 1:
        raise ValueError(f"--block-size must be at least 1, got {args.block_size}")
    print(benchmark_evaluation(Protocol.from_options(args), args.block_size))
