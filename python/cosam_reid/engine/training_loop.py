"""The training loop: P x K batches of clips, label-smoothed CE + batch-hard
triplet, Adam with a step schedule, AMP on CUDA, DDP, checkpoints with exact
resume, per-step metrics."""
import dataclasses
import os
import random

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..config import packaged_default
from ..data.sampler import PKBatchSampler
from ..losses import ReIDLoss
from .checkpoint import CHECKPOINT_NAME, atomic_save, check_model_spec, read_checkpoint, spec_payload
from .distributed import DistributedContext, mean_over_ranks
from .training_log import MetricsLog

#: Bumped when the checkpoint contents change incompatibly.
CHECKPOINT_FORMAT = 1


def seed_everything(seed, deterministic=packaged_default("train.deterministic")):
    """Seeds python, numpy and torch; deterministic also makes torch use
    deterministic algorithms (needed on CUDA for an exact resume)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def uses_mixed_precision(train, device):
    """Whether a run of train settings (a TrainConfig) on device uses AMP:
    train.amp asks for it, and it is used on CUDA only."""
    return train.amp and device.type == "cuda"


@dataclasses.dataclass
class Progress:
    epoch: int = 0
    #: Batches of `epoch` already trained on.
    step_in_epoch: int = 0
    global_step: int = 0


class Trainer:
    """Trains model on dataset (a ClipDataset) as config (a
    cosam_reid.config.Config: its data, loss and train sections) says; writes
    checkpoints and metrics to config.train.output_dir (rank 0 only).

    hooks are called as hook(trainer) after every step; an exception from one
    stops the run as a kill would (the tests use that).
    """

    def __init__(self, model, dataset, config, context=None, hooks=()):
        data, train, loss = config.data, config.train, config.loss
        self.config = config
        self.context = context or DistributedContext()
        self.device = self.context.device
        self.output_dir = train.output_dir
        self.checkpoint_path = os.path.join(self.output_dir, CHECKPOINT_NAME)
        self.epochs = train.epochs
        self.checkpoint_every = train.checkpoint_every
        self.freeze_bn = train.freeze_bn
        self.amp = uses_mixed_precision(train, self.device)
        self.hooks = list(hooks)
        self.dataset = dataset
        self.num_workers = data.num_workers

        if train.sync_bn and self.context.distributed:
            if self.device.type != "cuda":
                raise ValueError("train.sync_bn needs CUDA (torch's SyncBatchNorm has no CPU implementation)")
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.model = model.to(self.device)
        self.network = self.model
        if self.context.distributed:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.network = DistributedDataParallel(self.model, device_ids=device_ids)
        self.criterion = ReIDLoss(label_smoothing=loss.label_smoothing, triplet_margin=loss.triplet_margin,
                                  ce_weight=loss.ce_weight, triplet_weight=loss.triplet_weight)
        self.optimizer = torch.optim.Adam(
            [parameter for parameter in self.model.parameters() if parameter.requires_grad],
            lr=train.lr,
            weight_decay=train.weight_decay,
        )
        self.scheduler = torch.optim.lr_scheduler.StepLR(
            self.optimizer, step_size=train.lr_step_size, gamma=train.lr_gamma
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.sampler = PKBatchSampler(
            dataset.pids,
            data.identities_per_batch,
            data.instances_per_identity,
            seed=train.seed,
            rank=self.context.rank,
            world_size=self.context.world_size,
        )
        self.progress = Progress()

    def fit(self, resume=False):
        """Trains to the last epoch; with resume, continues from the checkpoint
        in output_dir when there is one."""
        if resume and os.path.exists(self.checkpoint_path):
            self.load_checkpoint(self.checkpoint_path)
        metrics = None
        if self.context.is_main:
            os.makedirs(self.output_dir, exist_ok=True)
            metrics = MetricsLog(self.output_dir, resume_step=self.progress.global_step)
        try:
            while self.progress.epoch < self.epochs:
                self._train_epoch(metrics)
                self.scheduler.step()
                self.progress = Progress(self.progress.epoch + 1, 0, self.progress.global_step)
                self.save_checkpoint()
        finally:
            if metrics is not None:
                metrics.close()

    def _train_epoch(self, metrics):
        progress = self.progress
        self.sampler.set_epoch(progress.epoch)
        batches = self.sampler.plan()
        loader = DataLoader(
            self.dataset,
            batch_sampler=batches[progress.step_in_epoch:],
            num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda",
        )
        self.network.train()
        if self.freeze_bn:
            for module in self.model.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        bar = tqdm(
            loader,
            total=len(batches),
            initial=progress.step_in_epoch,
            desc=f"epoch {progress.epoch + 1}/{self.epochs}",
            disable=not self.context.is_main,
            dynamic_ncols=True,
        )
        for clips, pids, _ in bar:
            row = self._train_step(clips.to(self.device, non_blocking=True), pids.to(self.device))
            progress.step_in_epoch += 1
            progress.global_step += 1
            if metrics is not None:
                # Epochs and steps counted from 1, as the progress bar shows them.
                metrics.log(dict(row, epoch=progress.epoch + 1, step=progress.step_in_epoch,
                                 global_step=progress.global_step))
            bar.set_postfix(loss=f"{row['loss']:.4f}", acc=f"{row['accuracy']:.3f}")
            if self.checkpoint_every and progress.global_step % self.checkpoint_every == 0:
                self.save_checkpoint()
            for hook in self.hooks:
                hook(self)

    def _train_step(self, clips, pids):
        with torch.autocast(self.device.type, enabled=self.amp):
            output = self.network(clips)
            terms = self.criterion(output, pids)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(terms.total).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        accuracy = (output.logits.argmax(dim=1) == pids).float().mean()
        values = torch.stack([terms.total.detach(), terms.cross_entropy.detach(), terms.triplet.detach(), accuracy])
        loss, cross_entropy, triplet, accuracy = mean_over_ranks(values.float(), self.context).tolist()
        return dict(loss=loss, cross_entropy=cross_entropy, triplet=triplet, accuracy=accuracy,
                    lr=self.optimizer.param_groups[0]["lr"])

    def save_checkpoint(self):
        """Everything the run needs to continue exactly; rank 0 writes it."""
        if not self.context.is_main:
            return
        payload = {
            "format": CHECKPOINT_FORMAT,
            "model_spec": spec_payload(self.model.spec),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "progress": dataclasses.asdict(self.progress),
            "torch_rng": torch.get_rng_state(),
            "config": self.config.to_dict(),
        }
        if self.device.type == "cuda":
            payload["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        os.makedirs(self.output_dir, exist_ok=True)
        atomic_save(payload, self.checkpoint_path)

    def load_checkpoint(self, path):
        checkpoint = read_checkpoint(path, map_location=self.device)
        if checkpoint.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path} has checkpoint format {checkpoint.get('format')!r}, expected {CHECKPOINT_FORMAT}")
        check_model_spec(checkpoint, self.model, path)
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.scaler.load_state_dict(checkpoint["scaler"])
        self.progress = Progress(**checkpoint["progress"])
        torch.set_rng_state(checkpoint["torch_rng"].cpu())
        if "cuda_rng" in checkpoint and self.device.type == "cuda":
            torch.cuda.set_rng_state(checkpoint["cuda_rng"].cpu(), self.device)
