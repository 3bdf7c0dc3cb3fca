"""How well COSAM's spatial masks pick out the person. Each layer's spatial
mask of a frame, upsampled bilinearly to the frame's size, is scored against
the frame's ground-truth silhouette (the visible pixels of the tracklet's
person, which the synthetic dataset draws for every frame):

- inside, outside: the mean mask value over the person's pixels and over the
  rest of the frame; contrast = inside / outside;
- AUC: the area under the ROC curve of the mask value as a person-versus-
  background classifier over the frame's pixels: 0.5 is chance, 1 puts every
  person pixel above every background pixel. It is the Mann-Whitney U of the
  person's values against the background's over n_person * n_background
  (ties count a half).

Each is computed per frame and averaged over frames. A frame whose silhouette
is empty (the person hidden, or a junk detection) or fills the whole frame has
no AUC: it is counted as unscored, not scored.
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
from ..datasets.synthetic import load_silhouette
from ..engine.checkpoint import model_from_checkpoint
from ..models.masks import cosam_layers, layer_label, recording_masks, upsample_masks
from .features import ClipRequests


@dataclasses.dataclass(frozen=True)
class FrameMaskScore:
    auc: float
    inside: float
    outside: float


def score_frame(mask, silhouette) -> Optional[FrameMaskScore]:
    """The scores of one frame's mask (H, W) against its silhouette (H, W,
    True on the person); None when the silhouette is empty or full."""
    mask = np.asarray(mask, dtype=np.float64)
    silhouette = np.asarray(silhouette)
    if silhouette.dtype != np.bool_:
        raise ValueError(f"the silhouette must be a boolean array (True on the person), got {silhouette.dtype}")
    if mask.shape != silhouette.shape or mask.ndim != 2:
        raise ValueError(f"mask {mask.shape} and silhouette {silhouette.shape} must be (H, W) arrays of one shape")
    person, background = mask[silhouette], mask[~silhouette]
    if not len(person) or not len(background):
        return None
    # "asymptotic": the exact method is for tiny samples and only changes the p-value, not U.
    u = scipy.stats.mannwhitneyu(person, background, method="asymptotic").statistic
    return FrameMaskScore(float(u) / (len(person) * len(background)), float(person.mean()),
                          float(background.mean()))


@dataclasses.dataclass(frozen=True)
class LayerMaskQuality:
    """One COSAM layer's scores, averaged over the frames scored."""
    label: str
    map_size: Tuple[int, int]
    frames: int
    unscored: int
    auc: float
    auc_std: float
    inside: float
    outside: float

    @property
    def contrast(self) -> float:
        return self.inside / self.outside if self.outside > 0 else float("inf")

    @classmethod
    def from_scores(cls, label, map_size, scores: Sequence[Optional[FrameMaskScore]]) -> "LayerMaskQuality":
        scored = [score for score in scores if score is not None]
        if not scored:
            raise ValueError(f"{label}: no frame has a silhouette with both person and background pixels")
        aucs = np.array([score.auc for score in scored])
        return cls(label, tuple(map_size), len(scored), len(scores) - len(scored), float(aucs.mean()),
                   float(aucs.std()), float(np.mean([score.inside for score in scored])),
                   float(np.mean([score.outside for score in scored])))


@dataclasses.dataclass(frozen=True)
class MaskQuality:
    layers: List[LayerMaskQuality]
    #: What was scored, e.g. "synthetic (MARS layout): 235 test tracklets, dense clips of 4".
    source: str

    def __str__(self):
        lines = [f"Mask quality of the COSAM spatial masks against the person silhouettes ({self.source}):",
                 f"  {'layer':10} {'map':>6} {'frames':>7} {'AUC':>13} {'inside':>7} {'outside':>8} "
                 f"{'contrast':>8}"]
        for layer in self.layers:
            lines.append(f"  {layer.label:10} {'{}x{}'.format(*layer.map_size):>6} {layer.frames:7d} "
                         f"{layer.auc:6.3f} ± {layer.auc_std:.3f} {layer.inside:7.3f} {layer.outside:8.3f} "
                         f"{layer.contrast:8.2f}")
        unscored = max((layer.unscored for layer in self.layers), default=0)
        if unscored:
            lines.append(f"  {unscored} frames unscored: silhouette empty (person hidden) or filling the frame")
        lines.append("  AUC: mask value as a person/background classifier per frame, mean ± std over frames; "
                     "inside/outside: mean mask on/off the person")
        return "\n".join(lines)

    def as_dict(self) -> Dict[str, dict]:
        return {layer.label: {**dataclasses.asdict(layer), "contrast": layer.contrast} for layer in self.layers}


@torch.no_grad()
def mask_quality(model, tracklets: Sequence[Tracklet], *, silhouette: Callable[[str], np.ndarray] = load_silhouette,
                 clips_per_batch: int = packaged_default("evaluation.clips_per_batch"), num_workers: int = 0,
                 source: str = "", progress: bool = True
                 ) -> MaskQuality:
    """The scores of every COSAM layer with a spatial mask in model (a
    VideoReIDModel) over every frame of tracklets, seen in the dense test
    clips (consecutive clips of the model's num_frames; a padded clip's
    repeated frames are scored once). silhouette maps a frame path to its
    (H, W) boolean silhouette."""
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
                for name in layers:
                    masks = recorded[name].spatial_mask.reshape(len(clips), spec.num_frames, -1).cpu()
                    for (owner, clip), clip_masks in zip(plan, masks):
                        frames = tracklets[owner].frames
                        for position, slot in {position: slot for slot, position in enumerate(clip)}.items():
                            truth = silhouette(frames[position])
                            mask = upsample_masks(clip_masks[slot].view(1, 1, *layers[name].spatial_size), truth.shape)
                            scores[name].append(score_frame(mask[0, 0].numpy(), truth))
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
