"""The synthetic generator writes the MARS layout, and the MARS loader reads it
back; its tracked-box geometry, and the masks beside every frame."""
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
from cosam_reid.datasets.synthetic import (SyntheticConfig, clutter_path, ensure_dataset, generate, load_clutter,
                                           load_silhouette, silhouette_path)
from cosam_reid.datasets.synthetic.figures import VIEWS, random_appearance
from cosam_reid.datasets.synthetic.geometry import (CENTRED, EDGE, FEET, Ground, box_jitter, panorama_shape,
                                                    tracked_box, tracklet_walk)
from cosam_reid.datasets.synthetic.render import SUPERSAMPLE, render_tracklet
from cosam_reid.datasets.synthetic.scene import Camera, scene_panorama

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


def test_foreign_folder_is_never_overwritten(tmp_path):
    os.makedirs(tmp_path / "synthetic")
    with pytest.raises(FileExistsError, match="not a synthetic dataset"):
        ensure_dataset(str(tmp_path), SMALL)


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
    assert written["generator"] == 2 and written["config"]["tracklet_length"] == [2, 3]
    assert {t.pid for t in again.query} <= {3, 4}


@pytest.mark.parametrize("settings", [dict(difficulty=1.5), dict(num_cameras=1), dict(tracklet_length=(0, 3)),
                                      dict(clutter=1.5), dict(occlusion=-0.1), dict(occlusion=float("nan")),
                                      dict(image_size=(32, 80)), dict(tracklets_per_camera=(0, 1))])
def test_invalid_settings(settings):
    with pytest.raises(ValueError):
        SyntheticConfig(**settings)


def test_an_unknown_setting_is_named():
    with pytest.raises(ValueError, match="unknown synthetic dataset setting 'colour'; the settings are num_identities"):
        SyntheticConfig.from_settings({"colour": 1})


def frame_paths(dataset_dir):
    return sorted(glob.glob(os.path.join(dataset_dir, "bbox_t*", "*", "*.jpg")))


def test_every_frame_has_a_binary_silhouette_and_clutter_mask_of_its_size(small_dataset):
    dataset_dir, manifest = small_dataset
    frames = frame_paths(dataset_dir)
    assert len(frames) == manifest["train_frames"] + manifest["test_frames"]
    assert (manifest["silhouettes"], manifest["clutter_masks"]) == ("silhouettes", "clutter")
    for folder in ("silhouettes", "clutter"):
        assert len(glob.glob(os.path.join(dataset_dir, folder, "*", "*", "*.png"))) == len(frames)
    cluttered = 0
    for frame in frames:
        for path in (silhouette_path(frame), clutter_path(frame)):
            mask = Image.open(path)
            assert mask.mode == "L" and mask.size == Image.open(frame).size == (16, 32)
            assert set(np.unique(np.asarray(mask))) <= {0, 255}
        person, clutter = load_silhouette(frame), load_clutter(frame)
        assert person.dtype == clutter.dtype == np.bool_ and not np.any(person & clutter)
        cluttered += clutter.any()
    assert cluttered > len(frames) / 2


def test_silhouette_path():
    assert silhouette_path(os.path.join("data", "synthetic", "bbox_test", "0003", "0003C2T0001F005.jpg")) == \
        os.path.join("data", "synthetic", "silhouettes", "bbox_test", "0003", "0003C2T0001F005.png")
    assert silhouette_path(os.path.join("bbox_train", "00-1", "00-1C1T0001F001.jpg")) == \
        os.path.join("silhouettes", "bbox_train", "00-1", "00-1C1T0001F001.png")
    assert clutter_path(os.path.join("d", "bbox_test", "0003", "0003C2T0001F005.jpg")) == \
        os.path.join("d", "clutter", "bbox_test", "0003", "0003C2T0001F005.png")
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
        assert rows.min() < 20 and rows.max() > 56, frame  # head to feet, of 64 rows


MAGENTA, CYAN, LIME = (255, 0, 255), (0, 255, 255), (0, 255, 0)  # far from every clothing colour


def coloured(appearance, colour):
    fields = ("skin", "hair", "top", "top_secondary", "bottom", "shoes")
    colour = np.array(colour, dtype=np.float64)
    return dataclasses.replace(appearance, **{f: colour for f in fields},
                               backpack=None if appearance.backpack is None else colour)


def plain_camera(config, view):
    """A camera on a lime scene without clutter that changes no colour."""
    height, width, horizon = panorama_shape(tuple(s * SUPERSAMPLE for s in config.image_size))
    return Camera(scene=Image.new("RGB", (width, height), LIME), clutter=Image.new("L", (width, height)),
                  ground=Ground(horizon, 0.4), gain=np.ones(3), brightness=1.0, blur=0.0, noise=0.0, jpeg_quality=90,
                  view=view, scale=0.95)


