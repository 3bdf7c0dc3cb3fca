"""Training engine: train(config), the loop, checkpoints, torch.distributed set-up, metrics."""
from .checkpoint import atomic_save, load_model_weights, model_from_checkpoint, read_checkpoint
from .distributed import DistributedContext, init_distributed, shutdown_distributed
from .trainer import Progress, Trainer, seed_everything
from .training import initial_model, train

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
