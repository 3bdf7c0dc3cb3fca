"""k-reciprocal re-ranking (Zhong et al., "Re-ranking Person
Re-identification with k-reciprocal Encoding", CVPR 2017), as the authors'
released code computes it, in torch.

Over the union of probes and gallery (N items, probes first) with distance
d, every row divided by its maximum (so that exp(-d) lies in [1/e, 1] and
lambda mixes comparable scales; the configured distance, squared Euclidean
or cosine, is d; the reference code uses squared Euclidean):

- N(p, k): the k + 1 items nearest p, p itself included (a stable order:
  equal distances keep item order);
- R(p, k) = {g in N(p, k) : p in N(g, k)}, the k-reciprocal neighbours;
- R*(p) = R(p, k1) united with R(q, h) of every q in R(p, k1) for which
  |R(q, h) & R(p, k1)| > 2/3 |R(q, h)|, h = round(k1 / 2) (half to even,
  as Python's and numpy's round);
- V[p, g] = exp(-d(p, g)) / sum over R*(p) of exp(-d(p, .)) for g in
  R*(p), else 0 (the paper's Gaussian kernel, each row normalised as the
  reference code does);
- local query expansion: V[p] <- the mean of V[q] over the k2 items
  nearest p (p included; k2 = 1 leaves V as it is);
- Jaccard distance J(p, g) = 1 - sum_k min(V[p,k], V[g,k]) / sum_k max(...);
- final(p, g) = (1 - lambda) J(p, g) + lambda d(p, g).

V is kept sparse, and J is computed from an inverted index (each probe
meets only the items sharing a non-zero column with it), so memory is the
N x N distance matrix plus O(N * |R*| * k2).
"""
import torch

from ..config import packaged_default
from .distances import block_distances, prepare_gallery

SORT_BLOCK = 1024
JACCARD_BLOCK = 128


def nearest(distances: torch.Tensor, count: int) -> torch.Tensor:
    """(N, count) indices of each row's `count` smallest distances, in a
    stable ascending order (ties keep column order)."""
    count = min(count, distances.shape[1])
    return torch.cat([torch.argsort(distances[start:start + SORT_BLOCK], dim=1, stable=True)[:, :count]
                      for start in range(0, len(distances), SORT_BLOCK)])


def _reciprocal(neighbours: torch.Tensor) -> torch.Tensor:
    """mask[p, m]: p is among the neighbours of neighbours[p, m]."""
    items = torch.arange(len(neighbours))[:, None, None]
    return (neighbours[neighbours] == items).any(-1)


def check_options(k1, k2, lambda_, names=("re-ranking k1", "re-ranking k2", "re-ranking lambda")):
    """Refuses k1 or k2 below 1 and lambda outside [0, 1]; names say what
    each is called in the message (a config key, say)."""
    for name, k in zip(names, (k1, k2)):
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {k!r}")
    if isinstance(lambda_, bool) or not isinstance(lambda_, (int, float)) or not 0 <= lambda_ <= 1:
        raise ValueError(f"{names[2]} must be a number in [0, 1], got {lambda_!r}")


def k_reciprocal_rerank(distances, num_probes: int, k1: int = packaged_default("evaluation.rerank_k1"),
                        k2: int = packaged_default("evaluation.rerank_k2"),
                        lambda_: float = packaged_default("evaluation.rerank_lambda")) -> torch.Tensor:
    """Re-ranked (num_probes, N) distances from the first num_probes items of
    the union to every item, given the (N, N) distances over the union
    (probes first). Computed in the dtype of `distances`."""
    check_options(k1, k2, lambda_)
    distances = torch.as_tensor(distances)
    if distances.dim() != 2 or distances.shape[0] != distances.shape[1]:
        raise ValueError(f"re-ranking needs the (N, N) distances over probes + gallery, got {tuple(distances.shape)}")
    if not 0 < num_probes <= len(distances):
        raise ValueError(f"num_probes must be in 1..{len(distances)}, got {num_probes}")
    count = len(distances)
    row_max = distances.max(dim=1, keepdim=True).values
    normalised = distances / torch.where(row_max > 0, row_max, torch.ones_like(row_max))
    half = int(round(k1 / 2))
    ranked = nearest(normalised, max(k1 + 1, k2))
    forward = ranked[:, :k1 + 1]                                   # N(p, k1)
    reciprocal = _reciprocal(forward)                              # R(p, k1) within N(p, k1)
    forward_half = ranked[:, :half + 1]                            # N(q, h)
    reciprocal_half = _reciprocal(forward_half)                    # R(q, h) within N(q, h)

    # For every p and candidate q = forward[p, m]: the members of R(q, h) and
    # how many of them are in R(p, k1).
    candidate_members = forward_half[forward]                      # (N, k1+1, h+1)
    candidate_valid = reciprocal_half[forward]                     # (N, k1+1, h+1)
    own = torch.where(reciprocal, forward, -1)                     # R(p, k1), -1 padded
    in_own = (candidate_members[..., None] == own[:, None, None, :]).any(-1)
    shared = (in_own & candidate_valid).sum(-1)
    size = candidate_valid.sum(-1)
    accepted = reciprocal & (3 * shared > 2 * size)                # |R(q,h) & R(p,k1)| > 2/3 |R(q,h)|

    items = torch.arange(count)
    rows = torch.cat([items[:, None].expand_as(forward)[reciprocal],
                      items[:, None, None].expand_as(candidate_members)[accepted[..., None] & candidate_valid]])
    columns = torch.cat([forward[reciprocal], candidate_members[accepted[..., None] & candidate_valid]])
    keys = torch.unique(rows * count + columns)                   # R*(p), sorted by row then column
    rows, columns = keys // count, keys % count
    weights = torch.exp(-normalised[rows, columns])
    weights = weights / torch.zeros(count, dtype=weights.dtype).index_add_(0, rows, weights)[rows]
    if k2 > 1:
        rows, columns, weights = _expand(rows, columns, weights, ranked[:, :k2], count)
    jaccard = _jaccard(rows, columns, weights, count, num_probes)
    return (1 - lambda_) * jaccard + lambda_ * normalised[:num_probes]


