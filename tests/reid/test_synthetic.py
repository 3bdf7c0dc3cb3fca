"""The synthetic generator writes the MARS layout, and the MARS loader reads it back."""
import json
import os

import numpy as np
import pytest
import scipy.io
from PIL import Image

from cosam_reid import cli
from cosam_reid.datasets import build_dataset, load_mars
from cosam_reid.datasets.synthetic import SyntheticConfig, ensure_dataset, generate

SMALL = dict(num_identities=8, num_cameras=3, cameras_per_identity=(2, 3), tracklets_per_camera=(1, 2),
             tracklet_length=(3, 5), num_distractors=2, num_junk=1, image_size=(32, 16), seed=3)


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    dataset_dir = str(tmp_path_factory.mktemp("synth") / "synthetic")
    manifest = generate(dataset_dir, SyntheticConfig(**SMALL), verbose=False)
    return dataset_dir, manifest


def test_mars_loader_reads_the_generated_dataset(small_dataset):
    dataset_dir, manifest = small_dataset
    dataset = load_mars(dataset_dir, verbose=False)
    train_pids = {t.pid for t in dataset.train}
    assert train_pids == set(range(4))  # 8 identities, half train, relabelled
    test_pids = {t.pid for t in dataset.query} | {t.pid for t in dataset.gallery}
    assert 0 in test_pids and -1 not in test_pids  # distractors kept, junk dropped
    assert {t.pid for t in dataset.query} == set(range(5, 9))
    for tracklet in dataset.train + dataset.query + dataset.gallery:
        assert 3 <= len(tracklet.frames) <= 5 and 0 <= tracklet.camid < 3
    frames = sum(len(t.frames) for t in dataset.train)
    assert frames == manifest["train_frames"]
    image = Image.open(dataset.query[0].frames[0])
    assert image.format == "JPEG" and image.size == (16, 32)


def test_every_query_has_a_cross_camera_match(small_dataset):
    dataset = load_mars(small_dataset[0], verbose=False)
    for query in dataset.query:
        assert any(g.pid == query.pid and g.camid != query.camid for g in dataset.gallery)


def test_info_files_have_the_mars_structure(small_dataset):
    info = os.path.join(small_dataset[0], "info")
    tracks = scipy.io.loadmat(os.path.join(info, "tracks_test_info.mat"))["track_test_info"]
    assert tracks.shape[1] == 4 and tracks.dtype == np.float64
    with open(os.path.join(info, "test_name.txt")) as file:
        names = file.read().split()
    first, last, pid, camera = tracks[0].astype(int)
    assert first == 1 and names[0] == f"{pid:04d}C{camera}T0001F001.jpg"
    assert last - first + 1 == len([n for n in names if n.startswith(names[0][:11])])
    query = scipy.io.loadmat(os.path.join(info, "query_IDX.mat"))["query_IDX"]
    assert query.shape[0] == 1 and query.min() >= 1 and query.max() <= len(tracks)
    assert any(name.startswith("00-1C") for name in names)


def test_same_seed_same_pixels_other_seed_other_pixels(tmp_path):
    config = dict(SMALL, num_identities=4, num_distractors=0, num_junk=0)
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        generate(str(tmp_path / name), SyntheticConfig(**dict(config, seed=seed)), verbose=False)

    def first_frame(name):
        path = load_mars(str(tmp_path / name), verbose=False).train[0].frames[0]
        return np.asarray(Image.open(path))

    assert np.array_equal(first_frame("a"), first_frame("b"))
    assert not np.array_equal(first_frame("a"), first_frame("c"))


def test_identities_differ_more_than_frames_of_one_identity(small_dataset):
    # The mean colour of a tracklet is closer to another tracklet of the same
    # identity in the same camera than the frames of two identities are on average.
    dataset = load_mars(small_dataset[0], verbose=False)

    def mean_colour(tracklet):
        return np.mean([np.asarray(Image.open(f), dtype=np.float64).mean((0, 1)) for f in tracklet.frames], 0)

    frame_spread = np.mean([np.std([np.asarray(Image.open(f), dtype=np.float64).mean((0, 1)) for f in t.frames], 0).mean()
                            for t in dataset.train])
    colours = {}
    for tracklet in dataset.train:
        colours.setdefault(tracklet.pid, []).append(mean_colour(tracklet))
    between = np.mean([np.abs(np.mean(a, 0) - np.mean(b, 0)).mean()
                       for i, a in colours.items() for j, b in colours.items() if i < j])
    assert between > frame_spread


def test_ensure_dataset_reuses_and_regenerates(tmp_path, capsys):
    config = SyntheticConfig(**dict(SMALL, num_identities=4, num_distractors=0, num_junk=0))
    dataset_dir = ensure_dataset(str(tmp_path), config)
    assert "written" in capsys.readouterr().out
    assert ensure_dataset(str(tmp_path), config) == dataset_dir
    assert "written" not in capsys.readouterr().out  # reused
    ensure_dataset(str(tmp_path), SyntheticConfig(**dict(SMALL, num_identities=6, num_distractors=0, num_junk=0)))
    with open(os.path.join(dataset_dir, "synthetic.json")) as file:
        assert json.load(file)["config"]["num_identities"] == 6


def test_foreign_folder_is_never_overwritten(tmp_path):
    os.makedirs(tmp_path / "synthetic")
    with pytest.raises(FileExistsError, match="not a synthetic dataset"):
        ensure_dataset(str(tmp_path), SyntheticConfig(**SMALL))


def test_the_synth_command_writes_what_the_registry_then_reuses(tmp_path, capsys):
    assert cli.main(["synth", "--root", str(tmp_path), "--identities", "4", "--cameras", "2",
                     "--tracklet-length", "2", "3", "--size", "32", "16",
                     "--preview", str(tmp_path / "sheet.png")]) == 0
    assert Image.open(tmp_path / "sheet.png").size[0] > 16
    assert "synthetic (MARS layout)" in capsys.readouterr().out
    with open(tmp_path / "synthetic" / "synthetic.json") as file:
        written = json.load(file)
    again = build_dataset("synthetic", str(tmp_path), verbose=False, **{
        "num_identities": 4, "num_cameras": 2, "tracklet_length": (2, 3), "image_size": (32, 16)})
    with open(tmp_path / "synthetic" / "synthetic.json") as file:
        assert json.load(file) == written  # the same settings: reused, not generated again
    assert {t.pid for t in again.query} <= {3, 4}


@pytest.mark.parametrize("settings", [dict(difficulty=1.5), dict(num_cameras=1), dict(tracklet_length=(0, 3))])
def test_invalid_settings(settings):
    with pytest.raises(ValueError):
        SyntheticConfig(**settings)
