"""A model on a dataset's test split: features, then metrics, with the
protocol (dataset, gallery mode, distance, AP form, test sampling) attached;
and a trained checkpoint evaluated as a config's evaluation section says."""
import dataclasses
from typing import Callable, Optional

import torch

from ..config import packaged_default
from ..data.tracklets import VideoReIDDataset
from ..datasets import build_dataset, split_ids
from ..engine.checkpoint import load_torch_file, model_from_checkpoint
from .features import configured_extraction, describe_sampling, extract_features
from .metrics import DEFAULT_BLOCK_SIZE, evaluate
from .results import Protocol, ReIDResult, average_results


@dataclasses.dataclass
class EvaluationFeatures:
    """Query and gallery features with their labels: what `evaluate` needs,
    and what `cosam-reid evaluate --features` reads back from disk."""
    query: torch.Tensor
    gallery: torch.Tensor
    query_pids: torch.Tensor
    gallery_pids: torch.Tensor
    query_camids: torch.Tensor
    gallery_camids: torch.Tensor
    dataset: str = ""
    sampling: str = ""

    def save(self, path):
        torch.save(dataclasses.asdict(self), path)

    @classmethod
    def load(cls, path) -> "EvaluationFeatures":
        contents = load_torch_file(path, "saved features")
        fields = {field.name for field in dataclasses.fields(cls)}
        missing = fields - set(contents) if isinstance(contents, dict) else fields
        if missing:
            raise ValueError(f"{path}: expected saved test features with {sorted(fields)}, missing {sorted(missing)}")
        return cls(**{name: contents[name] for name in fields})

    def evaluate(self, protocol: Protocol = Protocol(), block_size: int = DEFAULT_BLOCK_SIZE) -> ReIDResult:
        protocol = dataclasses.replace(protocol, dataset=protocol.dataset or self.dataset or None,
                                       sampling=protocol.sampling or self.sampling or None)
        return evaluate(self.query, self.gallery, self.query_pids, self.gallery_pids, self.query_camids,
                        self.gallery_camids, protocol=protocol, block_size=block_size)


def compute_test_features(model: Callable, dataset: VideoReIDDataset, transform: Callable, *, clip_length: int,
                          sampling: str = packaged_default("evaluation.sampling"),
                          frames_per_tracklet: Optional[int] = packaged_default("evaluation.frames"),
                          clips_per_batch: int = packaged_default("evaluation.clips_per_batch"), num_workers: int = 0,
                          device=None) -> EvaluationFeatures:
    """Features and labels of the query and gallery of `dataset`: clips of
    `clip_length` frames; "evenly" sampling takes `frames_per_tracklet` frames
    of each tracklet (features.py)."""
    def extract(tracklets):
        return extract_features(model, tracklets, transform, clip_length=clip_length, sampling=sampling,
                                frames_per_tracklet=frames_per_tracklet, clips_per_batch=clips_per_batch,
                                num_workers=num_workers, device=device)

    def labels(tracklets, field):
        return torch.tensor([getattr(t, field) for t in tracklets], dtype=torch.int64)

    return EvaluationFeatures(
        query=extract(dataset.query), gallery=extract(dataset.gallery),
        query_pids=labels(dataset.query, "pid"), gallery_pids=labels(dataset.gallery, "pid"),
        query_camids=labels(dataset.query, "camid"), gallery_camids=labels(dataset.gallery, "camid"),
        dataset=dataset.name,
        sampling=describe_sampling(clip_length, sampling, frames_per_tracklet=frames_per_tracklet))


def evaluate_model(model: Callable, dataset: VideoReIDDataset, transform: Callable, *, clip_length: int,
                   sampling: str = packaged_default("evaluation.sampling"),
                   frames_per_tracklet: Optional[int] = packaged_default("evaluation.frames"),
                   protocol: Protocol = Protocol(),
                   clips_per_batch: int = packaged_default("evaluation.clips_per_batch"), num_workers: int = 0,
                   device=None) -> ReIDResult:
    """mAP, CMC and mINP of `model` on the query and gallery of `dataset`."""
    features = compute_test_features(model, dataset, transform, clip_length=clip_length, sampling=sampling,
                                     frames_per_tracklet=frames_per_tracklet, clips_per_batch=clips_per_batch,
                                     num_workers=num_workers, device=device)
    return features.evaluate(protocol)


def configured_test_features(model, dataset: VideoReIDDataset, evaluation, *, num_workers: int = 0
                             ) -> EvaluationFeatures:
    """Test features of a VideoReIDModel on dataset, sampled as evaluation
    (an EvaluationConfig) says, in clips as long as the model takes: the
    model's num_frames is the clip length, evaluation.frames the frames
    "evenly" sampling takes from each tracklet."""
    return compute_test_features(model, dataset, **configured_extraction(model, evaluation), num_workers=num_workers)


def evaluate_checkpoint(checkpoint: str, evaluation, root, *, num_workers: int = 0,
                        save_features: Optional[str] = None, log: Callable = print) -> ReIDResult:
    """The result of a trained model under evaluation (an EvaluationConfig):
    its test set, with the split in its dataset_options or, with
    average_splits, the mean over every split; its gallery mode, distance,
    AP form, ranks and test sampling. root holds the datasets.

    `{split}` in checkpoint (and in save_features) is replaced by the split
    id: iLIDS-VID and PRID2011 train one model per split. Clips are as long
    as the checkpoint's model takes (its num_frames)."""
    protocol = Protocol.from_options(evaluation)
    available = split_ids(evaluation.dataset)
    if available == [None] and (evaluation.average_splits or "split_id" in evaluation.dataset_options):
        raise ValueError(f"evaluation.average_splits / dataset_options.split_id: {evaluation.dataset} has no "
                         f"train/test splits")
    if evaluation.average_splits:
        if "{split}" not in checkpoint:
            raise ValueError(f"evaluation.average_splits: each split has its own model; put {{split}} in the "
                             f"checkpoint path ({checkpoint}) where the split id goes")
        if save_features and "{split}" not in save_features:
            raise ValueError(f"evaluation.average_splits: each split has its own test features; put {{split}} in "
                             f"the features path ({save_features}) where the split id goes")
        splits = available
    else:
        splits = [evaluation.dataset_options.get("split_id", None if available == [None] else 0)]
    results = []
    for split_id in splits:
        model = model_from_checkpoint(_for_split(checkpoint, split_id, "the checkpoint path"))
        options = dict(evaluation.dataset_options)
        if split_id is not None:
            options["split_id"] = split_id
        dataset = build_dataset(evaluation.dataset, root, **options)
        features = configured_test_features(model, dataset, evaluation, num_workers=num_workers)
        if save_features:
            features.save(_for_split(save_features, split_id, "the features path"))
        results.append(features.evaluate(protocol))
        if len(splits) > 1:
            log(results[-1])
    if len(results) == 1:
        return results[0]
    return average_results(results, dataset=f"{evaluation.dataset} splits {splits[0]}..{splits[-1]}")


def _for_split(path: str, split_id, what: str) -> str:
    if "{split}" in path and split_id is None:
        raise ValueError(f"{what} {path} has a {{split}} placeholder, but the test set has no splits")
    return path.replace("{split}", str(split_id))
