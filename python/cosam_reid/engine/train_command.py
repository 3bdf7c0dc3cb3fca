"""`cosam-reid train`: the resolved config -> dataset, model, Trainer.fit()."""
import os

from ..config import dump_config, load_config, save_config
from ..data.clips import ClipDataset
from ..data.transforms import TrainTransform
from ..models import build_model, load_imagenet_weights
from .distributed import init_distributed, main_process_first, shutdown_distributed
from .trainer import Trainer, seed_everything

HELP = "train a video re-ID model (YAML config plus KEY=VALUE overrides)"


def add_arguments(parser):
    parser.add_argument("--config", help="YAML file over the packaged defaults (cosam_reid/configs/default.yaml)")
    parser.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="dotted config keys, YAML values: train.epochs=10"
    )


def run(args):
    train(load_config(args.config, args.overrides))


def build_training_model(config, num_classes, log=print):
    """The model config["model"] and config["data"] describe, with its ImageNet
    weights when model.pretrained names a file."""
    options = config["model"]
    model = build_model(
        options["backbone"],
        num_classes=num_classes,
        num_frames=config["data"]["num_frames"],
        input_size=tuple(config["data"]["input_size"]),
        cosam_blocks=tuple(options["cosam_blocks"]),
        last_stride=options["last_stride"],
        temporal_pooling=options["temporal_pooling"],
        bn_neck=options["bn_neck"],
        attention=options["attention"],
    )
    if options["pretrained"]:
        load_imagenet_weights(model.backbone, options["pretrained"], layout=options["pretrained_layout"], log=log)
    return model


def train(config, dataset=None, hooks=()):
    """Trains as config says, on dataset (a VideoReIDDataset) or the one
    config["data"] names; under torchrun, one process per rank. Returns the Trainer."""
    data, settings = config["data"], config["train"]
    context = init_distributed(settings["device"])
    try:
        log = print if context.is_main else _silent
        if context.is_main:
            os.makedirs(settings["output_dir"], exist_ok=True)
            log(dump_config(config))
            save_config(config, os.path.join(settings["output_dir"], "config.yaml"))
        seed_everything(settings["seed"], settings["deterministic"])
        if dataset is None:
            from ..datasets import build_dataset

            with main_process_first(context):
                dataset = build_dataset(data["dataset"], data["root"], **data["dataset_options"])
        model = build_training_model(config, dataset.num_train_pids, log=log)
        transform = TrainTransform(tuple(data["input_size"]))
        clips = ClipDataset(dataset.train, data["num_frames"], transform, data["sampling"])
        trainer = Trainer(model, clips, config, context, hooks=hooks)
        trainer.fit(resume=settings["resume"])
        return trainer
    finally:
        shutdown_distributed()


def _silent(message):
    pass
