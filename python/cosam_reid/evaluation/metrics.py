"""mAP, CMC and mINP of a query x gallery ranking, vectorised over blocks of
queries so that time is a few batched sorts and memory is bounded by the
block size, not by the number of queries.

Conventions (those of the MARS / Market-1501 protocol):
- the gallery is sorted by ascending distance; equal distances keep gallery
  order (a stable sort), so results never depend on the sort algorithm;
- gallery entries of the query's identity seen by the query's camera are
  excluded, and so are junk entries (pid -1): they neither count nor take a
  rank position;
- every other entry of another identity, distractors (MARS pid 0) included,
  is a negative;
- a query with no true match left is skipped and counted.
"""
import math
from typing import Sequence

import torch

from ..config import packaged_default
from ..data.tracklets import JUNK_PID
from .distances import as_tensor, block_distances, prepare_gallery
from .reranking import reranked_distances
from .results import DEFAULT_RANKS, Protocol, ReIDResult

DEFAULT_BLOCK_SIZE = 256


class _Totals:
    """Running sums over query blocks (float64 so that the sums of
    thousands of queries do not drift)."""

    def __init__(self, ranks):
        self.ranks = torch.as_tensor(ranks)
        self.ap = 0.0
        self.inp = 0.0
        self.cmc = torch.zeros(len(ranks), dtype=torch.float64)
        self.evaluated = 0
        self.skipped = 0

    def add_block(self, distances, query_pids, query_camids, gallery_pids, gallery_camids, ap_form):
        order = torch.argsort(distances, dim=1, stable=True)
        ranked_pids = gallery_pids[order]
        same_pid = ranked_pids == query_pids[:, None]
        excluded = (same_pid & (gallery_camids[order] == query_camids[:, None])) | (ranked_pids == JUNK_PID)
        del order, ranked_pids
        match = same_pid & ~excluded
        # 1-based position of each entry among the kept (not excluded) ones.
        position = torch.cumsum(~excluded, dim=1, dtype=torch.int32)
        del same_pid, excluded

        # Everything else is computed at the true matches only: a few per
        # query, so the (block, gallery) arrays end here.
        rows, columns = match.nonzero(as_tuple=True)  # row-major: each row's matches in rank order
        num_matches = match.sum(1)
        hit_position = position[rows, columns].double()
        first_of_row = torch.cumsum(num_matches, 0) - num_matches
        hit_number = (torch.arange(len(rows)) - first_of_row[rows] + 1).double()  # k for the k-th match

        precision = hit_number / hit_position
        if ap_form == "trapezoid":
            # Mean of the precision just before and at each true match; the
            # precision "before" the first position is 1.
            before = (hit_number - 1) / (hit_position - 1).clamp(min=1)
            precision = (precision + torch.where(hit_position == 1, 1.0, before)) / 2
        num_queries = len(match)
        ap_sum = torch.zeros(num_queries, dtype=torch.float64).index_add_(0, rows, precision)
        first = torch.full((num_queries,), math.inf, dtype=torch.float64).scatter_reduce_(
            0, rows, hit_position, "amin")
        last = torch.zeros(num_queries, dtype=torch.float64).scatter_reduce_(0, rows, hit_position, "amax")

        has_match = num_matches > 0
        count = num_matches[has_match].double()
        self.ap += float((ap_sum[has_match] / count).sum())
        self.inp += float((count / last[has_match]).sum())
        self.cmc += (first[has_match, None] <= self.ranks[None, :]).sum(0)
        self.evaluated += int(has_match.sum())
        self.skipped += num_queries - int(has_match.sum())

    def result(self, protocol):
        if self.evaluated == 0:
            raise ValueError("no query has a true match in the gallery: nothing to evaluate")
        n = self.evaluated
        return ReIDResult(
            mAP=self.ap / n,
            cmc={int(r): float(c) / n for r, c in zip(self.ranks, self.cmc)},
            mINP=self.inp / n,
            num_queries=n + self.skipped,
            num_skipped=self.skipped,
            protocol=protocol,
        )


def _labels(values, length, what):
    # int32: the gathered (block, gallery) label arrays are the largest temporaries.
    labels = as_tensor(values, torch.int32).reshape(-1)
    if labels.numel() != length:
        raise ValueError(f"{what}: {labels.numel()} labels for {length} entries")
    return labels


