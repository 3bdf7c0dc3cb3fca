"""The mask-quality metric: per-frame scores with known answers on hand-made
masks, their aggregation, the pipeline over a model's own masks of every test
frame, and `cosam-reid evaluate --masks` on a generated synthetic set."""
import os
import shutil

import numpy as np
import pytest
import torch

from cosam_reid import cli
from cosam_reid.data.transforms import EvalTransform
from cosam_reid.data.tracklets import Tracklet, load_frame
from cosam_reid.evaluation.features import clip_indices
from cosam_reid.evaluation.mask_quality import FrameMaskScore, LayerMaskQuality, mask_quality, score_frame
from cosam_reid.models.masks import capture_masks, upsample_masks
from reid_testing import TINY_FRAMES, TINY_INPUT_SIZE, save_model, tiny_model, tiny_tracklets

SYNTH_FLAGS = ["--identities", "4", "--cameras", "2", "--tracklet-length", "3", "5", "--size", "32", "16"]


def test_a_mask_equal_to_the_silhouette_scores_one_and_its_inverse_zero():
    silhouette = np.zeros((8, 4), dtype=bool)
    silhouette[2:7, 1:3] = True
    perfect = score_frame(silhouette.astype(np.float32), silhouette)
    assert perfect == FrameMaskScore(auc=1.0, inside=1.0, outside=0.0)
    inverse = score_frame(1.0 - silhouette, silhouette)
    assert (inverse.auc, inverse.inside, inverse.outside) == (0.0, 0.0, 1.0)


def test_ties_count_a_half_and_a_constant_mask_is_chance():
    silhouette = np.array([[True, False], [False, False]])
    assert score_frame(np.full((2, 2), 0.3), silhouette).auc == 0.5
    # person {0.9, 0.2} against background {0.5, 0.1}: 3 of the 4 pairs ordered right.
    score = score_frame(np.array([[0.9, 0.5], [0.2, 0.1]]), np.array([[True, False], [True, False]]))
    assert score.auc == pytest.approx(0.75) and score.inside == pytest.approx(0.55)
    assert score.outside == pytest.approx(0.3)
    # person {0.5} against {0.5, 0.2, 0.7}: above one, tied with one, below one.
    assert score_frame(np.array([[0.5, 0.5], [0.2, 0.7]]), silhouette).auc == pytest.approx(0.5)
    assert score_frame(np.array([[0.5, 0.4], [0.2, 0.7]]), silhouette).auc == pytest.approx(2 / 3)


def test_frames_without_person_or_background_are_not_scored():
    mask = np.random.default_rng(0).random((4, 2))
    assert score_frame(mask, np.zeros((4, 2), dtype=bool)) is None
    assert score_frame(mask, np.ones((4, 2), dtype=bool)) is None


