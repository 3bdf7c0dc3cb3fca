"""No synthetic dataset is ever lost: every command that loads one uses the
set on disk as it is, or refuses in one line naming what it found, what it
was asked for and the command that would rewrite it; only `cosam-reid synth
--regenerate` rewrites a set, keeping its recorded settings unless given."""
import json
import os
import shutil

import pytest

from cosam_reid import cli
from cosam_reid.datasets import build_dataset
from cosam_reid.datasets.synthetic import ensure_dataset
from reid_testing import save_model, tiny_model

# A set unlike the defaults: what a command that ignored the set on disk would replace.
FLAGS = ["--identities", "4", "--cameras", "2", "--tracklet-length", "3", "4", "--size", "32", "16", "--clutter", "1"]
SETTINGS = dict(num_identities=4, num_cameras=2, tracklet_length=[3, 4], image_size=[32, 16], clutter=1.0)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("written")
    assert cli.main(["synth", "--root", str(root), *FLAGS]) == 0
    return root


@pytest.fixture
def root(written, tmp_path):
    """A copy of the written set, for a test to try to lose."""
    shutil.copytree(written, tmp_path / "data")
    return tmp_path / "data"


def snapshot(root):
    """Every file of the set with its size and modification time."""
    files = {}
    for folder, _, names in os.walk(root / "synthetic"):
        for name in names:
            status = os.stat(os.path.join(folder, name))
            files[os.path.join(folder, name)] = (status.st_size, status.st_mtime_ns)
    return files


def manifest(root):
    with open(root / "synthetic" / "synthetic.json") as file:
        return json.load(file)


def main(capsys, *argv):
    status = cli.main([str(arg) for arg in argv])
    output = capsys.readouterr()
    return status, output.out, output.err


def assert_refused(status, err, command, found, asked, regenerate):
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"cosam-reid {command}: error: ") and "holds the synthetic dataset made with" in err
    assert f"made with {found}, asked for {asked}; left as is" in err and f"`{regenerate}`" in err, err


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_model(tiny_model(cosam_blocks=(5,)), tmp_path_factory.mktemp("model") / "cosam.pt")


def test_the_library_uses_the_set_as_it_is_or_refuses(root):
    before = snapshot(root)
    assert {t.pid for t in build_dataset("synthetic", root, verbose=False).query} <= {3, 4}
    build_dataset("synthetic", root, verbose=False, num_identities=4, clutter=1.0, image_size=(32, 16))
    with pytest.raises(ValueError, match=r"made with num_identities=4, clutter=1.0, asked for num_identities=100, "
                                         r"clutter=0.0; left as is"):
        build_dataset("synthetic", root, verbose=False, num_identities=100, clutter=0.0, seed=0)
    assert snapshot(root) == before


def test_synth_reuses_refuses_and_regenerates_with_the_recorded_settings(root, capsys):
    before = snapshot(root)
    status, out, _ = main(capsys, "synth", "--root", root)
    assert status == 0 and "written" not in out and snapshot(root) == before
    status, _, err = main(capsys, "synth", "--root", root, "--seed", "3")
    assert_refused(status, err, "synth", "seed=0", "seed=3", f"cosam-reid synth --root {root} --regenerate --seed 3")
    assert snapshot(root) == before
    status, out, _ = main(capsys, "synth", "--root", root, "--regenerate", "--seed", "3")
    assert status == 0 and "written" in out
    assert manifest(root)["config"] == {**manifest(root)["config"], **SETTINGS, "seed": 3}


@pytest.mark.parametrize("version", [None, 1])
def test_a_set_of_an_older_generator_is_refused_until_regenerated(root, capsys, version):
    recorded = manifest(root)
    del recorded["generator"]
    if version is not None:
        recorded["generator"] = version
    recorded["config"].pop("occlusion")  # a setting it predates
    with open(root / "synthetic" / "synthetic.json", "w") as file:
        json.dump(recorded, file)
    before = snapshot(root)
    for argv in (["synth", "--root", root], ["synth", "--root", root, "--clutter", "1"]):
        status, _, err = main(capsys, *argv)
        assert status == 2 and len(err.strip().splitlines()) == 1, err
        assert "written by version 1 of the synthetic generator, this is version 2" in err
        assert f"`cosam-reid synth --root {root} --regenerate" in err
    with pytest.raises(ValueError, match="version 1 of the synthetic generator"):
        build_dataset("synthetic", root, verbose=False)
    assert snapshot(root) == before
    status, out, _ = main(capsys, "synth", "--root", root, "--regenerate")
    assert status == 0 and "written" in out
    assert manifest(root)["generator"] == 2 and manifest(root)["config"]["occlusion"] is None
    assert manifest(root)["config"] == {**manifest(root)["config"], **SETTINGS}


def test_evaluate_uses_the_set_as_it_is_or_refuses(root, checkpoint, capsys):
    before = snapshot(root)
    common = ["evaluate", "--checkpoint", checkpoint, "--dataset", "synthetic", "--root", root, "--workers", "0"]
    status, out, err = main(capsys, *common)
    assert status == 0 and "mAP" in out, err
    status, _, err = main(capsys, *common, "evaluation.dataset_options.clutter=0")
    assert_refused(status, err, "evaluate", "clutter=1.0", "clutter=0.0",
                   f"cosam-reid synth --root {root} --regenerate --clutter 0.0")
    assert snapshot(root) == before


def test_visualize_takes_the_settings_and_uses_the_set_as_it_is_or_refuses(root, checkpoint, tmp_path, capsys):
    before = snapshot(root)
    common = ["visualize", "masks", "--checkpoint", checkpoint, "--dataset", "synthetic", "--root", root,
              "--tracklets", "query:0", "--output", tmp_path / "masks.png"]
    for settings in ([], ["--clutter", "1", "--identities", "4"]):
        status, _, err = main(capsys, *common, *settings)
        assert status == 0, err
    status, _, err = main(capsys, *common, "--clutter", "0", "--size", "32", "16")
    assert_refused(status, err, "visualize", "clutter=1.0", "clutter=0.0",
                   f"cosam-reid synth --root {root} --regenerate --size 32 16 --clutter 0.0")
    status, _, err = main(capsys, "visualize", "ranks", "--checkpoint", checkpoint, "--dataset", "mars", "--root", root,
                          "--queries", "0", "--clutter", "1", "--output", tmp_path / "ranks.png")
    assert status == 2 and "--clutter: settings of the synthetic dataset, not of mars" in err
    assert snapshot(root) == before


@pytest.mark.parametrize("command", [["train"], ["demo"]])
def test_train_and_the_demo_refuse_other_settings(root, tmp_path, capsys, command):
    before = snapshot(root)
    status, _, err = main(capsys, *command, "data.dataset=synthetic", f"data.root={root}",
                          f"train.output_dir={tmp_path / 'run'}", "data.dataset_options.num_identities=6")
    assert_refused(status, err, command[0], "num_identities=4", "num_identities=6",
                   f"cosam-reid synth --root {root} --regenerate --identities 6")
    assert snapshot(root) == before


def test_a_folder_without_a_manifest_is_never_touched_even_by_regenerate(root, capsys):
    os.remove(root / "synthetic" / "synthetic.json")
    before = snapshot(root)
    status, _, err = main(capsys, "synth", "--root", root, "--regenerate")
    assert status == 2 and "holds no synthetic.json: not a synthetic dataset, left as is" in err
    with pytest.raises(FileExistsError):
        ensure_dataset(str(root), {"num_identities": 4})
    assert snapshot(root) == before
