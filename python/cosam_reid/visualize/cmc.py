"""CMC curves: the matching rate at every rank from 1 to max_rank, of one
or more results on one plot."""
import dataclasses
from typing import Optional, Sequence

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..evaluation.pipeline import EvaluationFeatures
from ..evaluation.results import DISTANCES, Protocol, ReIDResult
from .common import new_figure

#: (width, height) of the CMC plot in inches.
CMC_FIGURE_SIZE = (6.0, 4.0)


def cmc_result(features: EvaluationFeatures, max_rank: int = 20, protocol: Protocol = Protocol()) -> ReIDResult:
    """The result of saved test features under protocol, with the CMC at
    every rank from 1 to max_rank."""
    if max_rank < 1:
        raise ValueError(f"max_rank must be at least 1, got {max_rank}")
    return features.evaluate(dataclasses.replace(protocol, ranks=tuple(range(1, max_rank + 1))))


def cmc_figure(results: Sequence[ReIDResult], labels: Optional[Sequence[str]] = None) -> Figure:
    """The CMC curves of results (each over the ranks in its cmc), labelled
    with their mAP and rank-1. What the results' protocols share is the
    title; where they differ, each label names its own."""
    if not results:
        raise ValueError("no results to plot")
    labels = list(labels) if labels is not None else [f"result {number}" for number in range(1, len(results) + 1)]
    if len(labels) != len(results):
        raise ValueError(f"{len(labels)} labels for {len(results)} results")
    settings = [describe_protocol(result.protocol) for result in results]
    shared = len(set(settings)) == 1
    figure = new_figure(*CMC_FIGURE_SIZE)
    axes = figure.add_subplot()
    for result, label, setting in zip(results, labels, settings):
        ranks = sorted(result.cmc)
        label = f"{label}: mAP {100 * result.mAP:.1f}%"
        if 1 in result.cmc:
            label += f", R1 {100 * result.cmc[1]:.1f}%"
        if not shared:
            label += f" ({setting})"
        axes.plot(ranks, [100 * result.cmc[rank] for rank in ranks], marker="o", markersize=3, label=label)
    axes.set_xlim(1, max(max(result.cmc) for result in results))
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(0, 100)
    axes.set_xlabel("rank")
    axes.set_ylabel("matching rate (%)")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    axes.set_title(f"CMC: {settings[0]}" if shared else "CMC", fontsize=9)
    return figure


def describe_protocol(protocol: Protocol) -> str:
    dataset = f"{protocol.dataset}; " if protocol.dataset else ""
    return f"{dataset}gallery: {protocol.gallery_mode}; {DISTANCES[protocol.distance]}"
