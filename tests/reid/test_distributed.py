"""Two gloo processes on the CPU against one process with the same global batch.

Equal results need an equal loss and equal gradients:
- the sampler gives rank r identities r*P..r*P+P-1 of the global P x K batch
  (same clips, same per-clip seeds), and DDP averages the ranks' gradients, so
  the mean of the two per-rank mean losses is the one-process mean loss;
- BatchNorm is frozen (train.freeze_bn): in training mode each rank would
  normalise with its own half-batch statistics, and torch's SyncBatchNorm,
  which would share them, has no CPU implementation;
- the triplet term is off: batch-hard mining looks for the hardest pairs
  within a rank's batch, not within the global batch.
What is left differs only in the order of floating-point sums: the losses
agree to 1e-5, each parameter's update to 2% of its norm (see below).
"""
import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.multiprocessing as mp

from cosam_reid.data.tracklets import VideoReIDDataset
from cosam_reid.engine.checkpoint import read_checkpoint
from cosam_reid.engine.training_log import read_metrics
from cosam_reid.engine import initial_model, train
from reid_testing import tiny_config, tiny_tracklets

WORLD_SIZE = 2
GLOBAL_IDENTITIES = 4
SHARED = ["train.freeze_bn=true", "loss.triplet_weight=0.0", "model.cosam_blocks=[4, 5]", "train.epochs=2"]


def dataset():
    # 8 identities x 2 tracklets, 4 x 2 clips per global batch: 2 steps per epoch.
    return VideoReIDDataset("tiny", tiny_tracklets(num_identities=8), [], [])


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_rank(rank, port, output_dir):
    torch.set_num_threads(1)
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD_SIZE),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
    )
    per_rank = f"data.identities_per_batch={GLOBAL_IDENTITIES // WORLD_SIZE}"
    train(tiny_config(output_dir, per_rank, *SHARED), dataset())


def test_two_gloo_processes_equal_one_process(tmp_path):
    mp.spawn(run_rank, args=(free_port(), str(tmp_path / "ddp")), nprocs=WORLD_SIZE, join=True)
    single_config = tiny_config(tmp_path / "single", f"data.identities_per_batch={GLOBAL_IDENTITIES}", *SHARED)
    single = train(single_config, dataset())

    distributed = read_checkpoint(tmp_path / "ddp" / "checkpoint.pt")
    assert distributed["progress"]["global_step"] == single.progress.global_step == 4
    initial = initial_model(single_config, num_classes=8).state_dict()
    for name, parameter in single.model.named_parameters():
        update = parameter.detach() - initial[name]
        difference = distributed["model"][name] - parameter.detach()
        # Adam divides by the root of the squared-gradient average, so where a
        # gradient is near zero, rounding alone can move an element by up to
        # the learning rate; the tensor as a whole must agree.
        assert update.norm() > 0, name
        assert difference.norm() < 0.02 * update.norm(), name
    ddp_losses = [float(row["loss"]) for row in read_metrics(tmp_path / "ddp")]
    single_losses = [float(row["loss"]) for row in read_metrics(tmp_path / "single")]
    assert ddp_losses == pytest.approx(single_losses, rel=1e-5)


def test_torchrun_trains_from_the_command_line(tmp_path):
    """The launcher path: torchrun, env:// rendezvous, the CLI, a dataset that
    rank 0 generates while rank 1 waits, metrics and checkpoint from rank 0."""
    command = [
        sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={WORLD_SIZE}",
        f"--master_port={free_port()}", "-m", "cosam_reid.cli", "train",
        "data.dataset=synthetic", f"data.root={tmp_path / 'data'}",
        "data.dataset_options={num_identities: 16, verbose: false}",
        "model.backbone=resnet18", "data.input_size=[64, 32]", "data.identities_per_batch=2",
        "data.instances_per_identity=2", "data.num_workers=0", "train.device=cpu", "train.epochs=1",
        "train.freeze_bn=true", f"train.output_dir={tmp_path / 'run'}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_metrics(tmp_path / "run")
    assert len(rows) == read_checkpoint(tmp_path / "run" / "checkpoint.pt")["progress"]["global_step"] > 0
    assert result.stdout.count("backbone: resnet18") == 1  # the config is printed by rank 0 only
