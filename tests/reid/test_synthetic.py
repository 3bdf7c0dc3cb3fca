"""The synthetic generator writes the MARS layout, and the MARS loader reads it back."""
import dataclasses
import glob
import json
import os
import shutil

import numpy as np
import pytest
import scipy.io
from PIL import Image
from scipy import ndimage

from cosam_reid import cli
from cosam_reid.datasets import build_dataset, load_mars
from cosam_reid.datasets.synthetic import (SUPERSAMPLE, VIEWS, Camera, SyntheticConfig, ensure_dataset, generate,
                                           has_silhouettes, load_silhouette, random_appearance, render_tracklet,
                                           scene_panorama, silhouette_path)

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


@pytest.mark.parametrize("settings", [dict(difficulty=1.5), dict(num_cameras=1), dict(tracklet_length=(0, 3)),
                                      dict(clutter=1.5), dict(occlusion=-0.1), dict(occlusion=float("nan"))])
def test_invalid_settings(settings):
    with pytest.raises(ValueError):
        SyntheticConfig(**settings)


def frame_paths(dataset_dir):
    return sorted(glob.glob(os.path.join(dataset_dir, "bbox_t*", "*", "*.jpg")))


def test_every_frame_has_a_binary_silhouette_of_its_size(small_dataset):
    dataset_dir, manifest = small_dataset
    frames = frame_paths(dataset_dir)
    assert len(frames) == manifest["train_frames"] + manifest["test_frames"]
    assert manifest["silhouettes"] == "silhouettes" and has_silhouettes(dataset_dir)
    assert len(glob.glob(os.path.join(dataset_dir, "silhouettes", "*", "*", "*.png"))) == len(frames)
    for frame in frames:
        silhouette = Image.open(silhouette_path(frame))
        assert silhouette.mode == "L" and silhouette.size == Image.open(frame).size == (16, 32)
        assert set(np.unique(np.asarray(silhouette))) <= {0, 255}
        assert load_silhouette(frame).dtype == np.bool_


def test_silhouette_path():
    assert silhouette_path(os.path.join("data", "synthetic", "bbox_test", "0003", "0003C2T0001F005.jpg")) == \
        os.path.join("data", "synthetic", "silhouettes", "bbox_test", "0003", "0003C2T0001F005.png")
    assert silhouette_path(os.path.join("bbox_train", "00-1", "00-1C1T0001F001.jpg")) == \
        os.path.join("silhouettes", "bbox_train", "00-1", "00-1C1T0001F001.png")
    for wrong in ("0003C2T0001F005.jpg", os.path.join("d", "frames", "0003", "0003C2T0001F005.jpg"),
                  os.path.join("d", "bbox_test", "0003", "0003C2T0001F005.png")):
        with pytest.raises(ValueError, match="not a frame of the synthetic dataset"):
            silhouette_path(wrong)


def test_junk_silhouettes_are_empty_and_every_person_shows(small_dataset):
    dataset_dir = small_dataset[0]
    tracklets = {}
    for frame in frame_paths(dataset_dir):
        tracklets.setdefault(os.path.basename(frame)[:11], []).append(load_silhouette(frame))
    assert any(name.startswith("0000") for name in tracklets)  # distractors have their own figures
    for name, silhouettes in tracklets.items():
        if name.startswith("00-1"):
            assert not np.any(silhouettes), name
        else:
            assert any(s.any() for s in silhouettes), name


def test_unoccluded_silhouettes_are_whole_centred_figures(tmp_path):
    dataset_dir = str(tmp_path / "synthetic")
    generate(dataset_dir, SyntheticConfig(**dict(SMALL, image_size=(64, 32), difficulty=0.0, occlusion=0.0,
                                                 num_junk=0)), verbose=False)
    for frame in frame_paths(dataset_dir):
        silhouette = load_silhouette(frame)
        rows, columns = np.nonzero(silhouette)
        assert 0.03 < silhouette.mean() < 0.6, frame
        assert 12 <= (columns.min() + columns.max()) / 2 <= 20, frame  # of 32 columns
        assert rows.min() < 16 and rows.max() > 56, frame  # head to feet, of 64 rows


MAGENTA, CYAN = np.array([255.0, 0, 255]), np.array([0.0, 255, 255])  # in no clothing colour


def coloured(appearance, colour):
    fields = ("skin", "hair", "top", "top_secondary", "bottom", "shoes")
    return dataclasses.replace(appearance, **{f: colour for f in fields},
                               backpack=None if appearance.backpack is None else colour)


