import pytest
import torch

from cosam_reid.data.tracklets import VideoReIDDataset
from cosam_reid.engine import model_from_checkpoint
from cosam_reid.engine.metrics import read_metrics
from cosam_reid.engine.train_command import train
from reid_testing import tiny_config, tiny_tracklets


def tiny_dataset(num_identities=9):
    return VideoReIDDataset("tiny", tiny_tracklets(num_identities=num_identities), [], [])


@pytest.fixture
def deterministic():
    yield
    torch.use_deterministic_algorithms(False)


def test_loss_falls_on_a_tiny_dataset(tmp_path):
    # 4 identities x 2 tracklets, P=4, K=2: one batch per epoch, 10 steps.
    config = tiny_config(tmp_path, "train.epochs=10", "train.lr=1.0e-3", "data.identities_per_batch=4")
    train(config, tiny_dataset(num_identities=4))
    losses = [float(row["loss"]) for row in read_metrics(tmp_path)]
    assert len(losses) == 10
    assert sum(losses[-3:]) / 3 < 0.6 * sum(losses[:3]) / 3, losses
    assert (tmp_path / "config.yaml").exists()
    model = model_from_checkpoint(tmp_path / "checkpoint.pt")
    assert model.spec.cosam_blocks == (4, 5) and model.spec.num_classes == 4


class Killed(Exception):
    pass


def kill_after(global_step):
    def hook(trainer):
        if trainer.progress.global_step == global_step:
            raise Killed(f"killed after step {global_step}")

    return hook


def test_killed_mid_epoch_and_resumed_equals_uninterrupted(tmp_path, deterministic):
    # 9 identities x 2 tracklets, P=3, K=2: 3 steps per epoch, 6 in all;
    # checkpoints every 2 steps, so the kill after step 5 resumes from step 4,
    # in the middle of the second epoch (with the learning rate dropped once).
    overrides = ["train.checkpoint_every=2", "train.lr_step_size=1", "train.deterministic=true"]
    dataset = tiny_dataset()
    whole = train(tiny_config(tmp_path / "whole", *overrides), dataset)

    interrupted = tiny_config(tmp_path / "resumed", *overrides)
    with pytest.raises(Killed):
        train(interrupted, dataset, hooks=[kill_after(5)])
    assert len(read_metrics(tmp_path / "resumed")) == 5
    resumed = train(interrupted, dataset)

    assert resumed.progress == whole.progress
    for name, tensor in whole.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    whole_optimizer, resumed_optimizer = whole.optimizer.state_dict(), resumed.optimizer.state_dict()
    for key, state in whole_optimizer["state"].items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(resumed_optimizer["state"][key][name]))
    assert read_metrics(tmp_path / "resumed") == read_metrics(tmp_path / "whole")
    assert len(read_metrics(tmp_path / "whole")) == 6