def test_clutter_and_plain_background_are_scored_apart():
    silhouette = np.array([[True, False, False], [True, False, False]])
    clutter = np.array([[True, True, False], [False, True, False]])  # on the person: the person's
    mask = np.array([[0.9, 0.95, 0.1], [0.7, 0.5, 0.3]])
    score = score_frame(mask, silhouette, clutter)
    # person {0.9, 0.7}, clutter {0.95, 0.5}, background {0.1, 0.3}
    assert (score.inside, score.clutter, score.background) == (pytest.approx(0.8), pytest.approx(0.725),
                                                               pytest.approx(0.2))
    assert (score.auc_clutter, score.auc_background) == (pytest.approx(0.5), pytest.approx(1.0))
    assert score.auc == pytest.approx(0.75) and score.outside == pytest.approx(0.4625)
    # No clutter in view: no clutter scores; no clutter mask: none of the two.
    plain = score_frame(mask, silhouette, np.zeros_like(silhouette))
    assert (plain.auc_clutter, plain.clutter, plain.auc_background) == (None, None, plain.auc)
    assert score_frame(mask, silhouette).auc_background is None


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="boolean array"):
        score_frame(np.zeros((4, 2)), np.zeros((4, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"mask \(4, 2\) and silhouette \(2, 4\)"):
        score_frame(np.zeros((4, 2)), np.zeros((2, 4), dtype=bool))
    with pytest.raises(ValueError, match=r"mask \(4, 2\) and clutter mask \(2, 4\)"):
        score_frame(np.zeros((4, 2)), np.zeros((4, 2), dtype=bool), np.zeros((2, 4), dtype=bool))


def test_layer_scores_average_over_scored_frames_and_count_the_rest():
    scores = [FrameMaskScore(1.0, 0.8, 0.2), None, FrameMaskScore(0.5, 0.4, 0.4)]
    layer = LayerMaskQuality.from_scores("COSAM_3", (16, 8), scores)
    assert (layer.frames, layer.unscored) == (2, 1)
    assert (layer.clutter_frames, layer.auc_clutter, layer.clutter) == (0, None, None)
    # Clutter and background scores average over the frames that have them.
    with_clutter = LayerMaskQuality.from_scores("COSAM_3", (16, 8), scores + [
        FrameMaskScore(0.8, 0.5, 0.3, auc_clutter=0.6, clutter=0.4, auc_background=0.9, background=0.2)])
    assert (with_clutter.clutter_frames, with_clutter.auc_clutter, with_clutter.clutter) == (1, 0.6, 0.4)
    assert (with_clutter.background_frames, with_clutter.auc_background) == (1, 0.9)
    assert (layer.auc, layer.auc_std) == (pytest.approx(0.75), pytest.approx(0.25))
    assert (layer.inside, layer.outside, layer.contrast) == (pytest.approx(0.6), pytest.approx(0.3), pytest.approx(2))
    with pytest.raises(ValueError, match="COSAM_3: no frame has a silhouette"):
        LayerMaskQuality.from_scores("COSAM_3", (16, 8), [None, None])


def own_masks(model, tracklets):
    """Each layer's mask of every frame, upsampled to the frame's size, keyed
    by id(frame): each tracklet's dense clips through capture_masks one at a time."""
    transform = EvalTransform(TINY_INPUT_SIZE)
    masks = {}
    for tracklet in tracklets:
        for clip in clip_indices(len(tracklet.frames), TINY_FRAMES):
            frames = torch.stack([transform(load_frame(tracklet.frames[position])) for position in clip])
            layers = capture_masks(model, frames[None])
            for slot, position in enumerate(clip):
                frame = tracklet.frames[position]
                masks[id(frame)] = [upsample_masks(layer.spatial[:, slot:slot + 1], frame.shape[:2])[0, 0].numpy()
                                    for layer in layers]
    return masks


@pytest.fixture(scope="module")
def own_mask_case():
    """A tiny model, tracklets of 3, 6 and 5 frames (5 dense clips, two of
    them padded) whose frames show different figures, so that a frame's mask
    differs from its clip neighbours', and each layer's own mask of every frame."""
    torch.manual_seed(0)
    model = tiny_model(cosam_blocks=(4, 5)).eval()
    # Frames of 72x36 (not the 64x32 input): the masks are scored at the frame's own size.
    figures = [tracklet.frames[0] for tracklet in tiny_tracklets(num_identities=14, tracklets_per_identity=1)]
    tracklets = [Tracklet(tuple(figures[:3]), 0, 0), Tracklet(tuple(figures[3:9]), 1, 1),
                 Tracklet(tuple(figures[9:]), 2, 0)]
    return model, tracklets, own_masks(model, tracklets)


@pytest.mark.parametrize("clips_per_batch", [1, 2, 3, 5])
def test_the_pipeline_scores_every_frame_against_its_own_mask(own_mask_case, clips_per_batch):
    model, tracklets, masks = own_mask_case
    # The "person" is where COSAM_4's own mask of that frame is above its median, the
    # "clutter" where it is in its lowest quarter: a frame scored with another frame's
    # mask or truth (another batch's, another clip's), or a mask not upsampled to the
    # frame as the heat maps are, scores below 1.
    silhouettes = {key: layers[0] > np.median(layers[0]) for key, layers in masks.items()}
    clutter = {key: layers[0] < np.quantile(layers[0], 0.25) for key, layers in masks.items()}
    quality = mask_quality(model, tracklets, silhouette=lambda frame: silhouettes[id(frame)],
                           clutter=lambda frame: clutter[id(frame)], clips_per_batch=clips_per_batch, progress=False)
    assert [layer.label for layer in quality.layers] == ["COSAM_4", "COSAM_5"]
    assert [layer.map_size for layer in quality.layers] == [(4, 2), (4, 2)]
    # Each frame once: padded clips repeat frames.
    frames = sum(len(t.frames) for t in tracklets)
    assert [(layer.frames, layer.clutter_frames, layer.background_frames) for layer in quality.layers] == \
        [(frames, frames, frames)] * 2
    own = quality.layers[0]
    for value in (own.auc, own.auc_clutter, own.auc_background):
        assert value == pytest.approx(1.0, abs=1e-3)
    assert own.auc_std < 1e-3 and own.clutter < own.background < own.inside
    expected = LayerMaskQuality.from_scores("COSAM_5", (4, 2), [score_frame(layers[1], silhouettes[key], clutter[key])
                                                                 for key, layers in masks.items()])
    # Batches of several clips and batches of 1 round differently: AUC ranks nearly tied pixels.
    for field in ("auc", "auc_clutter", "auc_background"):
        assert getattr(quality.layers[1], field) == pytest.approx(getattr(expected, field), abs=1e-3)
    for field in ("inside", "outside", "clutter", "background"):
        assert getattr(quality.layers[1], field) == pytest.approx(getattr(expected, field), abs=1e-5)
    assert "COSAM_4" in str(quality) and set(quality.as_dict()) == {"COSAM_4", "COSAM_5"}
    assert quality.as_dict()["COSAM_4"]["auc_clutter"] == own.auc_clutter


def test_only_layers_with_spatial_masks_are_scored():
    tracklets = tiny_tracklets(num_identities=1, tracklets_per_identity=1)
    with pytest.raises(ValueError, match="no spatial attention"):
        mask_quality(tiny_model(cosam_blocks=(5,), attention="channel"), tracklets, progress=False)
    with pytest.raises(ValueError, match="has no COSAM layers"):
        mask_quality(tiny_model(), tracklets, progress=False)


# The command, through cli.main as the console script calls it.

@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    assert cli.main(["synth", "--root", str(root), *SYNTH_FLAGS]) == 0
    return root


def test_evaluate_masks_prints_each_layers_scores(synthetic_root, tmp_path, capsys):
    torch.manual_seed(0)
    checkpoint = save_model(tiny_model(cosam_blocks=(4, 5)), tmp_path / "cosam.pt")
    status = cli.main(["evaluate", "--checkpoint", str(checkpoint), "--dataset", "synthetic", "--root",
                       str(synthetic_root), "--masks", "--workers", "0", "evaluation.dataset_options.num_identities=4",
                       "evaluation.dataset_options.num_cameras=2", "evaluation.dataset_options.tracklet_length=[3,5]",
                       "evaluation.dataset_options.image_size=[32,16]"])
    out = capsys.readouterr().out
    assert status == 0
    assert "mAP" in out and "Mask quality of the COSAM spatial masks" in out
    for label in ("COSAM_4", "COSAM_5"):
        line = next(line for line in out.splitlines() if line.strip().startswith(label))
        auc = float(line.split()[3])
        assert 0.0 <= auc <= 1.0


def test_evaluate_masks_needs_a_checkpoint_and_silhouettes(synthetic_root, tmp_path, capsys):
    assert cli.main(["evaluate", "--features", str(tmp_path / "f.pt"), "--masks"]) == 2
    assert "--masks scores a model's masks: pass --checkpoint" in capsys.readouterr().err
    # A synthetic set generated before silhouettes existed.
    old = tmp_path / "old"
    shutil.copytree(synthetic_root, old)
    shutil.rmtree(old / "synthetic" / "silhouettes")
    checkpoint = save_model(tiny_model(cosam_blocks=(5,)), tmp_path / "cosam.pt")
    status = cli.main(["evaluate", "--checkpoint", str(checkpoint), "--dataset", "synthetic", "--root", str(old),
                       "--masks", "--workers", "0", "evaluation.dataset_options.num_identities=4",
                       "evaluation.dataset_options.num_cameras=2", "evaluation.dataset_options.tracklet_length=[3,5]",
                       "evaluation.dataset_options.image_size=[32,16]"])
    assert status == 2
    assert os.path.join("silhouettes", "bbox_test") in capsys.readouterr().err
