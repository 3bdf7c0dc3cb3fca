"""How well COSAM's spatial masks pick out the person. Each layer's spatial
mask of a frame, upsampled bilinearly to the frame's size, is scored against
the frame's ground truth, which the synthetic dataset draws for every frame:
its silhouette (the visible pixels of the tracklet's person) and its clutter
mask (clutter objects, occluders and other people); the rest of the frame is
plain background.

- inside, outside: the mean mask value over the person's pixels and over the
  rest of the frame; contrast = inside / outside;
- AUC: the area under the ROC curve of the mask value as a person-versus-
  rest classifier over the frame's pixels: 0.5 is chance, 1 puts every
  person pixel above every other pixel. It is the Mann-Whitney U of the
  person's values against the rest's over n_person * n_rest (ties count a
  half);
- with the clutter mask, the rest split in two: clutter and background (the
  mean mask on each) and auc_clutter, auc_background (the AUC of the person
  against each alone).

Each is computed per frame and averaged over the frames that have it. A
frame whose silhouette is empty (the person hidden, or a junk detection) or
fills the whole frame has no AUC: it is counted as unscored, not scored; a
frame without clutter (or without plain background) in view has no clutter
(background) scores.
"""
import dataclasses
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import scipy.stats
import torch
from tqdm import tqdm

from ..config import packaged_default
from ..data.tracklets import Tracklet, VideoReIDDataset
from ..data.transforms import EvalTransform
from ..datasets import build_dataset
from ..datasets.synthetic import load_clutter, load_silhouette
from ..engine.checkpoint import model_from_checkpoint
from ..models.masks import cosam_layers, layer_label, recording_masks, upsample_masks
from .features import ClipRequests


@dataclasses.dataclass(frozen=True)
class FrameMaskScore:
    auc: float
    inside: float
    outside: float
    # Against the clutter and the plain background apart (None: none in view, or no clutter mask).
    auc_clutter: Optional[float] = None
    clutter: Optional[float] = None
    auc_background: Optional[float] = None
    background: Optional[float] = None


def auc(positive, negative) -> float:
    """The Mann-Whitney U of positive against negative over their pairs."""
    # "asymptotic": the exact method is for tiny samples and only changes the p-value, not U.
    u = scipy.stats.mannwhitneyu(positive, negative, method="asymptotic").statistic
    return float(u) / (len(positive) * len(negative))


def check_truth(mask, truth, what):
    truth = np.asarray(truth)
    if truth.dtype != np.bool_:
        raise ValueError(f"the {what} must be a boolean array (True on the {what.split()[0]}), got {truth.dtype}")
    if mask.shape != truth.shape or mask.ndim != 2:
        raise ValueError(f"mask {mask.shape} and {what} {truth.shape} must be (H, W) arrays of one shape")
    return truth


def score_frame(mask, silhouette, clutter=None) -> Optional[FrameMaskScore]:
    """The scores of one frame's mask (H, W) against its silhouette (H, W,
    True on the person) and, when given, its clutter mask (H, W, True on
    clutter, occluders and other people; where both are True it is the
    person); None when the silhouette is empty or full."""
    mask = np.asarray(mask, dtype=np.float64)
    silhouette = check_truth(mask, silhouette, "silhouette")
    if clutter is not None:
        clutter = check_truth(mask, clutter, "clutter mask") & ~silhouette
    person, rest = mask[silhouette], mask[~silhouette]
    if not len(person) or not len(rest):
        return None
    parts = {}
    if clutter is not None:
        for name, region in (("clutter", clutter), ("background", ~clutter & ~silhouette)):
            if region.any():
                parts.update({f"auc_{name}": auc(person, mask[region]), name: float(mask[region].mean())})
    return FrameMaskScore(auc(person, rest), float(person.mean()), float(rest.mean()), **parts)


def mean_of(scores, field):
    """The mean of a field over the scores that have it, and their number."""
    values = [getattr(score, field) for score in scores if getattr(score, field) is not None]
    return (float(np.mean(values)) if values else None), len(values)


@dataclasses.dataclass(frozen=True)
class LayerMaskQuality:
    """One COSAM layer's scores, averaged over the frames scored (clutter and
    background: over those with clutter, plain background, in view; None
    where no frame has it, or without clutter masks)."""
    label: str
    map_size: Tuple[int, int]
    frames: int
    unscored: int
    auc: float
    auc_std: float
    inside: float
    outside: float
    clutter_frames: int = 0
    auc_clutter: Optional[float] = None
    clutter: Optional[float] = None
    background_frames: int = 0
    auc_background: Optional[float] = None
    background: Optional[float] = None

    @property
    def contrast(self) -> float:
        return self.inside / self.outside if self.outside > 0 else float("inf")

    @classmethod
    def from_scores(cls, label, map_size, scores: Sequence[Optional[FrameMaskScore]]) -> "LayerMaskQuality":
        scored = [score for score in scores if score is not None]
        if not scored:
            raise ValueError(f"{label}: no frame has a silhouette with both person and background pixels")
        aucs = np.array([score.auc for score in scored])
        (auc_clutter, clutter_frames), (clutter, _) = mean_of(scored, "auc_clutter"), mean_of(scored, "clutter")
        (auc_background, background_frames), (background, _) = (mean_of(scored, "auc_background"),
                                                                 mean_of(scored, "background"))
        return cls(label, tuple(map_size), len(scored), len(scores) - len(scored), float(aucs.mean()),
                   float(aucs.std()), float(np.mean([score.inside for score in scored])),
                   float(np.mean([score.outside for score in scored])), clutter_frames, auc_clutter, clutter,
                   background_frames, auc_background, background)


