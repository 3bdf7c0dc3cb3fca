"""Training engine, one module each: train_from_config (train(config): the
dataset, the model and a Trainer as a config says), training_loop (the
Trainer: the loop, resume, seeding, schedules, evaluation during training),
training_log (the CSV log of steps and evaluations), checkpoint (and weights
files), distributed (torch.distributed set-up)."""
from .checkpoint import atomic_save, export_weights, load_model_weights, model_from_checkpoint, read_checkpoint
from .distributed import DistributedContext, init_distributed, shutdown_distributed
from .training_loop import Progress, Trainer, result_on_test_split, seed_everything
from .train_from_config import initial_model, train

__all__ = [
    "DistributedContext",
    "Progress",
    "Trainer",
    "atomic_save",
    "export_weights",
    "init_distributed",
    "initial_model",
    "load_model_weights",
    "model_from_checkpoint",
    "read_checkpoint",
    "result_on_test_split",
    "seed_everything",
    "shutdown_distributed",
    "train",
]
