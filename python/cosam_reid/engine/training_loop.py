"""The training loop: P x K batches of clips, label-smoothed CE + batch-hard
triplet, Adam with a step or cosine schedule after an optional linear
warm-up, AMP on CUDA, DDP, checkpoints with exact resume, per-step metrics,
and evaluation on the test split every train.eval_every epochs with the best
model kept."""
import dataclasses
import datetime
import math
import os
import random
import shlex
import time

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..config import packaged_default, save_config
from ..data.sampler import PKBatchSampler
from ..data.workers import loader_workers
from ..losses import ReIDLoss
from .checkpoint import BEST_NAME, CHECKPOINT_NAME, atomic_save, check_model_spec, read_checkpoint, weights_payload
from .distributed import DistributedContext, mean_over_ranks
from .training_log import METRICS_NAME, MetricsLog

#: Bumped when the checkpoint contents change incompatibly.
CHECKPOINT_FORMAT = 1
CONFIG_NAME = "config.yaml"
#: The files of a run in its output_dir (TensorBoard's folder aside).
RUN_FILES = (CHECKPOINT_NAME, BEST_NAME, METRICS_NAME, CONFIG_NAME)
LR_SCHEDULES = ("step", "cosine")


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


def check_train_settings(train):
    """One-line errors for values of the train section (a TrainConfig) that
    their types allow but a run cannot use."""
    if train.lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"train.lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {train.lr_schedule!r}")
    for key, least in (("epochs", 0), ("lr_step_size", 1), ("warmup_epochs", 0), ("checkpoint_every", 0),
                       ("eval_every", 0)):
        if getattr(train, key) < least:
            raise ValueError(f"train.{key} must be at least {least}, got {getattr(train, key)}")