@dataclasses.dataclass(frozen=True)
class MaskQuality:
    layers: List[LayerMaskQuality]
    #: What was scored, e.g. "synthetic (MARS layout): 235 test tracklets, dense clips of 4".
    source: str

    def __str__(self):
        lines = [f"Mask quality of the COSAM spatial masks against the person silhouettes ({self.source}):",
                 f"  {'layer':10} {'map':>6} {'frames':>7} {'AUC':>13} {'inside':>7} {'outside':>8} "
                 f"{'contrast':>8} {'clutter':>8} {'backgr.':>8} {'AUC/clutter':>12} {'AUC/backgr.':>12}"]
        for layer in self.layers:
            lines.append(f"  {layer.label:10} {'{}x{}'.format(*layer.map_size):>6} {layer.frames:7d} "
                         f"{layer.auc:6.3f} ± {layer.auc_std:.3f} {layer.inside:7.3f} {layer.outside:8.3f} "
                         f"{layer.contrast:8.2f} {_cell(layer.clutter, 8)} {_cell(layer.background, 8)} "
                         f"{_cell(layer.auc_clutter, 12)} {_cell(layer.auc_background, 12)}")
        unscored = max((layer.unscored for layer in self.layers), default=0)
        if unscored:
            lines.append(f"  {unscored} frames unscored: silhouette empty (person hidden) or filling the frame")
        lines.append("  AUC: mask value as a person/rest classifier per frame, mean ± std over frames; "
                     "inside/outside: mean mask on/off the person; clutter/backgr.: mean mask on clutter, "
                     "occluders and other people / on the plain background, and the AUC of the person against each")
        return "\n".join(lines)

    def as_dict(self) -> Dict[str, dict]:
        return {layer.label: {**dataclasses.asdict(layer), "contrast": layer.contrast} for layer in self.layers}


def _cell(value, width):
    return f"{'-':>{width}}" if value is None else f"{value:{width}.3f}"


@torch.no_grad()
def mask_quality(model, tracklets: Sequence[Tracklet], *, silhouette: Callable[[str], np.ndarray] = load_silhouette,
                 clutter: Optional[Callable[[str], np.ndarray]] = load_clutter,
                 clips_per_batch: int = packaged_default("evaluation.clips_per_batch"), num_workers: int = 0,
                 source: str = "", progress: bool = True
                 ) -> MaskQuality:
    """The scores of every COSAM layer with a spatial mask in model (a
    VideoReIDModel) over every frame of tracklets, seen in the dense test
    clips (consecutive clips of the model's num_frames; a padded clip's
    repeated frames are scored once). silhouette maps a frame path to its
    (H, W) boolean silhouette, clutter (None: no clutter scores) to its
    clutter mask."""
    if not tracklets:
        raise ValueError("no tracklets to score")
    layers = {name: layer for name, layer in cosam_layers(model).items() if layer.attention in ("both", "spatial")}
    if not layers:
        raise ValueError("the model's COSAM layers have no spatial attention (attention='channel'): "
                         "there are no spatial masks to score")
    spec = model.spec
    requests = ClipRequests(tracklets, EvalTransform(spec.input_size), clip_length=spec.num_frames, sampling="dense")
    loader = torch.utils.data.DataLoader(requests, batch_size=clips_per_batch, num_workers=num_workers)
    device = next(model.parameters()).device
    scores = {name: [] for name in layers}
    was_training = model.training
    model.eval()
    try:
        with recording_masks(layers) as recorded:
            batches = tqdm(loader, desc="mask quality", unit="batch", disable=not progress)
            for batch_index, (clips, _) in enumerate(batches):
                model(clips.to(device))
                plan = requests.plan[batch_index * clips_per_batch:][:len(clips)]
                masks = {name: recorded[name].spatial_mask.reshape(len(clips), spec.num_frames, -1).cpu()
                         for name in layers}
                for index, (owner, clip) in enumerate(plan):
                    frames = tracklets[owner].frames
                    for position, slot in {position: slot for slot, position in enumerate(clip)}.items():
                        truth = silhouette(frames[position])
                        others = clutter(frames[position]) if clutter is not None else None
                        for name, layer in layers.items():
                            mask = upsample_masks(masks[name][index, slot].view(1, 1, *layer.spatial_size), truth.shape)
                            scores[name].append(score_frame(mask[0, 0].numpy(), truth, others))
    finally:
        model.train(was_training)
    return MaskQuality([LayerMaskQuality.from_scores(layer_label(name), layer.spatial_size, scores[name])
                        for name, layer in layers.items()], source)


def dataset_mask_quality(model, dataset: VideoReIDDataset, **options) -> MaskQuality:
    """mask_quality over the test tracklets (query and gallery) of dataset."""
    tracklets = list(dataset.query) + list(dataset.gallery)
    source = f"{dataset.name}: {len(tracklets)} test tracklets, dense clips of {model.spec.num_frames}"
    return mask_quality(model, tracklets, source=source, **options)


def evaluate_checkpoint_masks(checkpoint: str, evaluation, root, *, num_workers: int = 0,
                              progress: bool = True) -> MaskQuality:
    """dataset_mask_quality of a trained model on the test set of evaluation
    (an EvaluationConfig): a synthetic dataset, the one set with silhouettes."""
    model = model_from_checkpoint(checkpoint)
    dataset = build_dataset(evaluation.dataset, root, **evaluation.dataset_options)
    return dataset_mask_quality(model, dataset, clips_per_batch=evaluation.clips_per_batch,
                                num_workers=num_workers, progress=progress)
