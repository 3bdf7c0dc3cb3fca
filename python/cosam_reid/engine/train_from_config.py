"""A training run from a resolved config: dataset, model, Trainer.fit()."""
import os

from ..config import dump_config, save_config
from ..data.clips import ClipDataset
from ..data.transforms import TrainTransform
from ..datasets import build_dataset
from ..models import model_from_config
from .distributed import init_distributed, main_process_first, shutdown_distributed
from .training_loop import Trainer, seed_everything


def initial_model(config, num_classes, log=print):
    """The model train(config) starts from: seeded, then built, as train does."""
    seed_everything(config.train.seed, config.train.deterministic)
    return model_from_config(config, num_classes, log=log)


def train(config, dataset=None, hooks=()):
    """Trains as config (a cosam_reid.config.Config) says, on dataset (a
    VideoReIDDataset) or the one config.data names; under torchrun, one
    process per rank. Returns the Trainer."""
    data, settings = config.data, config.train
    context = init_distributed(settings.device)
    try:
        log = print if context.is_main else _silent
        if context.is_main:
            os.makedirs(settings.output_dir, exist_ok=True)
            log(dump_config(config))
            save_config(config, os.path.join(settings.output_dir, "config.yaml"))
        if dataset is None:
            with main_process_first(context):
                dataset = build_dataset(data.dataset, data.root, **data.dataset_options)
        model = initial_model(config, dataset.num_train_pids, log=log)
        transform = TrainTransform(tuple(data.input_size))
        clips = ClipDataset(dataset.train, data.num_frames, transform, data.sampling)
        trainer = Trainer(model, clips, config, context, hooks=hooks)
        trainer.fit(resume=settings.resume)
        return trainer
    finally:
        shutdown_distributed()


def _silent(message):
    pass
