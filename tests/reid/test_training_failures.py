"""How `cosam-reid train` fails, stops and finishes, through cli.main: each
failure a user can cause is one line with the cure, a run folder is never
trained over unasked, and a run that fails before its first step leaves
nothing behind."""
import os
import shlex

import pytest
import torch

from cosam_reid import cli
from cosam_reid.commands import train as train_command
from cosam_reid.config import load_config
from cosam_reid.data.tracklets import Tracklet, VideoReIDDataset
from cosam_reid.demo import DEMO_CONFIG
from cosam_reid.engine import train, train_from_config
from cosam_reid.engine.training_log import read_metrics
from reid_testing import tiny_tracklets


def tiny_flags(output_dir, *overrides):
    """A seconds-long CPU run of one epoch (one step) on the tiny set build_dataset gives."""
    return ["train", "model.backbone=resnet18", "data.input_size=[64, 32]", "data.identities_per_batch=3",
            "data.instances_per_identity=2", "data.num_workers=0", "train.device=cpu", "train.epochs=1",
            f"train.output_dir={output_dir}", *overrides]


@pytest.fixture
def tiny_data(monkeypatch):
    """train's build_dataset gives 3 in-memory identities; returns the dataset."""
    dataset = VideoReIDDataset("tiny", tiny_tracklets(num_identities=3), [], [])
    monkeypatch.setattr(train_from_config, "build_dataset", lambda name, root, **options: dataset)
    return dataset


def run_cli(capsys, argv):
    status = cli.main(argv)
    output = capsys.readouterr()
    return status, output.out, output.err


def one_line(err):
    """The error line of err, checked to be the only line beside progress bars."""
    lines = err.strip().splitlines()
    assert "Traceback" not in err and all(line.startswith("epoch ") for line in lines[:-1]), err
    return lines[-1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA device")
def test_cuda_asked_for_without_a_gpu(tmp_path, tiny_data, capsys):
    status, _, err = run_cli(capsys, tiny_flags(tmp_path / "run", "train.device=cuda"))
    assert status == 2
    assert one_line(err) == ("cosam-reid train: error: train.device is cuda, but torch sees no CUDA device here: "
                             "train.device=cpu (or auto) trains on the CPU")
    assert not (tmp_path / "run").exists()


def test_missing_pretrained_weights_name_the_key_and_the_path(tmp_path, tiny_data, capsys):
    status, _, err = run_cli(capsys, tiny_flags(tmp_path / "run", "model.pretrained=/missing/path.pth"))
    assert status == 2
    assert "model.pretrained: no weights file at /missing/path.pth" in one_line(err)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("make_argv", [
    lambda tmp: ["evaluate", "--checkpoint", str(tmp / "notes.txt")],
    lambda tmp: ["weights", "--checkpoint", str(tmp / "notes.txt"), "--output", str(tmp / "weights.pt")],
    lambda tmp: tiny_flags(tmp),  # resumed from output_dir/checkpoint.pt
], ids=["evaluate", "weights", "train"])
def test_a_text_file_as_a_checkpoint(tmp_path, tiny_data, capsys, make_argv):
    # "hello" unpickles as far as a memo lookup of "e": torch.load raises KeyError(101).
    for name in ("notes.txt", "checkpoint.pt"):
        (tmp_path / name).write_text("hello, these are notes\n")
    argv = make_argv(tmp_path)
    status, _, err = run_cli(capsys, argv)
    named = tmp_path / ("checkpoint.pt" if argv[0] == "train" else "notes.txt")
    assert status == 2
    assert one_line(err) == (f"cosam-reid {argv[0]}: error: cannot load the checkpoint {named}: not a file "
                             f"torch.save wrote, or a damaged one (KeyError: 101)")
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.pt", "notes.txt"]


def interrupted_after(global_step, dataset):
    """train as the command calls it, with Ctrl-C pressed after a step."""
    def press_ctrl_c(trainer):
        if trainer.progress.global_step == global_step:
            raise KeyboardInterrupt

    return lambda config: train(config, dataset, hooks=[press_ctrl_c])


def test_ctrl_c_names_the_command_that_continues(tmp_path, monkeypatch, capsys):
    # 6 identities, P=3, K=2: 2 steps per epoch; a checkpoint after each step.
    dataset = VideoReIDDataset("tiny", tiny_tracklets(num_identities=6), [], [])
    monkeypatch.setattr(train_command, "train", interrupted_after(1, dataset))
    config = tmp_path / "run.yaml"
    config.write_text("train:\n  checkpoint_every: 1\n")
    argv = tiny_flags(tmp_path / "my run", "train.resume=false")
    argv[1:1] = ["--config", str(config)]
    status, _, err = run_cli(capsys, argv)
    assert status == 130
    checkpoint = tmp_path / "my run" / "checkpoint.pt"
    prefix = f"cosam-reid train: interrupted; continue from {checkpoint} with: "
    assert one_line(err).startswith(prefix)
    command = shlex.split(one_line(err)[len(prefix):])
    assert command == ["cosam-reid", *argv[:-1], "train.resume=true"]

    monkeypatch.setattr(train_command, "train", lambda config: train(config, dataset))
    status, out, err = run_cli(capsys, command[1:])
    assert status == 0, err
    assert f"=> resumed from {checkpoint} in epoch 1 of 1, after its step 1" in out
    assert [row["global_step"] for row in read_metrics(tmp_path / "my run")] == ["1", "2"]


def test_ctrl_c_before_the_first_step_leaves_no_run(tmp_path, monkeypatch, capsys):
    def interrupted_while_loading(name, root, **options):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_from_config, "build_dataset", interrupted_while_loading)
    status, _, err = run_cli(capsys, tiny_flags(tmp_path / "run"))
    assert status == 130
    assert one_line(err).startswith("cosam-reid train: interrupted; no checkpoint was written; start again with: "
                                    "cosam-reid train ")
    assert not (tmp_path / "run").exists()


