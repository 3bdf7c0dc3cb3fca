"""A model on a dataset's test split: features, then metrics, with the
protocol (dataset, gallery mode, distance, AP form, test sampling) attached."""
import dataclasses
from typing import Callable, Optional

import torch

from ..data.tracklets import VideoReIDDataset
from .features import describe_sampling, extract_features
from .metrics import DEFAULT_BLOCK_SIZE, evaluate
from .results import Protocol, ReIDResult


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
        contents = torch.load(path, map_location="cpu", weights_only=True)
        fields = {field.name for field in dataclasses.fields(cls)}
        missing = fields - set(contents)
        if missing:
            raise ValueError(f"{path}: expected saved test features with {sorted(fields)}, missing {sorted(missing)}")
        return cls(**{name: contents[name] for name in fields})

    def evaluate(self, protocol: Protocol = Protocol(), block_size: int = DEFAULT_BLOCK_SIZE) -> ReIDResult:
        protocol = dataclasses.replace(protocol, dataset=protocol.dataset or self.dataset or None,
                                       sampling=protocol.sampling or self.sampling or None)
        return evaluate(self.query, self.gallery, self.query_pids, self.gallery_pids, self.query_camids,
                        self.gallery_camids, protocol=protocol, block_size=block_size)


def compute_test_features(model: Callable, dataset: VideoReIDDataset, transform: Callable, *, clip_length: int,
                          sampling: str = "dense", num_frames: Optional[int] = None, clips_per_batch: int = 32,
                          num_workers: int = 0, device=None) -> EvaluationFeatures:
    """Features and labels of the query and gallery of `dataset`."""
    def extract(tracklets):
        return extract_features(model, tracklets, transform, clip_length=clip_length, sampling=sampling,
                                num_frames=num_frames, clips_per_batch=clips_per_batch, num_workers=num_workers,
                                device=device)

    def labels(tracklets, field):
        return torch.tensor([getattr(t, field) for t in tracklets], dtype=torch.int64)

    return EvaluationFeatures(
        query=extract(dataset.query), gallery=extract(dataset.gallery),
        query_pids=labels(dataset.query, "pid"), gallery_pids=labels(dataset.gallery, "pid"),
        query_camids=labels(dataset.query, "camid"), gallery_camids=labels(dataset.gallery, "camid"),
        dataset=dataset.name, sampling=describe_sampling(clip_length, sampling, num_frames))


def evaluate_model(model: Callable, dataset: VideoReIDDataset, transform: Callable, *, clip_length: int,
                   sampling: str = "dense", num_frames: Optional[int] = None, protocol: Protocol = Protocol(),
                   clips_per_batch: int = 32, num_workers: int = 0, device=None) -> ReIDResult:
    """mAP, CMC and mINP of `model` on the query and gallery of `dataset`."""
    features = compute_test_features(model, dataset, transform, clip_length=clip_length, sampling=sampling,
                                     num_frames=num_frames, clips_per_batch=clips_per_batch,
                                     num_workers=num_workers, device=device)
    return features.evaluate(protocol)
