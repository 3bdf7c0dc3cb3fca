"""Ranked results: for chosen queries, the query's first frame and its top-k
gallery tracklets, true matches framed green and wrong ones red (in the
manner of torchreid's visrank)."""
from typing import List, NamedTuple, Optional, Sequence

import torch
from matplotlib.figure import Figure

from ..config import packaged_default
from ..data.tracklets import JUNK_PID, Tracklet, VideoReIDDataset
from ..evaluation.distances import as_tensor, pairwise_distances
from ..evaluation.pipeline import EvaluationFeatures
from .common import FRAME_PANEL, describe_tracklet, frame_image, new_figure, select_tracklets, show_frame

MATCH_COLOUR = "limegreen"
MISMATCH_COLOUR = "red"
BORDER_WIDTH = 4


class RankedEntry(NamedTuple):
    #: Index into the gallery.
    gallery_index: int
    distance: float
    #: Same identity as the query.
    is_match: bool


def rank_gallery(query_features, gallery_features, query_pids, query_camids, gallery_pids, gallery_camids, *,
                 top_k: int, distance: str = packaged_default("evaluation.distance")) -> List[List[RankedEntry]]:
    """The top_k gallery entries of each query by ascending distance (ties in
    gallery order), with what the evaluation protocol excludes left out: the
    query identity's entries from the query's camera, and junk (pid -1)."""
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    distances = pairwise_distances(query_features, gallery_features, distance)
    query_pids, query_camids = as_tensor(query_pids).reshape(-1, 1), as_tensor(query_camids).reshape(-1, 1)
    gallery_pids, gallery_camids = as_tensor(gallery_pids).reshape(1, -1), as_tensor(gallery_camids).reshape(1, -1)
    same_pid = gallery_pids == query_pids
    excluded = (same_pid & (gallery_camids == query_camids)) | (gallery_pids == JUNK_PID)
    rankings = []
    for row, order in enumerate(torch.argsort(distances, dim=1, stable=True)):
        kept = order[~excluded[row, order]][:top_k].tolist()
        rankings.append([RankedEntry(index, float(distances[row, index]), bool(same_pid[row, index]))
                         for index in kept])
    return rankings


def ranks_figure(queries: Sequence[Tracklet], gallery: Sequence[Tracklet], rankings: Sequence[Sequence[RankedEntry]],
                 titles: Optional[Sequence[str]] = None) -> Figure:
    """One row per query: its first frame, then the first frame of each
    ranked gallery tracklet with its rank, identity, camera and distance,
    framed green (same identity) or red."""
    if not queries:
        raise ValueError("no queries selected: there is nothing to show")
    if len(rankings) != len(queries):
        raise ValueError(f"{len(rankings)} rankings for {len(queries)} queries")
    titles = list(titles) if titles is not None else [f"query {row}" for row in range(len(queries))]
    if len(titles) != len(queries):
        raise ValueError(f"{len(titles)} titles for {len(queries)} queries")
    columns = 1 + max(len(ranking) for ranking in rankings)
    panel_width, panel_height = FRAME_PANEL
    figure = new_figure(columns * panel_width, len(queries) * panel_height)
    grid = figure.add_gridspec(len(queries), columns)
    for row, (query, ranking) in enumerate(zip(queries, rankings)):
        show_frame(figure.add_subplot(grid[row, 0]), frame_image(query.frames[0]),
                   f"{titles[row]}\n{describe_tracklet(query)}")
        for rank, entry in enumerate(ranking, start=1):
            axes = figure.add_subplot(grid[row, rank])
            show_frame(axes, frame_image(gallery[entry.gallery_index].frames[0]),
                       f"#{rank} {describe_tracklet(gallery[entry.gallery_index])}\nd = {entry.distance:.3g}")
            frame_border(axes, MATCH_COLOUR if entry.is_match else MISMATCH_COLOUR)
    return figure


def frame_border(axes, colour):
    for spine in axes.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(BORDER_WIDTH)


def dataset_ranks_figure(features: EvaluationFeatures, dataset: VideoReIDDataset, queries: Sequence[int], *,
                         top_k: int = 10, gallery_mode: str = packaged_default("evaluation.gallery_mode"),
                         distance: str = packaged_default("evaluation.distance"),
                         source: Optional[str] = None) -> Figure:
    """ranks_figure of the queries at positions `queries` of dataset's query
    split, ranked by features, the dataset's test features
    (compute_test_features or saved ones). gallery_mode "official" adds the
    query set to the gallery, as the evaluation does. source names where
    the features came from in errors."""
    check_features_fit(features, dataset, source)
    selected = select_tracklets(dataset, [f"query:{index}" for index in queries])
    gallery = list(dataset.gallery)
    gallery_features, gallery_pids, gallery_camids = features.gallery, features.gallery_pids, features.gallery_camids
    if gallery_mode == "official":
        gallery += dataset.query
        gallery_features = torch.cat([gallery_features, features.query])
        gallery_pids = torch.cat([gallery_pids, features.query_pids])
        gallery_camids = torch.cat([gallery_camids, features.query_camids])
    elif gallery_mode != "torchreid":
        raise ValueError(f"unknown gallery mode {gallery_mode!r}; expected 'torchreid' or 'official'")
    rows = torch.tensor(list(queries))
    rankings = rank_gallery(features.query[rows], gallery_features, features.query_pids[rows],
                            features.query_camids[rows], gallery_pids, gallery_camids, top_k=top_k, distance=distance)
    return ranks_figure([tracklet for _, tracklet in selected], gallery, rankings,
                        [tracklet_id for tracklet_id, _ in selected])


def check_features_fit(features: EvaluationFeatures, dataset: VideoReIDDataset, source: Optional[str] = None):
    """Test features are rows of the dataset's query and gallery lists:
    refuse those of another dataset (or split), whose pictures would lie."""
    for split in ("query", "gallery"):
        saved = getattr(features, f"{split}_pids").tolist()
        own = [tracklet.pid for tracklet in getattr(dataset, split)]
        if saved != own:
            origin = f" from {source}" if source else ""
            raise ValueError(f"test features{origin} do not fit {dataset.name}: they are of {len(saved)} {split} "
                             f"tracklets whose identities are not those of its {len(own)}")
