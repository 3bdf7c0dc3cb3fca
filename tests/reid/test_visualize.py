"""Pictures: the masks over frames are the COSAM layers' own, the ranked
results follow the protocol's ranking, the CMC curve is the evaluation's;
each `cosam-reid visualize` command writes a PNG of the size its layout
gives, and bad input ends with a message and no picture."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from cosam_reid import cli
from cosam_reid.data.tracklets import Tracklet, VideoReIDDataset, load_frame
from cosam_reid.data.transforms import EvalTransform
from cosam_reid.evaluation import Protocol
from cosam_reid.evaluation.features import clip_indices
from cosam_reid.evaluation.mask_quality import score_frame
from cosam_reid.evaluation.pipeline import EvaluationFeatures
from cosam_reid.visualize.cmc import CMC_FIGURE_SIZE, cmc_figure, cmc_result
from cosam_reid.visualize.common import DPI, FRAME_PANEL, save_figure, select_tracklets
from cosam_reid.models.masks import capture_masks
from cosam_reid.visualize.masks import CHANNEL_PANEL_WIDTH, tracklet_masks_figure
from cosam_reid.visualize.ranks import (MATCH_COLOUR, MISMATCH_COLOUR, dataset_ranks_figure, rank_gallery,
                                       ranks_figure)
from matplotlib.colors import to_rgba
from reid_testing import TINY_FRAMES, TINY_INPUT_SIZE, random_clips, save_model, tiny_model, tiny_tracklets

# 4 identities (2 train, 2 test), 2 cameras, 3-4 frames of 32x16, read back as MARS.
SYNTH_FLAGS = ["--identities", "4", "--cameras", "2", "--tracklet-length", "3", "4", "--size", "32", "16"]


def direct_layer_masks(model, clips):
    """Each COSAM layer called by hand, with return_masks=True, on the maps
    the backbone gives it: what the pictures must show."""
    outputs = {}
    with torch.no_grad():
        maps = model.backbone.stem(clips.flatten(0, 1))
        for block, stage in enumerate(model.backbone.stages, start=2):
            maps = stage(maps)
            if f"block{block}" in model.cosam:
                outputs[f"COSAM_{block}"] = model.cosam[f"block{block}"](maps, return_masks=True)
                maps = outputs[f"COSAM_{block}"].output
    return outputs


def pixel_size(path):
    with Image.open(path) as image:
        return image.size


def figure_size_in_pixels(width_inches, height_inches):
    return round(width_inches * DPI), round(height_inches * DPI)


def test_captured_masks_are_those_the_layers_return(tmp_path):
    torch.manual_seed(0)
    model = tiny_model(cosam_blocks=(4, 5)).train()
    clips = random_clips(batch=2)
    captured = capture_masks(model, clips)
    assert model.training  # the capture ran in eval mode and put the mode back
    expected = direct_layer_masks(model.eval(), clips)
    assert [layer.label for layer in captured] == ["COSAM_4", "COSAM_5"]
    for layer in captured:
        direct = expected[layer.label]
        assert layer.spatial.shape == (2, TINY_FRAMES, *direct.spatial_mask.shape[-2:])
        torch.testing.assert_close(layer.spatial, direct.spatial_mask.view(layer.spatial.shape), rtol=0, atol=0)
        torch.testing.assert_close(layer.channel, direct.channel_mask, rtol=0, atol=0)
    # The hooks are gone: the model computes as before.
    assert all(not module._forward_hooks and not module._forward_pre_hooks for module in model.cosam.values())


def test_heat_maps_and_bars_are_the_layers_masks_over_the_frames():
    torch.manual_seed(0)
    model = tiny_model(cosam_blocks=(4, 5)).eval()
    tracklets = tiny_tracklets(num_identities=2, tracklets_per_identity=1, frames=(3, 6))
    figure = tracklet_masks_figure(model, tracklets, ["first", "second"])

    transform = EvalTransform(TINY_INPUT_SIZE)
    clips = torch.stack([torch.stack([transform(load_frame(tracklet.frames[position]))
                                      for position in clip_indices(len(tracklet.frames), TINY_FRAMES)[0]])
                         for tracklet in tracklets])
    expected = direct_layer_masks(model, clips)
    images, bars = {}, {}
    for axes in figure.axes:  # in drawing order: the first clip's rows, then the second's
        for image in axes.images[1:]:
            images.setdefault(image.get_label(), []).append(image.get_array())
        if axes.patches:
            bars.setdefault(axes.get_title(), []).append([patch.get_height() for patch in axes.patches])
    for label, direct in expected.items():
        upsampled = F.interpolate(direct.spatial_mask, size=TINY_INPUT_SIZE, mode="bilinear", align_corners=False)
        upsampled = upsampled.view(len(tracklets), TINY_FRAMES, *TINY_INPUT_SIZE)
        for frame in range(TINY_FRAMES):
            np.testing.assert_array_equal(np.stack(images[f"{label} frame {frame}"]), upsampled[:, frame].numpy())
        np.testing.assert_array_equal(bars[f"{label} channel mask"], direct.channel_mask.numpy())
    # Under each mask is the frame the model saw.
    shown = [axes.images[0].get_array() for axes in figure.axes if len(axes.images) == 2]
    assert all(frame.shape == (*TINY_INPUT_SIZE, 3) for frame in shown) and len(shown) == 2 * 2 * TINY_FRAMES


def test_a_layer_without_spatial_attention_shows_frames_and_says_so():
    model = tiny_model(cosam_blocks=(5,), attention="channel")
    figure = tracklet_masks_figure(model, tiny_tracklets(num_identities=1, tracklets_per_identity=1))
    assert not any(len(axes.images) > 1 for axes in figure.axes)
    assert "no spatial attention" in [axes.get_title() for axes in figure.axes]
    assert any(axes.get_title() == "COSAM_5 channel mask" for axes in figure.axes)


def test_masks_need_cosam_layers_and_tracklets():
    tracklets = tiny_tracklets(num_identities=1, tracklets_per_identity=1)
    with pytest.raises(ValueError, match="the model has no COSAM layers: there are no masks to show"):
        tracklet_masks_figure(tiny_model(), tracklets)
    with pytest.raises(ValueError, match="no tracklets selected"):
        tracklet_masks_figure(tiny_model(cosam_blocks=(5,)), [])


def test_tracklets_are_selected_by_split_and_position():
    dataset = VideoReIDDataset("tiny", train=[], query=tiny_tracklets(2, 1), gallery=tiny_tracklets(3, 1))
    selected = select_tracklets(dataset, ["gallery:2", "query:0"])
    assert [(tracklet_id, tracklet.pid) for tracklet_id, tracklet in selected] == [("gallery:2", 2), ("query:0", 0)]
    for ids, message in [([], "no tracklets selected"),
                         (["query:2"], "tracklet query:2 does not exist: tiny has 2 query tracklets "
                                       r"\(query:0..query:1\)"),
                         (["train:0"], r"tiny has 0 train tracklets \(none\)"),
                         (["query:-1"], "tracklet query:-1 does not exist"),
                         (["probe:1"], "'probe:1' is not SPLIT:INDEX"),
                         (["query"], "'query' is not SPLIT:INDEX")]:
        with pytest.raises(ValueError, match=message):
            select_tracklets(dataset, ids)


def test_the_gallery_is_ranked_by_distance_without_what_the_protocol_excludes():
    # One query (pid 1, camera 0) on a line; gallery entry i at distance d_i.
    gallery_at = [3.0, 1.0, 0.5, 2.0, 4.0, 0.0]
    gallery_pids = [1, 2, 1, 1, 2, -1]   # entry 2: same pid and camera (excluded); 5: junk (excluded)
    gallery_camids = [1, 1, 0, 2, 0, 1]
    rankings = rank_gallery(torch.zeros(1, 1), torch.tensor(gallery_at)[:, None], [1], [0], gallery_pids,
                            gallery_camids, top_k=3)
    assert [(entry.gallery_index, entry.distance, entry.is_match) for entry in rankings[0]] == [
        (1, 1.0, False), (3, 4.0, True), (0, 9.0, True)]  # squared Euclidean
    with pytest.raises(ValueError, match="top_k must be at least 1"):
        rank_gallery(torch.zeros(1, 1), torch.zeros(2, 1), [1], [0], [1, 2], [1, 1], top_k=0)


def test_ranked_results_are_framed_by_whether_they_match():
    gallery = tiny_tracklets(num_identities=3, tracklets_per_identity=1)
    query = [Tracklet(gallery[1].frames, pid=1, camid=5)]
    rankings = rank_gallery(torch.tensor([[1.0]]), torch.tensor([[0.0], [1.0], [2.5]]), [1], [5],
                            [t.pid for t in gallery], [t.camid for t in gallery], top_k=3)
    figure = ranks_figure(query, gallery, rankings, ["query:0"])
    _, *ranked = figure.axes
    expected = [MATCH_COLOUR, MISMATCH_COLOUR, MISMATCH_COLOUR]  # distances 0, 1, 2.25
    assert [axes.spines["left"].get_edgecolor() for axes in ranked] == [to_rgba(colour) for colour in expected]
    assert [axes.get_title() for axes in ranked] == ["#1 pid 1, cam 0\nd = 0", "#2 pid 0, cam 0\nd = 1",
                                                     "#3 pid 2, cam 0\nd = 2.25"]
    with pytest.raises(ValueError, match="no queries selected"):
        ranks_figure([], gallery, [])


def test_the_official_gallery_adds_the_other_queries_as_the_evaluation_does():
    frames = tiny_tracklets(num_identities=1, tracklets_per_identity=1)[0].frames
    dataset = VideoReIDDataset("tiny", train=[], query=[Tracklet(frames, 1, 0), Tracklet(frames, 1, 1)],
                               gallery=[Tracklet(frames, 2, 1)])
    features = EvaluationFeatures(query=torch.tensor([[0.0], [1.0]]), gallery=torch.tensor([[2.0]]),
                                  query_pids=torch.tensor([1, 1]), gallery_pids=torch.tensor([2]),
                                  query_camids=torch.tensor([0, 1]), gallery_camids=torch.tensor([1]))

    def ranked_titles(gallery_mode):
        figure = dataset_ranks_figure(features, dataset, [0], top_k=3, gallery_mode=gallery_mode)
        return [axes.get_title().splitlines()[0] for axes in figure.axes[1:]]

    assert ranked_titles("torchreid") == ["#1 pid 2, cam 1"]
    # The query itself (same identity and camera) is left out; the other query of its identity ranks first.
    assert ranked_titles("official") == ["#1 pid 1, cam 1", "#2 pid 2, cam 1"]
    with pytest.raises(ValueError, match="unknown gallery mode 'mars'"):
        ranked_titles("mars")


def test_the_cmc_curve_is_the_evaluations_cmc_at_every_rank():
    rng = np.random.default_rng(0)
    features = EvaluationFeatures(
        query=torch.from_numpy(rng.normal(size=(6, 8))).float(),
        gallery=torch.from_numpy(rng.normal(size=(12, 8))).float(),
        query_pids=torch.arange(6), gallery_pids=torch.arange(6).repeat(2),
        query_camids=torch.zeros(6, dtype=torch.int64), gallery_camids=torch.ones(12, dtype=torch.int64),
        dataset="random")
    result = cmc_result(features, max_rank=12)
    assert sorted(result.cmc) == list(range(1, 13))
    reference = features.evaluate(Protocol(ranks=(1, 5, 10)))
    assert all(result.cmc[rank] == reference.cmc[rank] for rank in (1, 5, 10)) and result.mAP == reference.mAP
    assert result.cmc[12] == 1.0  # every query's true matches lie within the 12 gallery entries
    figure = cmc_figure([result, features.evaluate(Protocol(ranks=(1, 5, 10), distance="cosine"))], ["a", "b"])
    first, second = figure.axes[0].lines
    np.testing.assert_allclose(first.get_ydata(), [100 * result.cmc[rank] for rank in range(1, 13)])
    assert list(second.get_xdata()) == [1, 5, 10]
    assert first.get_label().startswith(f"a: mAP {100 * result.mAP:.1f}%, R1 {100 * result.cmc[1]:.1f}%")
    # The protocols differ in the distance: each label names its own.
    assert "squared Euclidean" in first.get_label() and "cosine" in second.get_label()
    with pytest.raises(ValueError, match="no results to plot"):
        cmc_figure([])
    with pytest.raises(ValueError, match="1 labels for 2 results"):
        cmc_figure([result, result], ["a"])
    with pytest.raises(ValueError, match="max_rank must be at least 1"):
        cmc_result(features, max_rank=0)


def test_save_figure_writes_a_png_of_the_figures_size(tmp_path):
    result = cmc_result(EvaluationFeatures(torch.eye(2), torch.eye(2), torch.arange(2), torch.arange(2),
                                           torch.zeros(2), torch.ones(2)), max_rank=2)
    figure = cmc_figure([result])
    path = save_figure(figure, tmp_path / "sub" / "cmc.png")
    assert pixel_size(path) == figure_size_in_pixels(*CMC_FIGURE_SIZE)
    palette = save_figure(figure, tmp_path / "palette.png", colours=16)
    with Image.open(path) as full_colour, Image.open(palette) as image:
        assert image.mode == "P" and image.size == full_colour.size
        assert len(image.convert("RGB").getcolors()) <= 16 < len(full_colour.convert("RGB").getcolors(1 << 24))
    with pytest.raises(ValueError, match="a PNG palette holds 2 to 256 colours, not 1"):
        save_figure(figure, tmp_path / "none.png", colours=1)
    assert not (tmp_path / "none.png").exists()


# The commands, through cli.main as the console script calls it.

@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    assert cli.main(["synth", "--root", str(root), *SYNTH_FLAGS]) == 0
    return root / "synthetic"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    return {"cosam": save_model(tiny_model(cosam_blocks=(4, 5)), folder / "cosam.pt"),
            "plain": save_model(tiny_model(), folder / "plain.pt")}


@pytest.fixture(scope="module")
def saved_features(dataset_root, checkpoints, tmp_path_factory):
    folder = tmp_path_factory.mktemp("features")
    paths = {}
    for name, checkpoint in checkpoints.items():
        paths[name] = folder / f"{name}.pt"
        assert cli.main(["evaluate", "--checkpoint", str(checkpoint), "--dataset", "mars", "--root",
                         str(dataset_root), "--workers", "0", "--save-features", str(paths[name])]) == 0
    return paths


def visualize(capsys, picture, *argv):
    status = cli.main(["visualize", picture, *map(str, argv)])
    output = capsys.readouterr()
    return status, output.out, output.err


def test_visualize_masks_writes_one_block_of_rows_per_tracklet(dataset_root, checkpoints, tmp_path, capsys):
    output = tmp_path / "masks.png"
    status, out, err = visualize(capsys, "masks", "--checkpoint", checkpoints["cosam"], "--dataset", "mars",
                                 "--root", dataset_root, "--tracklets", "query:0", "gallery:1", "--output", output)
    assert status == 0, err
    assert f"=> masks written to {output}" in out
    rows = 2 * (1 + 2)  # per tracklet: the frames, then COSAM_4 and COSAM_5
    width, height = FRAME_PANEL
    assert pixel_size(output) == figure_size_in_pixels(TINY_FRAMES * width + CHANNEL_PANEL_WIDTH, rows * height)


def test_visualize_ranks_from_a_checkpoint_or_its_saved_features_is_one_picture(
        dataset_root, checkpoints, saved_features, tmp_path, capsys):
    common = ["--dataset", "mars", "--root", dataset_root, "--queries", "1", "0", "--top-k", "2"]
    from_model, from_features = tmp_path / "model.png", tmp_path / "features.png"
    status, _, err = visualize(capsys, "ranks", "--checkpoint", checkpoints["cosam"], *common, "--output", from_model)
    assert status == 0, err
    status, _, err = visualize(capsys, "ranks", "--features", saved_features["cosam"], *common,
                               "--output", from_features)
    assert status == 0, err
    width, height = FRAME_PANEL
    assert pixel_size(from_model) == figure_size_in_pixels((1 + 2) * width, 2 * height)
    assert from_model.read_bytes() == from_features.read_bytes()


def test_visualize_cmc_draws_each_features_file(saved_features, tmp_path, capsys):
    output = tmp_path / "cmc.png"
    status, out, err = visualize(capsys, "cmc", saved_features["cosam"], saved_features["plain"],
                                 "--labels", "COSAM_4,5", "plain", "--max-rank", "5", "--colours", "64",
                                 "--output", output)
    assert status == 0, err
    assert pixel_size(output) == figure_size_in_pixels(*CMC_FIGURE_SIZE)
    with Image.open(output) as image:
        assert image.mode == "P"


@pytest.mark.parametrize("picture, make_argv, message", [
    ("masks", lambda paths: ["--checkpoint", paths["plain"], "--tracklets", "query:0"],
     "the model of checkpoint {plain} has no COSAM layers: there are no masks to show"),
    ("masks", lambda paths: ["--checkpoint", paths["cosam"], "--tracklets", "query:0", "gallery:99"],
     "tracklet gallery:99 does not exist: "),
    ("masks", lambda paths: ["--checkpoint", paths["cosam"], "--tracklets", "0"], "'0' is not SPLIT:INDEX"),
    ("masks", lambda paths: ["--checkpoint", paths["missing"], "--tracklets", "query:0"], "checkpoint not found: "),
    ("ranks", lambda paths: ["--checkpoint", paths["cosam"], "--queries", "99"], "tracklet query:99 does not exist"),
    ("ranks", lambda paths: ["--features", paths["other features"], "--queries", "0"],
     "test features from {other features} do not fit MARS: they are of 1 query tracklets whose identities are "
     "not those of its 2"),
    ("cmc", lambda paths: [paths["cosam features"], "--labels", "a", "b"], "--labels: 2 labels for 1 features files"),
    ("cmc", lambda paths: [paths["garbage"]], "cannot load the saved features "),
    ("cmc", lambda paths: [paths["cosam"]], "{cosam}: expected saved test features with "),
])
def test_visualize_bad_input_is_one_line_and_no_picture(picture, make_argv, message, dataset_root, checkpoints,
                                                        saved_features, tmp_path, capsys):
    other = EvaluationFeatures(torch.zeros(1, 2), torch.zeros(1, 2), torch.tensor([7]), torch.tensor([7]),
                               torch.zeros(1), torch.ones(1))
    other.save(tmp_path / "other.pt")
    (tmp_path / "garbage.pt").write_text("not a torch file")
    paths = {**checkpoints, "missing": tmp_path / "none.pt", "other features": tmp_path / "other.pt",
             "garbage": tmp_path / "garbage.pt", "cosam features": saved_features["cosam"]}
    output = tmp_path / "picture.png"
    dataset = [] if picture == "cmc" else ["--dataset", "mars", "--root", dataset_root]
    status, _, err = visualize(capsys, picture, *make_argv(paths), *dataset, "--output", output)
    assert status == 2
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("cosam-reid visualize: error: ") and message.format(**paths) in err, err
    assert not output.exists()


def test_visualize_needs_a_selection(checkpoints, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["visualize", "masks", "--checkpoint", str(checkpoints["cosam"]), "--tracklets",
                  "--output", str(tmp_path / "masks.png")])
    assert exit_info.value.code == 2 and "--tracklets: expected at least one argument" in capsys.readouterr().err
    assert not (tmp_path / "masks.png").exists()


def test_silhouettes_are_outlined_and_each_mask_panel_carries_its_auc():
    torch.manual_seed(0)
    model = tiny_model(cosam_blocks=(5,)).eval()
    tracklets = tiny_tracklets(num_identities=1, tracklets_per_identity=1, frames=(4, 4))
    silhouettes = {}
    for frame in tracklets[0].frames:
        silhouette = np.zeros(frame.shape[:2], dtype=bool)
        silhouette[10:60, 8:28] = True
        silhouettes[id(frame)] = silhouette
    figure = tracklet_masks_figure(model, tracklets, silhouette=lambda frame: silhouettes[id(frame)])
    mask_panels = [axes for axes in figure.axes if len(axes.images) == 2]
    frame_panels = [axes for axes in figure.axes if len(axes.images) == 1 and axes.get_ylabel() != "spatial mask"]
    assert len(mask_panels) == TINY_FRAMES and all(axes.collections for axes in mask_panels + frame_panels)
    clip = torch.stack([EvalTransform(TINY_INPUT_SIZE)(load_frame(frame)) for frame in tracklets[0].frames])
    spatial = capture_masks(model, clip[None])[0].spatial
    for frame, axes in enumerate(mask_panels):
        truth = silhouettes[id(tracklets[0].frames[frame])]
        mask = F.interpolate(spatial[:, frame:frame + 1], size=truth.shape, mode="bilinear", align_corners=False)
        assert axes.get_xlabel() == f"AUC {score_frame(mask[0, 0].numpy(), truth).auc:.2f}"