def metrics_from_distances(distances, query_pids, gallery_pids, query_camids, gallery_camids, *,
                           average_precision: str = packaged_default("evaluation.average_precision"),
                           ranks: Sequence[int] = DEFAULT_RANKS,
                           protocol: Protocol = None, block_size: int = DEFAULT_BLOCK_SIZE) -> ReIDResult:
    """Metrics of a precomputed (Q, G) distance matrix (any array-like)."""
    distances = as_tensor(distances)
    if distances.dim() != 2:
        raise ValueError(f"distances must be a (queries, gallery) matrix, got shape {tuple(distances.shape)}")
    num_queries, num_gallery = distances.shape
    if protocol is None:
        protocol = Protocol(average_precision=average_precision, ranks=tuple(ranks))
    if protocol.rerank:
        raise ValueError("re-ranking needs the query-query and gallery-gallery distances too: use evaluate() on "
                         "features, or re-rank first (evaluation.reranking.k_reciprocal_rerank) and pass a "
                         "protocol without rerank")
    query_pids = _labels(query_pids, num_queries, "query pids")
    query_camids = _labels(query_camids, num_queries, "query camids")
    gallery_pids = _labels(gallery_pids, num_gallery, "gallery pids")
    gallery_camids = _labels(gallery_camids, num_gallery, "gallery camids")
    totals = _Totals(protocol.ranks)
    for start in range(0, num_queries, block_size):
        block = slice(start, start + block_size)
        totals.add_block(distances[block], query_pids[block], query_camids[block],
                         gallery_pids, gallery_camids, protocol.average_precision)
    return totals.result(protocol)


def evaluate(query_features, gallery_features, query_pids, gallery_pids, query_camids, gallery_camids, *,
             protocol: Protocol = Protocol(), block_size: int = DEFAULT_BLOCK_SIZE) -> ReIDResult:
    """Rank the gallery for every query by feature distance and score the
    rankings. The distance matrix is built `block_size` queries at a time.

    In the "official" gallery mode the query set is appended to the gallery;
    each query then meets itself there, as a same-identity same-camera entry,
    which the exclusion rule removes.

    With protocol.rerank the distances are k-reciprocal re-ranked over the
    queries and the gallery (reranking.py), which needs the whole (Q + G)^2
    distance matrix in memory.
    """
    queries = as_tensor(query_features)
    gallery = as_tensor(gallery_features)
    if queries.dim() != 2 or gallery.dim() != 2 or queries.shape[1] != gallery.shape[1]:
        raise ValueError(f"features must be (queries, F) and (gallery, F), got {tuple(queries.shape)}"
                         f" and {tuple(gallery.shape)}")
    query_pids = _labels(query_pids, len(queries), "query pids")
    query_camids = _labels(query_camids, len(queries), "query camids")
    gallery_pids = _labels(gallery_pids, len(gallery), "gallery pids")
    gallery_camids = _labels(gallery_camids, len(gallery), "gallery camids")
    # The official gallery is the gallery followed by the query set; its two
    # parts are kept apart (no copy of the features), only the labels join.
    parts = [gallery, queries] if protocol.gallery_mode == "official" else [gallery]
    if protocol.gallery_mode == "official":
        gallery_pids = torch.cat([gallery_pids, query_pids])
        gallery_camids = torch.cat([gallery_camids, query_camids])
    if protocol.rerank:
        reranked = reranked_distances(queries, gallery, protocol.distance, protocol.gallery_mode,
                                      protocol.rerank_k1, protocol.rerank_k2, protocol.rerank_lambda)
        totals = _Totals(protocol.ranks)
        for start in range(0, len(queries), block_size):
            block = slice(start, start + block_size)
            totals.add_block(reranked[block], query_pids[block], query_camids[block],
                             gallery_pids, gallery_camids, protocol.average_precision)
        return totals.result(protocol)
    parts = [prepare_gallery(part, protocol.distance) for part in parts]
    norms = [torch.linalg.vector_norm(part, dim=1).square() if protocol.distance == "euclidean" else None
             for part in parts]
    totals = _Totals(protocol.ranks)
    for start in range(0, len(queries), block_size):
        block = slice(start, start + block_size)
        distances = torch.cat([block_distances(queries[block], part, protocol.distance, part_norms)
                               for part, part_norms in zip(parts, norms)], dim=1)
        totals.add_block(distances, query_pids[block], query_camids[block],
                         gallery_pids, gallery_camids, protocol.average_precision)
    return totals.result(protocol)
