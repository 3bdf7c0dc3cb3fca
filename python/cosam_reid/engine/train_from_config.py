"""A training run from a resolved config: dataset, model, Trainer.fit()."""
import os

from ..config import dump_config
from ..data.clips import ClipDataset
from ..data.transforms import TrainTransform
from ..datasets import build_dataset, canonical_name
from ..models import model_from_config
from .distributed import init_distributed, main_process_first, shutdown_distributed
from .training_loop import RUN_FILES, Trainer, seed_everything


def initial_model(config, num_classes, log=print):
    """The model train(config) starts from: seeded, then built, as train does."""
    pretrained = config.model.pretrained
    if pretrained and not os.path.isfile(pretrained):
        raise FileNotFoundError(f"model.pretrained: no weights file at {pretrained} (a local file of ImageNet "
                                f"weights; null trains from scratch)")
    seed_everything(config.train.seed, config.train.deterministic)
    return model_from_config(config, num_classes, log=log)


def train(config, dataset=None, hooks=()):
    """Trains as config (a cosam_reid.config.Config) says, on dataset (a
    VideoReIDDataset) or the one config.data names; under torchrun, one
    process per rank. Returns the Trainer.

    A run already in train.output_dir is continued (train.resume) or
    replaced (train.overwrite), else refused. Nothing is written to
    output_dir before the first step has trained (Trainer)."""
    data, settings = config.data, config.train
    check_output_dir(settings)
    context = init_distributed(settings.device)
    try:
        log = print if context.is_main else _silent
        log(dump_config(config))
        if dataset is None:
            with main_process_first(context):
                dataset = build_dataset(data.dataset, data.root, **data.dataset_options)
        test_set = eval_dataset(config, dataset) if settings.eval_every and context.is_main else None
        model = initial_model(config, dataset.num_train_pids, log=log)
        transform = TrainTransform(tuple(data.input_size))
        clips = ClipDataset(dataset.train, data.num_frames, transform, data.sampling)
        trainer = Trainer(model, clips, config, context, hooks=hooks, test_set=test_set)
        trainer.fit(resume=settings.resume)
        return trainer
    finally:
        shutdown_distributed()


def check_output_dir(train):
    """Refuses to train anew over a run in train.output_dir unless
    train.overwrite says so (train.resume continues it instead)."""
    if train.resume or train.overwrite:
        return
    found = [name for name in RUN_FILES if os.path.exists(os.path.join(train.output_dir, name))]
    if found:
        raise ValueError(f"train.output_dir {train.output_dir} already holds a run ({', '.join(found)}): "
                         f"train.resume=true continues it, train.overwrite=true trains anew in its place")


def eval_dataset(config, dataset):
    """What train.eval_every evaluates on: the test split of dataset when
    the evaluation section names the training set (dataset and options),
    else that of evaluation.dataset under data.root."""
    data, evaluation = config.data, config.evaluation
    if evaluation.average_splits:
        raise ValueError("train.eval_every evaluates the one model being trained: set "
                         "evaluation.average_splits=false (and evaluation.dataset_options.split_id)")
    same = (canonical_name(evaluation.dataset) == canonical_name(data.dataset)
            and evaluation.dataset_options == data.dataset_options)
    test_set = dataset if same else build_dataset(evaluation.dataset, data.root, **evaluation.dataset_options)
    if not test_set.query or not test_set.gallery:
        raise ValueError(f"train.eval_every: the test set {test_set.name} has no query or no gallery tracklets")
    return test_set


def _silent(message):
    pass
