"""`cosam-reid synth`, `cosam-reid evaluate --checkpoint` and the errors a
user can cause, all through cli.main as the console script calls it."""
import os
import re
import subprocess
import sys

import pytest

from cosam_reid import cli
from cosam_reid.commands import COMMANDS
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


def test_console_script_lists_every_command():
    result = subprocess.run([sys.executable, "-m", "cosam_reid.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    listed = re.findall(r"^    (\w+)", result.stdout, re.MULTILINE)
    assert listed == list(COMMANDS)
