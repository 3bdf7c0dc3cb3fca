import pytest
import torch

from cosam_reid.data.clips import ClipDataset
from cosam_reid.data.tracklets import VideoReIDDataset
from cosam_reid.data.transforms import EvalTransform
from cosam_reid.engine import DistributedContext, Trainer, model_from_checkpoint, read_checkpoint
from cosam_reid.engine.training_log import read_metrics
from cosam_reid.engine import train
from cosam_reid.models import model_from_config
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
    rows = read_metrics(tmp_path)
    assert [(row["epoch"], row["step"], row["global_step"]) for row in rows[:2]] == [("1", "1", "1"), ("2", "1", "2")]
    losses = [float(row["loss"]) for row in rows]
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
    saved = read_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["progress"]
    assert saved == {"epoch": 1, "step_in_epoch": 1, "global_step": 4}
    steps_run = []
    resumed = train(interrupted, dataset, hooks=[lambda trainer: steps_run.append(trainer.progress.global_step)])
    assert steps_run == [5, 6]

    assert resumed.progress == whole.progress
    for name, tensor in whole.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    whole_optimizer, resumed_optimizer = whole.optimizer.state_dict(), resumed.optimizer.state_dict()
    for key, state in whole_optimizer["state"].items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(resumed_optimizer["state"][key][name]))
    assert read_metrics(tmp_path / "resumed") == read_metrics(tmp_path / "whole")
    assert len(read_metrics(tmp_path / "whole")) == 6


def test_model_from_config_loads_imagenet_weights(tmp_path, capsys):
    source = model_from_config(tiny_config(tmp_path), num_classes=4)
    state = dict(source.backbone.state_dict(), **{"fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)})
    torch.save(state, tmp_path / "resnet18.pth")
    model = model_from_config(tiny_config(tmp_path, f"model.pretrained={tmp_path / 'resnet18.pth'}"), num_classes=4)
    for name, tensor in source.backbone.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[name], tensor), name
    assert "torchvision layout" in capsys.readouterr().out


def test_sync_bn_on_the_cpu_is_refused(tmp_path):
    config = tiny_config(tmp_path, "train.sync_bn=true")
    clips = ClipDataset(tiny_tracklets(num_identities=3), 4, EvalTransform((64, 32)))
    with pytest.raises(ValueError, match="train.sync_bn needs CUDA"):
        Trainer(model_from_config(config, num_classes=3), clips, config, DistributedContext(0, 2))
