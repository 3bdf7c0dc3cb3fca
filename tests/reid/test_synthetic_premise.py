"""COSAM's premise holds on the synthetic set: in a tracklet the person is
what every frame shares while the background changes. Measured on a small
generated set, over the first dense 4-frame clip of every test tracklet:
the background varies across a clip at least as much as the person does,
and a hand-made commonness signal (for each position, the mean over the
other frames of its best NCC match) is higher on the person than off it."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cosam_reid.data.tracklets import load_frame
from cosam_reid.datasets import load_mars
from cosam_reid.datasets.synthetic import SyntheticConfig, generate, load_silhouette
from cosam_reid.evaluation.mask_quality import score_frame
from cosam_reid.models.masks import upsample_masks

CLIP = 4
#: The descriptor of a position: the 5x5 neighbourhood of 2x2-pooled pixels (10x10 pixels, RGB).
POOL, NEIGHBOURHOOD = 2, 5


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """(frames (N, H, W, 3) float, silhouettes (N, H, W) bool) of the first
    clip of every test tracklet with a person."""
    dataset_dir = str(tmp_path_factory.mktemp("premise") / "synthetic")
    generate(dataset_dir, SyntheticConfig(num_identities=12, num_distractors=0, num_junk=0, tracklet_length=(4, 8)),
             verbose=False)
    dataset = load_mars(dataset_dir, verbose=False)
    found = []
    for tracklet in dataset.query + dataset.gallery:
        frames = tracklet.frames[:CLIP]
        found.append((np.stack([np.asarray(load_frame(frame), dtype=np.float32) for frame in frames]),
                      np.stack([load_silhouette(frame) for frame in frames])))
    return found


def spreads(frames, silhouettes):
    """Per-pixel std of the grey levels across the clip: its mean over the
    background (outside every silhouette) and over the person (inside all)."""
    spread = frames.mean(-1).std(0)
    return spread[~silhouettes.any(0)].mean(), spread[silhouettes.all(0)].mean()


def commonness(frames):
    """(N, h, w): each position's mean over the other frames of its best
    normalised cross-correlation with any position of that frame."""
    pooled = F.avg_pool2d(torch.from_numpy(frames).permute(0, 3, 1, 2), POOL)
    size = pooled.shape[-2:]
    padded = F.pad(pooled, (NEIGHBOURHOOD // 2,) * 4, mode="replicate")
    descriptors = F.unfold(padded, NEIGHBOURHOOD).transpose(1, 2)  # (N, positions, 3 * 25)
    descriptors = F.normalize(descriptors - descriptors.mean(-1, keepdim=True), dim=-1)
    best = (descriptors[:, None] @ descriptors[None].transpose(-1, -2)).amax(-1)  # (N, N, positions)
    others = ~torch.eye(len(frames), dtype=torch.bool)
    return torch.stack([best[i][others[i]].mean(0) for i in range(len(frames))]).view(len(frames), *size)


def test_the_background_varies_at_least_as_much_as_the_person(clips):
    measured = np.array([spreads(frames, silhouettes) for frames, silhouettes in clips
                         if silhouettes.all(0).any()])
    assert len(measured) >= 15
    background, person = measured.T
    assert np.mean(background >= person) > 0.6, (background.mean(), person.mean())


def test_what_the_frames_share_is_the_person(clips):
    aucs = []
    for frames, silhouettes in clips:
        signal = upsample_masks(commonness(frames)[:, None], silhouettes.shape[1:])[:, 0].numpy()
        aucs += [score.auc for score in map(score_frame, signal, silhouettes) if score is not None]
    assert np.mean(aucs) > 0.55
