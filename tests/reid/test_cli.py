"""`cosam-reid synth`, `cosam-reid evaluate --checkpoint` and the errors a
user can cause, all through cli.main as the console script calls it."""
import os
import re
import subprocess
import sys

import pytest

import numpy as np
from cosam_reid import cli
from cosam_reid.commands import COMMANDS
from cosam_reid.config import CONFIGS, load_config
from dataset_fixtures import make_mars, write_frame
from reid_testing import save_model, tiny_model

# 4 identities (2 train, 2 test), 2 cameras, 3-4 frames of 32x16.
SYNTH_FLAGS = ["--identities", "4", "--cameras", "2", "--tracklet-length", "3", "4", "--size", "32", "16"]


def run_cli(capsys, *argv):
    status = cli.main(list(argv))
    output = capsys.readouterr()
    return status, output.out, output.err


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    assert cli.main(["synth", "--root", str(root), *SYNTH_FLAGS]) == 0
    return root


@pytest.fixture(scope="module")
def checkpoint(synthetic_root, tmp_path_factory):
    """A model of 3-frame clips trained one epoch on the synthetic set (read as MARS)."""
    output_dir = tmp_path_factory.mktemp("run")
    status = cli.main([
        "train", "model.backbone=resnet18", "data.dataset=mars", f"data.root={synthetic_root / 'synthetic'}",
        "data.num_frames=3", "data.input_size=[64, 32]", "data.identities_per_batch=2",
        "data.instances_per_identity=2", "data.num_workers=0", "train.device=cpu", "train.epochs=1",
        f"train.output_dir={output_dir}",
    ])
    assert status == 0
    return output_dir / "checkpoint.pt"


def test_synth_writes_the_mars_layout_and_reuses_it(synthetic_root, capsys):
    info = synthetic_root / "synthetic" / "info"
    assert (info / "tracks_test_info.mat").exists() and (info / "query_IDX.mat").exists()
    written = os.path.getmtime(info / "test_name.txt")
    status, out, _ = run_cli(capsys, "synth", "--root", str(synthetic_root), *SYNTH_FLAGS)
    assert status == 0 and "synthetic (MARS layout) loaded" in out and "written" not in out
    assert os.path.getmtime(info / "test_name.txt") == written


def test_evaluate_a_checkpoint_with_its_own_clip_length(synthetic_root, checkpoint, capsys):
    status, out, err = run_cli(capsys, "evaluate", "--checkpoint", str(checkpoint), "--dataset", "mars",
                               "--root", str(synthetic_root / "synthetic"), "--workers", "0", "--ap", "trapezoid")
    assert status == 0, err
    assert "mAP" in out and "R20" in out and "mINP" in out
    assert "consecutive 3-frame clips" in out  # num_frames of the checkpoint
    assert "trapezoid AP" in out and "gallery: torchreid" in out


def assert_one_line_error(err, message):
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert message in err, err


@pytest.mark.parametrize("make_argv, message", [
    (lambda tmp: ["evaluate", "--checkpoint", str(tmp / "none.pt")], "checkpoint not found: "),
    (lambda tmp: ["evaluate", "--checkpoint", str(tmp / "garbage.pt")], "cannot load the checkpoint "),
    (lambda tmp: ["evaluate"], "nothing to evaluate: pass --checkpoint"),
    (lambda tmp: ["evaluate", "--features", str(tmp / "garbage.pt")], "cannot load the saved features "),
    (lambda tmp: ["evaluate", "--checkpoint", str(tmp / "tiny.pt"), "--dataset", "mars", "--root", str(tmp)],
     "no dataset found at "),
    (lambda tmp: ["evaluate", "--checkpoint", str(tmp / "none.pt"), "--dataset", "nosuch"],
     "unknown dataset 'nosuch'; available: "),
    (lambda tmp: ["synth", "--root", str(tmp), "--identities", "4"], "not a synthetic dataset, left as is"),
    (lambda tmp: ["synth", "--root", str(tmp / "new"), "--difficulty", "2"], "difficulty must be in [0, 1]"),
])
def test_user_errors_end_as_one_message_line(tmp_path, capsys, make_argv, message):
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    save_model(tiny_model(), tmp_path / "tiny.pt")
    (tmp_path / "synthetic").mkdir()  # a folder the generator did not make
    argv = make_argv(tmp_path)
    status, _, err = run_cli(capsys, *argv)
    assert status == 2
    assert err.startswith(f"cosam-reid {argv[0]}: error: ")
    assert_one_line_error(err, message)