@pytest.mark.parametrize("occlusion", [0.0, 1.0])
def test_the_silhouette_is_where_the_target_shows(occlusion):
    # A magenta target among cyan passers-by and bystanders on a grey scene,
    # through a camera that changes no colour: inside the figure's edges the
    # silhouette is exactly the frame's magenta, and never on visible cyan.
    config = SyntheticConfig(**dict(SMALL, image_size=(64, 32), difficulty=0.0, occlusion=occlusion))
    height, width = (s * SUPERSAMPLE for s in config.image_size)
    frames_with_others = 0
    for seed in range(24):  # enough tracklets for passers-by, bystanders and objects in view
        rng = np.random.default_rng(seed)
        target, other = coloured(random_appearance(rng), MAGENTA), coloured(random_appearance(rng), CYAN)
        camera = Camera(background=np.full((height, 4 * width, 3), 128.0), gain=np.ones(3), brightness=1.0,
                        blur=0.0, noise=0.0, jpeg_quality=90, view=VIEWS[seed % 4], scale=0.95)
        frames, silhouettes = render_tracklet(target, camera, 8, [target, other], config, rng)
        for frame, silhouette in zip(frames, silhouettes):
            pixels, silhouette = np.asarray(frame, dtype=int), np.asarray(silhouette) == 255
            # Over half magenta, as the silhouette is over half target: green below half the scene's.
            shows = (pixels[..., 0] > 120) & (pixels[..., 1] < 64) & (pixels[..., 2] > 120)
            others = (pixels[..., 0] < 50) & (pixels[..., 1] > 200) & (pixels[..., 2] > 200)
            assert np.sum(ndimage.binary_erosion(silhouette) & ~shows) <= 2  # rounding at the threshold
            assert not np.any(ndimage.binary_erosion(shows) & ~silhouette)
            assert not np.any(silhouette & others)
            frames_with_others += others.any()
    assert (frames_with_others > 0) == (occlusion > 0)


def test_clutter_and_occlusion_default_to_the_difficulty(tmp_path):
    config = dict(SMALL, num_identities=4, num_distractors=0, num_junk=0, difficulty=0.3)
    variants = {"same": dict(), "explicit": dict(clutter=0.3, occlusion=0.3), "clutter": dict(clutter=1.0),
                "occlusion": dict(occlusion=1.0)}
    for name, knobs in variants.items():
        generate(str(tmp_path / name), SyntheticConfig(**config, **knobs), verbose=False)

    def frame_bytes(name):
        return [open(f, "rb").read() for f in frame_paths(str(tmp_path / name))]

    assert frame_bytes("same") == frame_bytes("explicit")
    assert frame_bytes("clutter") != frame_bytes("same") and frame_bytes("occlusion") != frame_bytes("same")


def test_clutter_covers_more_of_the_scene():
    def covered(clutter):
        # Pixels far from their row's usual colour: the clutter objects.
        fractions = []
        for seed in range(4):
            scene = scene_panorama(64, 128, clutter, np.random.default_rng(seed))
            fractions.append(np.mean(np.abs(scene - np.median(scene, axis=1, keepdims=True)).max(-1) > 40))
        return np.mean(fractions)

    assert covered(1.0) > 2 * covered(0.0)


def test_a_dataset_without_silhouettes(small_dataset, tmp_path):
    dataset_dir = str(tmp_path / "synthetic")
    shutil.copytree(small_dataset[0], dataset_dir)
    with_silhouettes = load_mars(dataset_dir, verbose=False)
    shutil.rmtree(os.path.join(dataset_dir, "silhouettes"))
    assert not has_silhouettes(dataset_dir)
    without = load_mars(dataset_dir, verbose=False)
    for split in ("train", "query", "gallery"):
        assert getattr(without, split) == getattr(with_silhouettes, split)
    with pytest.raises(FileNotFoundError, match="generated before silhouettes existed.*--regenerate"):
        load_silhouette(without.query[0].frames[0])


def test_a_manifest_from_before_clutter_and_occlusion_is_reused(tmp_path, capsys):
    config = SyntheticConfig(**dict(SMALL, num_identities=4, num_distractors=0, num_junk=0))
    dataset_dir = ensure_dataset(str(tmp_path), config, verbose=False)
    manifest_path = os.path.join(dataset_dir, "synthetic.json")
    with open(manifest_path) as file:
        manifest = json.load(file)
    del manifest["config"]["clutter"], manifest["config"]["occlusion"]
    with open(manifest_path, "w") as file:
        json.dump(manifest, file)
    ensure_dataset(str(tmp_path), config)
    assert "written" not in capsys.readouterr().out
    ensure_dataset(str(tmp_path), dataclasses.replace(config, occlusion=0.0))
    assert "written" in capsys.readouterr().out  # other settings: generated again


def test_synth_regenerate(tmp_path, capsys):
    command = ["synth", "--root", str(tmp_path), "--identities", "4", "--cameras", "2",
               "--tracklet-length", "2", "3", "--size", "32", "16"]
    assert cli.main(command) == 0
    assert "silhouettes" in capsys.readouterr().out
    silhouettes = os.path.join(str(tmp_path), "synthetic", "silhouettes")
    shutil.rmtree(silhouettes)  # as a dataset generated before silhouettes existed
    assert cli.main(command) == 0
    assert "written" not in capsys.readouterr().out and not os.path.isdir(silhouettes)
    assert cli.main(command + ["--regenerate"]) == 0
    assert "written" in capsys.readouterr().out and os.path.isdir(silhouettes)
    os.remove(os.path.join(str(tmp_path), "synthetic", "synthetic.json"))  # not one the generator made
    assert cli.main(command + ["--regenerate"]) == 2
    assert "not a synthetic dataset" in capsys.readouterr().err
    assert os.path.isdir(silhouettes)
