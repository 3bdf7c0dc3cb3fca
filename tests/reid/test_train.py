import math
import re
import types

import pytest
import torch

from cosam_reid.data.clips import ClipDataset
from cosam_reid.data.tracklets import VideoReIDDataset
from cosam_reid.data.transforms import EvalTransform
from cosam_reid.engine import (DistributedContext, Trainer, model_from_checkpoint, read_checkpoint,
                               result_on_test_split, training_loop)
from cosam_reid.engine.training_log import read_metrics
from cosam_reid.engine import train
from cosam_reid.models import model_from_config
from reid_testing import tiny_config, tiny_tracklets


def tiny_dataset(num_identities=9, test_identities=0):
    """Train tracklets of num_identities; a query (camera 0) and a gallery
    (camera 1) tracklet of each of test_identities others."""
    test = tiny_tracklets(num_identities=test_identities, seed=1) if test_identities else []
    return VideoReIDDataset("tiny", tiny_tracklets(num_identities=num_identities),
                            [t for t in test if t.camid == 0], [t for t in test if t.camid == 1])


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


def saved_or_killed_after_evaluating(epoch):
    """Trainer.save_checkpoint, raising Killed in place of the checkpoint at
    the end of epoch (after its evaluation)."""
    save = Trainer.save_checkpoint

    def save_checkpoint(trainer):
        if trainer.progress.epoch == epoch and trainer.progress.step_in_epoch == 0:
            raise Killed(f"killed after evaluating epoch {epoch}")
        save(trainer)

    return save_checkpoint


def test_killed_mid_epoch_and_resumed_equals_uninterrupted(tmp_path, deterministic, monkeypatch, capsys):
    # 9 identities x 2 tracklets, P=3, K=2: 3 steps per epoch, 6 in all, and
    # an evaluation after each epoch; checkpoints every 2 steps. The first kill,
    # after step 5, resumes from step 4, in the middle of the second epoch
    # (with the learning rate dropped once); the second, after the second
    # epoch's evaluation but before its checkpoint, from step 6: the
    # evaluation logged after that checkpoint is done again.
    overrides = ["train.checkpoint_every=2", "train.lr_step_size=1", "train.deterministic=true",
                 "train.eval_every=1"]
    dataset = tiny_dataset(test_identities=3)
    whole = train(tiny_config(tmp_path / "whole", *overrides), dataset)

    interrupted = tiny_config(tmp_path / "resumed", *overrides)
    with pytest.raises(Killed):
        train(interrupted, dataset, hooks=[kill_after(5)])
    assert len(read_metrics(tmp_path / "resumed")) == 5 + 1  # steps, and the first epoch's evaluation
    saved = read_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["progress"]
    assert saved == {"epoch": 1, "step_in_epoch": 1, "global_step": 4}
    steps_run = []
    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "save_checkpoint", saved_or_killed_after_evaluating(2))
        capsys.readouterr()
        with pytest.raises(Killed):
            train(interrupted, dataset, hooks=[lambda trainer: steps_run.append(trainer.progress.global_step)])
    assert "=> resumed from " + str(tmp_path / "resumed" / "checkpoint.pt") + " in epoch 2 of 2, after its step 1" \
        in capsys.readouterr().out
    assert steps_run == [5, 6]
    assert [row["epoch"] for row in read_metrics(tmp_path / "resumed") if not row["step"]] == ["1", "2"]
    resumed = train(interrupted, dataset)
    assert "in epoch 2 of 2, after its step 3" in capsys.readouterr().out

    assert resumed.progress == whole.progress
    for name, tensor in whole.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    whole_optimizer, resumed_optimizer = whole.optimizer.state_dict(), resumed.optimizer.state_dict()
    for key, state in whole_optimizer["state"].items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(resumed_optimizer["state"][key][name]))
    assert read_metrics(tmp_path / "resumed") == read_metrics(tmp_path / "whole")
    assert len(read_metrics(tmp_path / "whole")) == 6 + 2
    whole_best, resumed_best = (torch.load(tmp_path / run / "best.pt") for run in ("whole", "resumed"))
    assert whole_best.keys() == resumed_best.keys() == {"model_spec", "model", "epoch", "mAP", "R1"}
    assert all(torch.equal(whole_best["model"][name], resumed_best["model"][name]) for name in whole_best["model"])
    assert (whole_best["epoch"], whole_best["mAP"]) == (resumed_best["epoch"], resumed_best["mAP"])


def test_the_evaluation_leaves_the_random_streams_as_they_were(tmp_path):
    config = tiny_config(tmp_path, "train.eval_every=1")
    dataset = tiny_dataset(test_identities=3)
    clips = ClipDataset(dataset.train, 4, EvalTransform((64, 32)))
    trainer = Trainer(model_from_config(config, num_classes=9), clips, config, test_set=dataset)
    before = torch.get_rng_state()
    trainer.evaluate()
    assert torch.equal(torch.get_rng_state(), before)


def scripted_evaluation(mAPs, monkeypatch):
    """Replaces the evaluation in training: the i-th gives mAPs[i] (R1 twice
    that); returns the weights each was given."""
    weights = []

    def evaluation(model, dataset, evaluation, num_workers=0):
        weights.append({name: tensor.clone() for name, tensor in model.state_dict().items()})
        mAP = mAPs[len(weights) - 1]
        return types.SimpleNamespace(mAP=mAP, cmc={1: 2 * mAP})

    monkeypatch.setattr(training_loop, "result_on_test_split", evaluation)
    return weights