def test_extract_writes_one_feature_per_tracklet_folder(checkpoint, tmp_path, capsys):
    for name, frames in (("b", 2), ("a", 5)):
        for position in range(frames):
            write_frame(str(tmp_path / "tracklets" / name / f"{position:03d}.jpg"), shade=40 * position)
    status, out, err = run_cli(capsys, "extract", "--checkpoint", str(checkpoint), "--input", str(tmp_path / "tracklets"),
                               "--output", str(tmp_path / "features.npz"), "--workers", "0")
    assert status == 0, err
    assert "consecutive 3-frame clips" in out  # num_frames of the checkpoint
    assert f"2 features of 512 dimensions written to {tmp_path / 'features.npz'}" in out
    saved = np.load(tmp_path / "features.npz")
    assert saved["names"].tolist() == ["a", "b"] and saved["features"].shape == (2, 512)


@pytest.mark.parametrize("make_argv, message", [
    (lambda tmp: ["--input", str(tmp / "none")], "input folder not found: {tmp}/none"),
    (lambda tmp: ["--input", str(tmp / "frames")], "no tracklet folders in {tmp}/frames"),
    (lambda tmp: ["--input", str(tmp)], "tracklet folder {tmp}/empty holds no frames"),
    (lambda tmp: ["--input", str(tmp / "tracklets"), "--output", str(tmp / "none" / "features.npz")],
     "output folder not found: {tmp}/none"),
    (lambda tmp: ["--input", str(tmp / "tracklets"), "--output", str(tmp / "features.pt")],
     "output {tmp}/features.pt: expected a .npz file"),
])
def test_extract_input_errors_end_as_one_message_line(tmp_path, capsys, make_argv, message):
    save_model(tiny_model(), tmp_path / "tiny.pt")
    write_frame(str(tmp_path / "frames" / "000.jpg"))  # frames, no tracklet folders
    write_frame(str(tmp_path / "tracklets" / "a" / "000.jpg"))
    (tmp_path / "empty").mkdir()
    argv = ["extract", "--checkpoint", str(tmp_path / "tiny.pt"), "--output", str(tmp_path / "features.npz"),
            *make_argv(tmp_path)]
    status, _, err = run_cli(capsys, *argv)
    assert status == 2
    assert_one_line_error(err, f"cosam-reid extract: error: {message.format(tmp=tmp_path)}")


def truncate(path):
    with open(path, "rb") as file:
        head = file.read(200)
    with open(path, "wb") as file:
        file.write(head)


@pytest.mark.parametrize("workers", ["0", "2"])
@pytest.mark.parametrize("command", ["evaluate", "extract"])
def test_a_truncated_frame_is_named_in_one_line_also_from_loader_workers(tmp_path, capsys, command, workers):
    dataset_dir = make_mars(tmp_path)
    frame = os.path.join(dataset_dir, "bbox_test", "0007", "0007C4T0001F001.jpg")
    truncate(frame)
    save_model(tiny_model(), tmp_path / "tiny.pt")
    where = {"evaluate": ["--dataset", "mars", "--root", str(tmp_path)],
             "extract": ["--input", os.path.join(dataset_dir, "bbox_test"), "--output", str(tmp_path / "f.npz")]}
    status, _, err = run_cli(capsys, command, "--checkpoint", str(tmp_path / "tiny.pt"), "--workers", workers,
                             *where[command])
    assert status == 2
    # The error is the last line (a progress bar may come before it).
    assert_one_line_error(err.strip().splitlines()[-1], f"cosam-reid {command}: error: cannot decode the frame "
                                                        f"image {frame}: ")
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_config_help_names_every_packaged_config(command, capsys):
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    packaged = sorted(name[:-len(".yaml")] for name in os.listdir(CONFIGS)
                      if name.endswith(".yaml") and name != "default.yaml")
    assert f"name of a packaged config ({', '.join(packaged)}) or recipe" in text
    for name in packaged:
        load_config(name)  # found by its name, as the help says


def test_console_script_lists_every_command():
    result = subprocess.run([sys.executable, "-m", "cosam_reid.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    listed = re.findall(r"^    (\w+)", result.stdout, re.MULTILINE)
    assert listed == list(COMMANDS)