def test_resume_notices_and_the_closing_line(tmp_path, tiny_data, capsys):
    run = tmp_path / "run"
    status, out, _ = run_cli(capsys, tiny_flags(run))
    assert status == 0
    closing = out.strip().splitlines()[-1]
    evaluate = f"cosam-reid evaluate --checkpoint {run / 'checkpoint.pt'} --config {run / 'config.yaml'}"
    assert closing == f"=> checkpoint {run / 'checkpoint.pt'}; evaluate with: {evaluate}"
    assert cli.build_parser().parse_args(shlex.split(evaluate)[1:]).checkpoint == str(run / "checkpoint.pt")
    written = os.path.getmtime(run / "metrics.csv")

    status, out, _ = run_cli(capsys, tiny_flags(run))
    assert status == 0
    assert (f"=> {run / 'checkpoint.pt'} has trained all 1 epochs (train.epochs): nothing left to do; raise "
            f"train.epochs to train on") in out
    assert out.strip().splitlines()[-1] == closing
    assert os.path.getmtime(run / "metrics.csv") == written

    status, out, _ = run_cli(capsys, tiny_flags(run, "train.epochs=2"))
    assert status == 0
    assert f"=> resumed from {run / 'checkpoint.pt'} after epoch 1 of 2" in out
    assert [row["epoch"] for row in read_metrics(run)] == ["1", "2"]


def test_a_run_folder_is_trained_over_only_when_asked(tmp_path, tiny_data, capsys):
    run = tmp_path / "run"
    assert cli.main(tiny_flags(run, "train.resume=false")) == 0
    (run / "best.pt").write_text("the best of an earlier run")
    status, _, err = run_cli(capsys, tiny_flags(run, "train.resume=false", "train.lr=0.01"))
    assert status == 2
    assert one_line(err) == (f"cosam-reid train: error: train.output_dir {run} already holds a run (checkpoint.pt, "
                             f"best.pt, metrics.csv, config.yaml): train.resume=true continues it, "
                             f"train.overwrite=true trains anew in its place")
    assert "lr: 0.01" not in (run / "config.yaml").read_text()

    status, _, _ = run_cli(capsys, tiny_flags(run, "train.resume=false", "train.overwrite=true", "train.lr=0.01"))
    assert status == 0
    assert not (run / "best.pt").exists() and "lr: 0.01" in (run / "config.yaml").read_text()
    assert len(read_metrics(run)) == 1


def test_the_demo_trains_anew_in_its_own_folder(tmp_path):
    run = tmp_path / "demo"
    run.mkdir()
    (run / "checkpoint.pt").write_text("an earlier demo")
    settings = load_config(DEMO_CONFIG, [f"train.output_dir={run}"]).train
    assert (settings.resume, settings.overwrite) == (False, True)
    train_from_config.check_output_dir(settings)


def unreadable_frames(num_identities=3):
    return [Tracklet(tuple(f"/missing/{pid}/{camid}/{index}.jpg" for index in range(4)), pid, camid)
            for pid in range(num_identities) for camid in range(2)]


def test_a_run_failing_before_its_first_step_leaves_nothing(tmp_path, monkeypatch, capsys):
    dataset = VideoReIDDataset("tiny", unreadable_frames(), [], [])
    monkeypatch.setattr(train_from_config, "build_dataset", lambda name, root, **options: dataset)
    status, _, err = run_cli(capsys, tiny_flags(tmp_path / "run"))
    assert status == 2 and "frame image not found: /missing/" in one_line(err)
    assert not (tmp_path / "run").exists()

    # A folder that was there is left as it was, and gets no config.yaml.
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "notes.txt").write_text("mine")
    status, _, err = run_cli(capsys, tiny_flags(tmp_path / "kept"))
    assert status == 2
    assert os.listdir(tmp_path / "kept") == ["notes.txt"]


@pytest.mark.parametrize("override, message", [
    ("train.lr_schedule=cosin", "train.lr_schedule must be one of step, cosine, got 'cosin'"),
    ("train.warmup_epochs=-1", "train.warmup_epochs must be at least 0, got -1"),
    ("train.eval_every=1", "train.eval_every: the test set tiny has no query or no gallery tracklets"),
])
def test_settings_found_wrong_late_leave_nothing(tmp_path, tiny_data, capsys, override, message):
    status, _, err = run_cli(capsys, tiny_flags(tmp_path / "run", override))
    assert status == 2 and one_line(err) == f"cosam-reid train: error: {message}"
    assert not (tmp_path / "run").exists()