def test_eval_every_logs_each_evaluation_and_keeps_the_best_weights(tmp_path, monkeypatch, capsys):
    # 4 identities, P=4, K=2: one step per epoch; evaluations after epochs 2, 4 and 5 (the last).
    weights = scripted_evaluation([0.25, 0.5, 0.375], monkeypatch)
    config = tiny_config(tmp_path, "train.epochs=5", "train.eval_every=2", "data.identities_per_batch=4")
    trainer = train(config, tiny_dataset(num_identities=4, test_identities=2))
    evaluations = [(row["epoch"], row["global_step"], row["mAP"], row["R1"])
                   for row in read_metrics(tmp_path) if not row["step"]]
    assert evaluations == [("2", "2", "0.25", "0.5"), ("4", "4", "0.5", "1.0"), ("5", "5", "0.375", "0.75")]
    best = torch.load(tmp_path / "best.pt")
    assert (best["epoch"], best["mAP"], best["R1"]) == (4, 0.5, 1.0) and "optimizer" not in best
    assert all(torch.equal(best["model"][name], tensor) for name, tensor in weights[1].items())
    assert read_checkpoint(tmp_path / "checkpoint.pt")["best"] == {"epoch": 4, "mAP": 0.5, "R1": 1.0}
    assert model_from_checkpoint(tmp_path / "best.pt").spec == trainer.model.spec
    out = capsys.readouterr().out
    assert "mAP 50.00%, R1 100.00% (best so far)" in out and "mAP 37.50%, R1 75.00%, " in out
    assert f"; best mAP 50.00% (epoch 4) in {tmp_path / 'best.pt'}" in out


def test_the_evaluation_in_training_is_the_configured_one_with_r1(tmp_path):
    dataset = tiny_dataset(num_identities=3, test_identities=3)
    config = tiny_config(tmp_path, "train.epochs=1", "train.eval_every=1", "evaluation.ranks=[2]",
                         "evaluation.distance=cosine")
    trainer = train(config, dataset)
    logged = [row for row in read_metrics(tmp_path) if not row["step"]]
    expected = result_on_test_split(trainer.model, dataset, trainer.evaluation)
    assert expected.protocol.distance == "cosine" and set(expected.cmc) == {1, 2}
    assert [(float(row["mAP"]), float(row["R1"])) for row in logged] == [(expected.mAP, expected.cmc[1])]


def test_warm_up_then_cosine_and_the_epoch_line(tmp_path, capsys):
    # 4 identities, P=4, K=2: one step per epoch, each at its epoch's learning rate.
    config = tiny_config(tmp_path, "train.epochs=4", "train.lr_schedule=cosine", "train.warmup_epochs=2",
                         "train.lr=1.0e-3", "data.identities_per_batch=4")
    train(config, tiny_dataset(num_identities=4))
    assert [float(row["lr"]) for row in read_metrics(tmp_path)] == pytest.approx([5e-4, 1e-3, 1e-3, 5e-4])
    lines = re.findall(r"^=> epoch (\d)/4, loss \d+\.\d{4}, accuracy \d+\.\d%, lr (\S+), \d+:\d\d:\d\d left$",
                       capsys.readouterr().out, re.MULTILINE)
    assert lines == [("1", "5.00e-04"), ("2", "1.00e-03"), ("3", "1.00e-03"), ("4", "5.00e-04")]


@pytest.mark.parametrize("overrides, factors", [
    ([], [1, 1, 0.1, 0.1, 0.01]),
    (["train.warmup_epochs=2"], [0.5, 1, 0.1, 0.1, 0.01]),
    (["train.lr_schedule=cosine"], [1, (1 + math.cos(math.pi / 5)) / 2, (1 + math.cos(2 * math.pi / 5)) / 2,
                                    (1 + math.cos(3 * math.pi / 5)) / 2, (1 + math.cos(4 * math.pi / 5)) / 2]),
    (["train.lr_schedule=cosine", "train.warmup_epochs=2"], [0.5, 1, 1, 0.75, 0.25]),  # cos(pi/3), cos(2pi/3)
])
def test_learning_rate_factors(tmp_path, overrides, factors):
    train_settings = tiny_config(tmp_path, "train.epochs=5", "train.lr_step_size=2", *overrides).train
    assert [training_loop.lr_factor(epoch, train_settings) for epoch in range(5)] == pytest.approx(factors)


@pytest.mark.parametrize("override, message", [
    ("train.lr_schedule=linear", "train.lr_schedule must be one of step, cosine, got 'linear'"),
    ("train.warmup_epochs=-1", "train.warmup_epochs must be at least 0, got -1"),
    ("train.lr_step_size=0", "train.lr_step_size must be at least 1, got 0"),
    ("train.eval_every=-2", "train.eval_every must be at least 0, got -2"),
])
def test_bad_train_settings_are_refused(tmp_path, override, message):
    config = tiny_config(tmp_path, override)
    clips = ClipDataset(tiny_tracklets(num_identities=3), 4, EvalTransform((64, 32)))
    with pytest.raises(ValueError, match=re.escape(message)):
        Trainer(model_from_config(config, num_classes=3), clips, config)


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