@pytest.mark.parametrize("occlusion", [0.0, 1.0])
def test_the_silhouette_is_where_the_target_shows_and_the_clutter_mask_where_others_do(occlusion):
    # A magenta target among cyan passers-by and bystanders and objects in clothing
    # colours on a lime scene, through a camera that changes no colour: inside the
    # figures' edges the silhouette is exactly the frame's magenta, the clutter mask
    # the rest that is not lime.
    config = SyntheticConfig(**dict(SMALL, image_size=(64, 32), difficulty=0.0, occlusion=occlusion))
    frames_with_others = 0
    for seed in range(24):  # enough tracklets for passers-by, bystanders and objects in view
        rng = np.random.default_rng(seed)
        target, other = coloured(random_appearance(rng), MAGENTA), coloured(random_appearance(rng), CYAN)
        camera = plain_camera(config, VIEWS[seed % 4])
        frames, silhouettes, clutter = render_tracklet(target, camera, 8, [target, other], config, rng)
        for frame, silhouette, others_mask in zip(frames, silhouettes, clutter):
            pixels = np.asarray(frame, dtype=int)
            silhouette, others_mask = np.asarray(silhouette) == 255, np.asarray(others_mask) == 255
            # At least half magenta, as the silhouette is at least half target: green at most
            # half the scene's or the cyan's; over half lime: red below half, blue below half
            # of the darkest cyan (a bystander's far limb).
            shows = (pixels[..., 0] > 120) & (pixels[..., 1] <= 128) & (pixels[..., 2] > 120)
            scene = (pixels[..., 0] < 128) & (pixels[..., 1] > 190) & (pixels[..., 2] < 80)
            others = ~shows & ~scene
            for truth, seen in ((silhouette, shows), (others_mask, others)):
                # Up to rounding at the threshold where figures meet.
                assert np.sum(ndimage.binary_erosion(truth) & ~seen) <= 2
                assert np.sum(ndimage.binary_erosion(seen) & ~truth) <= 2
            frames_with_others += others_mask.any()
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
        return np.mean([np.asarray(scene_panorama(128, 256, 70, 48, clutter, np.random.default_rng(seed))[1]) > 0
                        for seed in range(4)])

    assert covered(1.0) > 2 * covered(0.0) > 0


def test_a_dataset_without_masks(small_dataset, tmp_path):
    dataset_dir = str(tmp_path / "synthetic")
    shutil.copytree(small_dataset[0], dataset_dir)
    with_masks = load_mars(dataset_dir, verbose=False)
    shutil.rmtree(os.path.join(dataset_dir, "silhouettes"))
    shutil.rmtree(os.path.join(dataset_dir, "clutter"))
    without = load_mars(dataset_dir, verbose=False)
    for split in ("train", "query", "gallery"):
        assert getattr(without, split) == getattr(with_masks, split)
    for load in (load_silhouette, load_clutter):
        with pytest.raises(FileNotFoundError, match="older one; `cosam-reid synth --regenerate`"):
            load(without.query[0].frames[0])


# The tracked box.

@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("length", [24, 999])
def test_the_box_follows_the_walker_within_the_scene(view, length):
    # The walker keeps its place and size in the box, up to the jitter, while
    # the box moves through the scene: sideways in side views, zooming in front
    # and back views; at any length every box lies inside the scene.
    size = (256, 128)
    scene_height, scene_width, horizon = panorama_shape(size)
    rng = np.random.default_rng(length)
    for fill, centre in ((0.95, CENTRED), (0.66, CENTRED), (0.8, CENTRED + EDGE), (0.8, CENTRED - EDGE)):
        for slope in (0.3, 0.55):
            ground = Ground(horizon, slope)
            walk = tracklet_walk(view, fill * size[0], 8, length, size, scene_width, rng)
            offsets = box_jitter(length, 1.0, rng)
            boxes = [tracked_box(walk.at(t, ground), offsets[t], fill, size, centre) for t in range(length)]
            for box, offset, t in zip(boxes, offsets, range(length)):
                left, top, right, bottom = box.extent(size)
                assert 0 <= left and right <= scene_width and 0 <= top and bottom <= scene_height, (t, box)
                x, feet_y, height = box.place(*walk.at(t, ground))
                assert (x, feet_y, height) == (pytest.approx((centre + offset[0]) * size[1]),
                                               pytest.approx((FEET + offset[1]) * size[0]),
                                               pytest.approx(fill * size[0] * (1 + offset[2])))
            moved = boxes[-1].left - boxes[0].left
            zoomed = (boxes[-1].zoom * (1 + offsets[0][2])) / (boxes[0].zoom * (1 + offsets[-1][2]))
            if view in ("left", "right"):
                assert zoomed == pytest.approx(1.0)
                assert np.sign(moved) == (1 if view == "right" else -1) and abs(moved) > size[1] * 0.5
            else:
                assert (zoomed < 1) == (view == "front") and abs(zoomed - 1) > 0.1