def lr_factor(epoch, train):
    """The multiple of train.lr that epoch (counted from 0) trains at:
    train.warmup_epochs W of linear warm-up (lr/W, 2 lr/W, ..., lr), then the
    step schedule (x lr_gamma every lr_step_size epochs, counted from the
    first epoch) or cosine annealing from lr to 0 over the epochs after the
    warm-up."""
    warmup = train.warmup_epochs
    if epoch < warmup:
        return (epoch + 1) / warmup
    if train.lr_schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * (epoch - warmup) / (train.epochs - warmup)))
    return train.lr_gamma ** (epoch // train.lr_step_size)


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
    checkpoints and metrics to config.train.output_dir (rank 0 only), from
    the end of the first step trained: a run that fails before leaves
    output_dir as it found it.

    test_set is the VideoReIDDataset whose query and gallery rank 0
    evaluates on every train.eval_every epochs, as config.evaluation says;
    it is needed there when eval_every is set.

    hooks are called as hook(trainer) after every step; an exception from one
    stops the run as a kill would (the tests use that).
    """

    def __init__(self, model, dataset, config, context=None, hooks=(), test_set=None):
        data, train, loss = config.data, config.train, config.loss
        check_train_settings(train)
        self.config = config
        self.context = context or DistributedContext()
        self.device = self.context.device
        self.output_dir = train.output_dir
        self.checkpoint_path = os.path.join(self.output_dir, CHECKPOINT_NAME)
        self.best_path = os.path.join(self.output_dir, BEST_NAME)
        self.epochs = train.epochs
        self.checkpoint_every = train.checkpoint_every
        self.eval_every = train.eval_every
        if self.eval_every and self.context.is_main and test_set is None:
            raise ValueError("train.eval_every: the Trainer needs a test set to evaluate on (test_set)")
        self.test_set = test_set
        # R1 is logged whatever ranks the config reports.
        self.evaluation = dataclasses.replace(config.evaluation, ranks=sorted({1, *config.evaluation.ranks}))
        #: epoch, mAP and R1 of the best evaluation so far (best.pt), or None.
        self.best = None
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
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda epoch: lr_factor(epoch, train))
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
        #: Where the run started (fit() sets them) and its metrics log, opened by _output().
        self._started_from, self._anew = Progress(), True
        self._metrics = None

    def fit(self, resume=False):
        """Trains to the last epoch. With resume, continues from the
        checkpoint in output_dir when there is one; otherwise starts anew
        there, in place of any run there (from the end of the first step)."""
        resumed = resume and os.path.exists(self.checkpoint_path)
        if resumed:
            self.load_checkpoint(self.checkpoint_path)
            self._say(self._resume_notice())
        self._started_from, self._anew, self._metrics = dataclasses.replace(self.progress), not resumed, None
        started, epochs_run = time.monotonic(), 0
        try:
            while self.progress.epoch < self.epochs:
                rows = self._train_epoch()
                self.scheduler.step()
                self.progress = Progress(self.progress.epoch + 1, 0, self.progress.global_step)
                result = self._evaluate_when_due()
                self.save_checkpoint()
                epochs_run += 1
                seconds_left = (time.monotonic() - started) / epochs_run * (self.epochs - self.progress.epoch)
                self._say(self._epoch_line(rows, result, seconds_left))
        finally:
            if self._metrics is not None:
                self._metrics.close()
        if os.path.exists(self.checkpoint_path):  # none after train.epochs=0
            self._say(self._closing_line())

    def _output(self):
        """Rank 0: the metrics log, opened before the first thing fit()
        writes. Opening it makes output_dir, writes the config there and, for a
        run started anew, removes the checkpoints of the run there."""
        if self._metrics is None:
            os.makedirs(self.output_dir, exist_ok=True)
            if self._anew:
                for path in (self.checkpoint_path, self.best_path):
                    if os.path.exists(path):
                        os.remove(path)
            save_config(self.config, os.path.join(self.output_dir, CONFIG_NAME))
            self._metrics = MetricsLog(self.output_dir, self._started_from)
        return self._metrics

    def _train_epoch(self):
        """Trains the rest of the current epoch; returns the rows of its steps."""
        progress = self.progress
        self.sampler.set_epoch(progress.epoch)
        batches = self.sampler.plan()
        loader = DataLoader(
            self.dataset,
            batch_sampler=batches[progress.step_in_epoch:],
            num_workers=loader_workers(self.num_workers),
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
        rows = []
        for clips, pids, _ in bar:
            row = self._train_step(clips.to(self.device, non_blocking=True), pids.to(self.device))
            rows.append(row)
            progress.step_in_epoch += 1
            progress.global_step += 1
            if self.context.is_main:
                # Epochs and steps counted from 1, as the progress bar shows them.
                self._output().log(dict(row, epoch=progress.epoch + 1, step=progress.step_in_epoch,
                                        global_step=progress.global_step))
            bar.set_postfix(loss=f"{row['loss']:.4f}", acc=f"{row['accuracy']:.3f}")
            if self.checkpoint_every and progress.global_step % self.checkpoint_every == 0:
                self.save_checkpoint()
            for hook in self.hooks:
                hook(self)
        return rows

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

    def evaluate(self):
        """The model's result on test_set as config.evaluation says (with R1).
        The RNG streams are left as they were, so that a run with evaluations
        trains as one without and resumes exactly; the modes the evaluation
        sets are set again by the next epoch."""
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            return result_on_test_split(self.model, self.test_set, self.evaluation, num_workers=self.num_workers)

    def _evaluate_when_due(self):
        """Rank 0, after every eval_every-th epoch and the last: the test
        result, logged, and best.pt written when its mAP is the best yet."""
        epoch = self.progress.epoch
        if not (self.eval_every and self.context.is_main and (epoch % self.eval_every == 0 or epoch == self.epochs)):
            return None
        result = self.evaluate()
        scores = {"mAP": result.mAP, "R1": result.cmc[1]}
        self._output().log(dict(scores, epoch=epoch, global_step=self.progress.global_step))
        if self.best is None or result.mAP > self.best["mAP"]:
            self.best = dict(scores, epoch=epoch)
            atomic_save(dict(weights_payload(self.model), **self.best), self.best_path)
        return result

    def save_checkpoint(self):
        """Everything the run needs to continue exactly; rank 0 writes it."""
        if not self.context.is_main:
            return
        payload = {
            "format": CHECKPOINT_FORMAT,
            **weights_payload(self.model),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "progress": dataclasses.asdict(self.progress),
            "best": self.best,
            "torch_rng": torch.get_rng_state(),
            "config": self.config.to_dict(),
        }
        if self.device.type == "cuda":
            payload["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        self._output()
        atomic_save(payload, self.checkpoint_path)

    def load_checkpoint(self, path):
        checkpoint = read_checkpoint(path, map_location=self.device)
        if checkpoint.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path} has checkpoint format {checkpoint.get('format')!r}, expected {CHECKPOINT_FORMAT}")
        check_model_spec(checkpoint, self.model, path)
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        # The factors come from the config (lr_factor), not the checkpoint; so
        # a checkpoint of before the schedules (StepLR's state) resumes too.
        self.scheduler.load_state_dict(dict(checkpoint["scheduler"], lr_lambdas=[None]))
        self.scaler.load_state_dict(checkpoint["scaler"])
        self.progress = Progress(**checkpoint["progress"])
        self.best = checkpoint.get("best")  # absent from checkpoints of before train.eval_every
        torch.set_rng_state(checkpoint["torch_rng"].cpu())
        if "cuda_rng" in checkpoint and self.device.type == "cuda":
            torch.cuda.set_rng_state(checkpoint["cuda_rng"].cpu(), self.device)

    def _say(self, line):
        if self.context.is_main:
            print(line)

    def _resume_notice(self):
        epoch, step = self.progress.epoch, self.progress.step_in_epoch
        if epoch >= self.epochs:
            return (f"=> {self.checkpoint_path} has trained all {self.epochs} epochs (train.epochs): nothing left "
                    f"to do; raise train.epochs to train on")
        where = f"in epoch {epoch + 1} of {self.epochs}, after its step {step}" if step else \
            f"after epoch {epoch} of {self.epochs}"
        return f"=> resumed from {self.checkpoint_path} {where}"

    def _epoch_line(self, rows, result, seconds_left):
        parts = [f"epoch {self.progress.epoch}/{self.epochs}"]
        if rows:  # none when resumed from a checkpoint written after the epoch's last step
            loss, accuracy = (sum(row[name] for row in rows) / len(rows) for name in ("loss", "accuracy"))
            parts.append(f"loss {loss:.4f}, accuracy {100 * accuracy:.1f}%, lr {rows[-1]['lr']:.2e}")
        if result is not None:
            best = " (best so far)" if self.best["epoch"] == self.progress.epoch else ""
            parts.append(f"mAP {100 * result.mAP:.2f}%, R1 {100 * result.cmc[1]:.2f}%{best}")
        parts.append(f"{datetime.timedelta(seconds=round(seconds_left))} left")
        return "=> " + ", ".join(parts)

    def _closing_line(self):
        config = os.path.join(self.output_dir, CONFIG_NAME)
        best = ""
        if self.best is not None:
            best = f"; best mAP {100 * self.best['mAP']:.2f}% (epoch {self.best['epoch']}) in {self.best_path}"
        return (f"=> checkpoint {self.checkpoint_path}{best}; evaluate with: cosam-reid evaluate --checkpoint "
                f"{shlex.quote(self.checkpoint_path)} --config {shlex.quote(config)}")


def result_on_test_split(model, dataset, evaluation, num_workers=0):
    """The result of model (a VideoReIDModel) on the query and gallery of
    dataset (a VideoReIDDataset), as evaluation (an EvaluationConfig) says."""
    # evaluation reads checkpoints through this package: imported on use, not with it.
    from ..evaluation import Protocol, configured_test_features

    features = configured_test_features(model, dataset, evaluation, num_workers=num_workers)
    return features.evaluate(Protocol.from_options(evaluation))
