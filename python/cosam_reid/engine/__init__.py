"""Training engine, one module each: train_from_config (train(config): the
dataset, the model and a Trainer as a config says), training_loop (the
Trainer: the loop, resume, seeding), training_log (the per-step CSV log),
checkpoint, distributed (torch.distributed set-up)."""
from .checkpoint import atomic_save, load_model_weights, model_from_checkpoint, read_checkpoint
from .distributed import DistributedContext, init_distributed, shutdown_distributed
from .training_loop import Progress, Trainer, seed_everything
from .train_from_config import initial_model, train

__all__ = [
    "DistributedContext",
    "Progress",
    "Trainer",
    "atomic_save",
    "init_distributed",
    "initial_model",
    "load_model_weights",
    "model_from_checkpoint",
    "read_checkpoint",
    "seed_everything",
    "shutdown_distributed",
    "train",
]