def _segments(starts: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """The positions starts[i] .. starts[i] + counts[i] - 1 of every i, in order."""
    offsets = torch.arange(int(counts.sum())) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    return torch.repeat_interleave(starts, counts) + offsets


def _expand(rows, columns, weights, expansion, count):
    """Local query expansion of the sparse encoding (rows sorted): row p
    becomes the mean of the rows expansion[p, :]."""
    row_counts = torch.bincount(rows, minlength=count)
    row_starts = torch.cumsum(row_counts, 0) - row_counts
    sources = expansion.reshape(-1)
    counts = row_counts[sources]
    positions = _segments(row_starts[sources], counts)
    targets = torch.repeat_interleave(torch.arange(count).repeat_interleave(expansion.shape[1]), counts)
    keys, inverse = torch.unique(targets * count + columns[positions], return_inverse=True)
    sums = torch.zeros(len(keys), dtype=weights.dtype).index_add_(0, inverse, weights[positions])
    return keys // count, keys % count, sums / expansion.shape[1]


def _jaccard(rows, columns, values, count: int, num_probes: int) -> torch.Tensor:
    """1 - sum min / sum max of the encoding rows (sparse: rows, columns,
    values, sorted by row) of the first num_probes items against every item,
    through the columns they share."""
    row_sums = torch.zeros(count, dtype=values.dtype).index_add_(0, rows, values)
    by_column = torch.argsort(columns, stable=True)
    column_rows, column_values = rows[by_column], values[by_column]
    column_counts = torch.bincount(columns, minlength=count)
    column_starts = torch.cumsum(column_counts, 0) - column_counts
    min_sums = torch.zeros(num_probes, count, dtype=values.dtype)
    row_starts = torch.searchsorted(rows, torch.arange(0, num_probes + JACCARD_BLOCK, JACCARD_BLOCK).clamp(
        max=num_probes))
    for start, end in zip(row_starts[:-1].tolist(), row_starts[1:].tolist()):
        probe, column, value = rows[start:end], columns[start:end], values[start:end]
        counts = column_counts[column]
        positions = _segments(column_starts[column], counts)
        shared = torch.minimum(torch.repeat_interleave(value, counts), column_values[positions])
        min_sums.view(-1).index_add_(0, torch.repeat_interleave(probe, counts) * count + column_rows[positions],
                                     shared)
    max_sums = row_sums[:num_probes, None] + row_sums[None, :] - min_sums
    return 1 - min_sums / max_sums


def union_distances(queries: torch.Tensor, gallery: torch.Tensor, distance: str) -> torch.Tensor:
    """(Q + G, Q + G) distances over queries then gallery, each item at
    distance 0 from itself."""
    union = torch.cat([queries.float(), gallery.float()])
    prepared = prepare_gallery(union, distance)
    norms = prepared.square().sum(1) if distance == "euclidean" else None
    distances = torch.cat([block_distances(union[start:start + SORT_BLOCK], prepared, distance, norms)
                           for start in range(0, len(union), SORT_BLOCK)])
    return distances.fill_diagonal_(0.0)


def reranked_distances(queries, gallery, distance: str, gallery_mode: str, k1: int, k2: int,
                       lambda_: float) -> torch.Tensor:
    """Re-ranked (Q, G') query-to-gallery distances, G' the gallery of the
    gallery mode: the gallery (torchreid) or the gallery then the queries
    (official). The union re-ranked over is the queries and the gallery,
    each item once, in both modes."""
    reranked = k_reciprocal_rerank(union_distances(queries, gallery, distance), len(queries), k1, k2, lambda_)
    num_queries = len(queries)
    if gallery_mode == "official":
        return torch.cat([reranked[:, num_queries:], reranked[:, :num_queries]], dim=1)
    return reranked[:, num_queries:]
