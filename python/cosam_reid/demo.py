"""`cosam-reid demo`: the whole system on one CPU in minutes. Generates (or
reuses) the synthetic dataset, builds a small COSAM model, evaluates it
untrained, trains it with the training engine, evaluates it again, and prints
both results side by side with the protocol and the wall time."""
import contextlib
import os
import time

from .config import ConfigError, load_config
from .data.transforms import EvalTransform
from .datasets import build_dataset
from .datasets.registry import canonical_name
from .engine.train_command import build_training_model, train
from .engine.trainer import seed_everything
from .evaluation import Protocol, evaluate_model

DEMO_CONFIG = os.path.join(os.path.dirname(__file__), "configs", "demo.yaml")

HELP = "generate the synthetic dataset, train a small COSAM model on the CPU, evaluate it untrained and trained"


def add_arguments(parser):
    parser.add_argument("--root", help="folder holding the datasets (default: data)")
    parser.add_argument("--output", help="run folder for checkpoints and metrics (default: runs/demo)")
    parser.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE",
        help="dotted config keys over cosam_reid/configs/demo.yaml, YAML values: train.epochs=2",
    )


def run(args):
    flags = []
    if args.root:
        flags.append(f"data.root={args.root}")
    if args.output:
        flags.append(f"train.output_dir={args.output}")
    # KEY=VALUE overrides come last, so they win over the flags.
    return demo(load_config(DEMO_CONFIG, flags + list(args.overrides)))


def protocol_from_config(evaluation):
    return Protocol(gallery_mode=evaluation["gallery_mode"], distance=evaluation["distance"],
                    average_precision=evaluation["average_precision"])


def evaluate(model, dataset, config):
    """The model's result on the test split of dataset, as config["evaluation"] says."""
    evaluation, data = config["evaluation"], config["data"]
    return evaluate_model(model, dataset, EvalTransform(tuple(data["input_size"])), clip_length=data["num_frames"],
                          sampling=evaluation["sampling"], num_frames=evaluation["frames"],
                          protocol=protocol_from_config(evaluation), num_workers=data["num_workers"])


def demo(config):
    """Runs the demo as config (a resolved config) says; returns the untrained
    and the trained result."""
    data, evaluation = config["data"], config["evaluation"]
    if canonical_name(evaluation["dataset"]) != canonical_name(data["dataset"]):
        raise ConfigError(f"the demo tests on the test split of the set it trains on: evaluation.dataset is "
                          f"{evaluation['dataset']!r}, data.dataset {data['dataset']!r}")
    clock = PhaseClock()
    with clock("dataset"):
        dataset = build_dataset(data["dataset"], data["root"], **data["dataset_options"])
    untrained_model = initial_model(config, dataset)
    print("\n=> evaluating the untrained model")
    with clock("evaluate untrained"):
        untrained = evaluate(untrained_model, dataset, config)
    print(untrained)
    print("\n=> training")
    with clock("train"):
        trainer = train(config, dataset=dataset)
    print("\n=> evaluating the trained model")
    with clock("evaluate trained"):
        trained = evaluate(trainer.model, dataset, config)
    print(trained)
    print()
    print(side_by_side(untrained, trained, describe_model(config), trainer))
    print(f"wall time: {clock}")
    return untrained, trained


def initial_model(config, dataset):
    """The model train(config, dataset) starts from: it seeds, then builds the
    model, the same way."""
    seed_everything(config["train"]["seed"], config["train"]["deterministic"])
    return build_training_model(config, dataset.num_train_pids)


def describe_model(config):
    model, data = config["model"], config["data"]
    blocks = ",".join(str(block) for block in model["cosam_blocks"])
    cosam = f"COSAM_{blocks} ({model['attention']} attention)" if blocks else "no COSAM"
    height, width = data["input_size"]
    return f"{model['backbone']} + {cosam}, TP_{model['temporal_pooling']}, {data['num_frames']}-frame clips of " \
           f"{height}x{width}, from scratch"


def side_by_side(untrained, trained, model, trainer):
    steps = trainer.progress.global_step
    lines = [
        f"COSAM demo: {model}; trained {steps} steps ({trainer.epochs} epochs), checkpoint {trainer.checkpoint_path}",
        f"  {'':6} {'untrained':>10} {'trained':>10}",
        f"  {'mAP':6} {100 * untrained.mAP:9.2f}% {100 * trained.mAP:9.2f}%",
        *(f"  {f'R{rank}':6} {100 * untrained.cmc[rank]:9.2f}% {100 * trained.cmc[rank]:9.2f}%"
          for rank in trained.cmc),
        f"  {'mINP':6} {100 * untrained.mINP:9.2f}% {100 * trained.mINP:9.2f}%",
        f"  queries evaluated: {trained.num_evaluated} of {trained.num_queries}",
        "Protocol (both):",
        *("  " + line for line in trained.protocol.describe().splitlines()),
    ]
    return "\n".join(lines)


class PhaseClock:
    """Wall time per phase: `with clock("train"): ...`; str() lists them and the total."""

    def __init__(self):
        self.start = time.perf_counter()
        self.phases = {}

    @contextlib.contextmanager
    def __call__(self, name):
        started = time.perf_counter()
        yield
        self.phases[name] = time.perf_counter() - started

    def __str__(self):
        total = time.perf_counter() - self.start
        parts = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in self.phases.items())
        return f"{total:.0f} s ({total / 60:.1f} min): {parts}"
