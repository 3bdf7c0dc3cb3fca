"""Query-to-gallery distances, computed for one block of queries at a time so
that a caller never needs the whole query x gallery matrix in memory."""
import torch

from ..config import packaged_default


def as_tensor(values, dtype=None) -> torch.Tensor:
    """A CPU tensor view of a numpy array, list or tensor."""
    tensor = values.detach() if isinstance(values, torch.Tensor) else torch.as_tensor(values)
    tensor = tensor.cpu()
    return tensor if dtype is None else tensor.to(dtype)


def prepare_gallery(gallery: torch.Tensor, distance: str) -> torch.Tensor:
    """The gallery features as `block_distances` wants them (normalised once
    for cosine, rather than once per query block)."""
    gallery = gallery.float()
    if distance == "cosine":
        return torch.nn.functional.normalize(gallery, dim=1)
    return gallery


def block_distances(queries: torch.Tensor, gallery: torch.Tensor, distance: str,
                    gallery_sq_norms: torch.Tensor = None) -> torch.Tensor:
    """(Q, F) x prepared (G, F) -> (Q, G) distances.

    squared Euclidean: |q|^2 + |g|^2 - 2 q.g, clamped at 0 against rounding;
    cosine: 1 - q.g / (|q| |g|).
    """
    queries = queries.float()
    if distance == "cosine":
        return 1.0 - torch.nn.functional.normalize(queries, dim=1) @ gallery.T
    if distance != "euclidean":
        raise ValueError(f"unknown distance {distance!r}; expected 'euclidean' or 'cosine'")
    if gallery_sq_norms is None:
        gallery_sq_norms = gallery.square().sum(1)
    squared = queries.square().sum(1, keepdim=True) + gallery_sq_norms[None, :]
    return squared.addmm_(queries, gallery.T, alpha=-2.0).clamp_(min=0.0)


def pairwise_distances(query_features, gallery_features,
                       distance: str = packaged_default("evaluation.distance")) -> torch.Tensor:
    """The full (Q, G) distance matrix; for small problems and inspection
    (`evaluate` never builds it)."""
    gallery = prepare_gallery(as_tensor(gallery_features), distance)
    return block_distances(as_tensor(query_features), gallery, distance)
