"""The pictures of `cosam-reid visualize`, from files: a checkpoint, saved test
features, a dataset. Each returns a matplotlib Figure."""
from typing import Optional, Sequence

from ..config import packaged_default
from ..data.tracklets import VideoReIDDataset
from ..data.transforms import EvalTransform
from ..datasets.synthetic import frame_has_silhouette, load_silhouette
from ..engine.checkpoint import model_from_checkpoint
from ..evaluation.pipeline import EvaluationFeatures, compute_test_features
from ..evaluation.results import Protocol
from .cmc import cmc_figure, cmc_result
from .common import describe_tracklet, select_tracklets
from .masks import cosam_layers, tracklet_masks_figure
from .ranks import dataset_ranks_figure


def checkpoint_masks_figure(checkpoint: str, dataset: VideoReIDDataset, tracklet_ids: Sequence[str]):
    """Each COSAM layer's masks of the model of checkpoint over the first clip
    of the tracklets named by tracklet_ids ("query:0", "gallery:12", ...),
    with the person silhouettes outlined where the dataset has them."""
    model = model_from_checkpoint(checkpoint)
    cosam_layers(model, what=f"the model of checkpoint {checkpoint}")
    selected = select_tracklets(dataset, tracklet_ids)
    titles = [f"{tracklet_id}\n{describe_tracklet(tracklet)}" for tracklet_id, tracklet in selected]
    tracklets = [tracklet for _, tracklet in selected]
    silhouette = load_silhouette if all(frame_has_silhouette(tracklet.frames[0]) for tracklet in tracklets) else None
    return tracklet_masks_figure(model, tracklets, titles, silhouette)


def saved_ranks_figure(dataset: VideoReIDDataset, queries: Sequence[int], *, features: Optional[str] = None,
                       checkpoint: Optional[str] = None, top_k: int = 10,
                       gallery_mode: str = packaged_default("evaluation.gallery_mode"),
                       distance: str = packaged_default("evaluation.distance"), num_workers: int = 0, log=print):
    """The top-k gallery tracklets of the queries at positions `queries`,
    ranked by the saved test features at `features` or by those the model of
    `checkpoint` computes (one of the two)."""
    if (features is None) == (checkpoint is None):
        raise ValueError("rank by saved test features or by a checkpoint: give one of the two")
    if features is not None:
        test_features, source = EvaluationFeatures.load(features), features
    else:
        model = model_from_checkpoint(checkpoint)
        log(f"=> test features of {len(dataset.query)} queries and {len(dataset.gallery)} gallery tracklets")
        test_features = compute_test_features(model, dataset, EvalTransform(model.spec.input_size),
                                              clip_length=model.spec.num_frames, num_workers=num_workers)
        source = f"checkpoint {checkpoint}"
    return dataset_ranks_figure(test_features, dataset, queries, top_k=top_k, gallery_mode=gallery_mode,
                                distance=distance, source=source)


def saved_cmc_figure(features: Sequence[str], labels: Optional[Sequence[str]] = None, max_rank: int = 20,
                     protocol: Protocol = Protocol()):
    """The CMC curves of saved test features, one per file, labelled with
    labels (by default the paths)."""
    if labels is not None and len(labels) != len(features):
        raise ValueError(f"--labels: {len(labels)} labels for {len(features)} features files")
    results = [cmc_result(EvaluationFeatures.load(path), max_rank, protocol) for path in features]
    return cmc_figure(results, labels or features)
