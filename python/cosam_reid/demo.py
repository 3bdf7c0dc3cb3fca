"""The demo: the whole system on one CPU in minutes. Generates (or reuses) the
synthetic dataset, builds a small COSAM model, evaluates it untrained, trains
it with the training engine, evaluates it again, and prints both results side
by side with the protocol and the wall time. `cosam-reid demo` runs it with
configs/demo.yaml."""
import contextlib
import os
import time

from .config import ConfigError
from .datasets import build_dataset, canonical_name
from .engine import initial_model, result_on_test_split, train

DEMO_CONFIG = os.path.join(os.path.dirname(__file__), "configs", "demo.yaml")


def demo(config):
    """Runs the demo as config (a cosam_reid.config.Config) says; returns the untrained
    and the trained result."""
    data, evaluation = config.data, config.evaluation
    if canonical_name(evaluation.dataset) != canonical_name(data.dataset):
        raise ConfigError(f"the demo tests on the test split of the set it trains on: evaluation.dataset is "
                          f"{evaluation.dataset!r}, data.dataset {data.dataset!r}")
    clock = PhaseClock()
    with clock("dataset"):
        dataset = build_dataset(data.dataset, data.root, **data.dataset_options)
    untrained_model = initial_model(config, dataset.num_train_pids)
    print("\n=> evaluating the untrained model")
    with clock("evaluate untrained"):
        untrained = result_on_test_split(untrained_model, dataset, evaluation, num_workers=data.num_workers)
    print(untrained)
    print("\n=> training")
    with clock("train"):
        trainer = train(config, dataset=dataset)
    print("\n=> evaluating the trained model")
    with clock("evaluate trained"):
        trained = result_on_test_split(trainer.model, dataset, evaluation, num_workers=data.num_workers)
    print(trained)
    print()
    print(side_by_side(untrained, trained, describe_model(config), trainer))
    print(f"wall time: {clock}")
    return untrained, trained


def describe_model(config):
    model, data = config.model, config.data
    blocks = ",".join(str(block) for block in model.cosam_blocks)
    cosam = f"COSAM_{blocks} ({model.attention} attention)" if blocks else "no COSAM"
    height, width = data.input_size
    start = f"from {model.pretrained}" if model.pretrained else "from scratch"
    return f"{model.backbone} + {cosam}, TP_{model.temporal_pooling}, {data.num_frames}-frame clips of " \
           f"{height}x{width}, {start}"


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
